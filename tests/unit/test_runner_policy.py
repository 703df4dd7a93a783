"""The retry / backoff / block / release decision (runner.policy.decide), exhaustively:
every outcome, every number of failures up to past the limit, every run state."""

from __future__ import annotations

import itertools

import pytest

from isollm.runner.policy import (
    INTERRUPTED,
    STOPPED_BEFORE_RETRY,
    Block,
    Decision,
    Outcome,
    Release,
    Retry,
    RetryPolicy,
    Stop,
    before_first,
    decide,
)

POLICY = RetryPolicy(max_attempts=3, backoff_seconds=2.0)
FINAL = (Outcome.SUCCEEDED, Outcome.DELIVERED, Outcome.LOST_CLAIM)
RETRIED = (Outcome.FAILED, Outcome.TIMED_OUT, Outcome.STALLED)


def expected(outcome: Outcome, failed: int, aborting: bool, stopping: bool) -> Decision:
    """The rule, written out case by case."""
    if outcome in FINAL:
        return Stop()
    if outcome is Outcome.ABORTED or aborting:
        return Release(INTERRUPTED)
    if failed >= POLICY.max_attempts:
        return Block(f"failed {failed} attempt(s); last: reason {failed}")
    if stopping:
        return Release(STOPPED_BEFORE_RETRY)
    return Retry(2.0 * 2 ** (failed - 1))


@pytest.mark.parametrize(
    ("outcome", "failed", "aborting", "stopping"),
    list(itertools.product(Outcome, range(1, 5), (False, True), (False, True))),
)
def test_every_case(outcome: Outcome, failed: int, aborting: bool, stopping: bool) -> None:
    failures = [f"reason {n}" for n in range(1, failed + 1)]
    got = decide(outcome, failures, POLICY, aborting=aborting, stopping=stopping)
    assert got == expected(outcome, failed, aborting, stopping)


def test_every_outcome_is_covered() -> None:
    assert set(Outcome) == {*FINAL, *RETRIED, Outcome.ABORTED}


def test_backoff_doubles_from_the_configured_pause() -> None:
    pauses = [decide(Outcome.FAILED, ["x"] * n, RetryPolicy(10, 0.5)) for n in range(1, 5)]
    assert pauses == [Retry(0.5), Retry(1.0), Retry(2.0), Retry(4.0)]


def test_a_zero_backoff_retries_at_once() -> None:
    assert decide(Outcome.FAILED, ["x"], RetryPolicy(3, 0.0)) == Retry(0.0)


def test_one_attempt_allowed_blocks_after_the_first_failure() -> None:
    assert decide(Outcome.TIMED_OUT, ["slow"], RetryPolicy(1, 2.0)) == Block(
        "failed 1 attempt(s); last: slow"
    )


@pytest.mark.parametrize(("failed", "blocked"), [(0, False), (2, False), (3, True), (5, True)])
def test_before_the_first_attempt(failed: int, blocked: bool) -> None:
    failures = [f"r{n}" for n in range(failed)]
    got = before_first(failures, POLICY)
    assert (got is not None) == blocked
    if got is not None:
        assert got == Block(f"failed {failed} attempt(s); last: r{failed - 1}")


def test_no_attempt_allowed_blocks_with_no_attempt_made() -> None:
    assert before_first([], RetryPolicy(0, 1.0)) == Block(
        "failed 0 attempt(s); last: no attempt was made"
    )
