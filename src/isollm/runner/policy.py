"""How an attempt ended, and what a worker does next: a pure decision.

:func:`decide` takes the attempt's :class:`Outcome`, the failures so far and the retry
settings, and answers :class:`Retry` (after a pause), :class:`Block` (with the reason),
:class:`Release` (give the task back to the queue) or :class:`Stop` (nothing more to do
for this worker: the task is done, or no longer its own). No clocks, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    """How one attempt (or the agent's run within it) ended."""

    SUCCEEDED = "succeeded"  # the agent succeeded; for an attempt: delivered and done
    FAILED = "failed"  # the agent failed, or a step of the attempt did
    TIMED_OUT = "timed out"  # the agent ran past its time limit and was stopped
    LOST_CLAIM = "lost claim"  # the lease was lost: the task is not this worker's any more
    ABORTED = "aborted"  # the run was interrupted (second Ctrl-C, SIGTERM)
    STALLED = "stalled"  # no output for runner.stall_after seconds (stall_action: stop)
    DELIVERED = "delivered"  # on the hub, but the claim was lost before done


# The agent's runs that the worker stopped, and why, in the words a failure reason uses.
STOPPED = {
    Outcome.TIMED_OUT: "the agent ran past its timeout and was stopped",
    Outcome.LOST_CLAIM: "the claim was lost while the agent ran",
    Outcome.ABORTED: "the run was interrupted",
    Outcome.STALLED: "the agent was stopped",
}

INTERRUPTED = "the run was interrupted"
STOPPED_BEFORE_RETRY = "the run was stopped before the next attempt"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    backoff_seconds: float


@dataclass(frozen=True)
class Retry:
    after: float  # seconds to wait first


@dataclass(frozen=True)
class Block:
    reason: str


@dataclass(frozen=True)
class Release:
    reason: str


@dataclass(frozen=True)
class Stop:
    pass


Decision = Retry | Block | Release | Stop


def block_reason(failures: int, last: str | None) -> str:
    return f"failed {failures} attempt(s); last: {last or 'no attempt was made'}"


def before_first(failures: list[str], policy: RetryPolicy) -> Block | None:
    """Block a task whose earlier attempts (a resumed run's) already used up its tries."""
    if len(failures) < policy.max_attempts:
        return None
    return Block(block_reason(len(failures), failures[-1] if failures else None))


def decide(
    outcome: Outcome,
    failures: list[str],
    policy: RetryPolicy,
    *,
    aborting: bool = False,
    stopping: bool = False,
) -> Decision:
    """What follows an attempt that ended with ``outcome``. ``failures``: the reasons of
    the task's failed attempts so far, this one's included when it failed; only failed
    attempts count towards ``max_attempts``."""
    if outcome in (Outcome.SUCCEEDED, Outcome.DELIVERED, Outcome.LOST_CLAIM):
        return Stop()  # done, or someone else's now
    if outcome is Outcome.ABORTED or aborting:
        return Release(INTERRUPTED)
    if len(failures) >= policy.max_attempts:
        return Block(block_reason(len(failures), failures[-1] if failures else None))
    if stopping:
        return Release(STOPPED_BEFORE_RETRY)
    return Retry(policy.backoff_seconds * 2 ** max(len(failures) - 1, 0))
