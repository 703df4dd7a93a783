"""Folding ledger events into a RunView: phases, attempts, failures, receipts, keys."""

from __future__ import annotations

import pytest

from isollm.runner.view import Failure, Phase
from tests.runner_helpers import RUN, fold


def test_a_task_walks_through_its_phases_keeping_the_facts_of_each() -> None:
    view = fold(
        ("run.started", {"workers": 1}),
        ("task.claimed", {"task": "ar-1", "attempt": 1, "worker": "w1"}),
        ("sandbox.ready", {"task": "ar-1", "attempt": 1}),
        ("agent.started", {"task": "ar-1", "attempt": 1}),
        ("agent.finished", {"task": "ar-1", "attempt": 1, "exit": 0}),
        ("task.committed", {"task": "ar-1", "attempt": 1, "sha": "c1"}),
        ("task.pushed", {"task": "ar-1", "attempt": 1, "sha": "c1", "branch": "isollm/ar-1"}),
    )
    task = view.tasks["ar-1"]
    assert (task.phase, task.attempt, task.worker) == (Phase.PUSHED, 1, "w1")
    assert (task.exit_code, task.commit, task.pushed, task.branch) == (0, "c1", "c1", "isollm/ar-1")
    assert task.in_flight
    assert view.in_flight() == [task]
    assert view.run_id == RUN
    assert view.events == 7


def test_a_new_attempt_forgets_the_last_attempts_results_but_not_its_failure() -> None:
    view = fold(
        ("task.claimed", {"task": "ar-1", "attempt": 1}),
        ("agent.finished", {"task": "ar-1", "exit": 1}),
        ("task.failed", {"task": "ar-1", "attempt": 1, "reason": "exit 1"}),
        ("task.claimed", {"task": "ar-1", "attempt": 2, "worker": "w2"}),
    )
    task = view.tasks["ar-1"]
    assert (task.phase, task.attempt, task.exit_code, task.reason) == (
        Phase.CLAIMED,
        2,
        None,
        None,
    )
    assert task.failures == (Failure(1, "exit 1"),)


def test_claims_without_an_attempt_number_count_up() -> None:
    view = fold(("task.claimed", {"task": "ar-1"}), ("task.claimed", {"task": "ar-1"}))
    assert view.tasks["ar-1"].attempt == 2


def test_done_blocked_and_released_are_not_in_flight() -> None:
    view = fold(
        ("task.claimed", {"task": "a"}),
        ("task.done", {"task": "a"}),
        ("task.claimed", {"task": "b"}),
        ("task.blocked", {"task": "b", "reason": "needs a human"}),
        ("task.claimed", {"task": "c"}),
        ("task.released", {"task": "c", "reason": "runner stopped"}),
        ("task.claimed", {"task": "d"}),
    )
    assert [t.task_id for t in view.in_flight()] == ["d"]
    assert view.tasks["b"].reason == "needs a human"
    assert [t.task_id for t in view.with_phase(Phase.DONE, Phase.RELEASED)] == ["a", "c"]


def test_receipts_are_listed_per_task_without_changing_the_phase() -> None:
    view = fold(
        ("task.claimed", {"task": "a"}),
        ("task.done", {"task": "a"}),
        ("receipt.written", {"task": "a", "attempt": 1, "path": "receipts/a-1.json"}),
    )
    assert view.tasks["a"].receipts == ("receipts/a-1.json",)
    assert view.tasks["a"].phase is Phase.DONE


def test_keys_are_started_by_any_event_and_completed_by_an_end_event() -> None:
    view = fold(
        ("task.claimed", {"task": "a", "ik": "ik:1"}),
        ("task.claimed", {"task": "b", "ik": "ik:2"}),
        ("task.done", {"task": "a", "ik": "ik:1", "end": True}),
    )
    assert view.completed_keys == {"ik:1"}
    assert view.started_keys == {"ik:1", "ik:2"}


def test_the_run_status_is_the_last_one_recorded() -> None:
    assert fold(("run.started", {})).status is None
    view = fold(
        ("run.finished", {"status": "failed"}),
        ("run.resumed", {}),
        ("run.finished", {"status": "completed"}),
    )
    assert view.status == "completed"


def test_unknown_events_are_counted_not_fatal() -> None:
    view = fold(("run.paused", {}), ("task.reviewed", {"task": "a"}))
    assert view.unknown_events == 2
    assert view.tasks == {}


def test_an_event_out_of_sequence_is_refused_without_changing_the_view() -> None:
    view = fold(("task.claimed", {"task": "a"}))
    with pytest.raises(ValueError, match="sequence number 5 where 2 was expected"):
        view.apply({"seq": 5, "ts": "t", "run": RUN, "type": "task.done", "task": "a"})
    assert view.tasks["a"].phase is Phase.CLAIMED
    assert view.last_seq == 1
