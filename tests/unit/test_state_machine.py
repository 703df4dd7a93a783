"""The worker status machine of seed 000 §4.1: every move, allowed or not."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from isollm.errors import StateError
from isollm.state import InvalidTransitionError, TaskRef, WorkerState, WorkerStatus, transition
from isollm.state.machine import TRANSITIONS, allowed, can_transition

S = WorkerStatus
T0 = datetime(2025, 1, 1, tzinfo=UTC)
T1 = datetime(2025, 1, 1, 0, 1, tzinfo=UTC)

# The diagram, written out independently of the table under test.
EXPECTED = {
    (S.CREATING, S.IDLE),
    (S.CREATING, S.STOPPING),
    (S.IDLE, S.BUSY),
    (S.BUSY, S.IDLE),
    (S.IDLE, S.STOPPING),
    (S.BUSY, S.STOPPING),
    (S.STOPPING, S.STOPPED),
    (S.STOPPED, S.CREATING),
    (S.ERROR, S.STOPPING),
    (S.ERROR, S.CREATING),
} | {(s, S.ERROR) for s in S}


def test_every_status_has_a_row() -> None:
    assert set(TRANSITIONS) == set(S)


@pytest.mark.parametrize(("current", "new"), list(itertools.product(S, S)))
def test_transition_table(current: WorkerStatus, new: WorkerStatus) -> None:
    worker = WorkerState("w1", status=current, started_at=T0, last_activity=T0)
    error = "it broke" if new is S.ERROR else None
    if (current, new) in EXPECTED:
        assert can_transition(current, new)
        assert transition(worker, new, error=error, now=T1).status is new
    else:
        assert not can_transition(current, new)
        with pytest.raises(InvalidTransitionError) as info:
            transition(worker, new, error=error, now=T1)
        assert isinstance(info.value, StateError)
        assert f"from {current} to {new}" in str(info.value)
        assert info.value.hint


def test_the_error_names_the_allowed_moves() -> None:
    worker = WorkerState("w1", status=S.STOPPED)
    with pytest.raises(InvalidTransitionError, match=r"allowed from stopped: creating, error"):
        transition(worker, S.BUSY)
    assert allowed(S.STOPPED) == [S.CREATING, S.ERROR]


def test_transition_stamps_activity_and_leaves_the_input_alone() -> None:
    worker = WorkerState("w1", started_at=T0, last_activity=T0)
    moved = transition(worker, S.IDLE, now=T1)
    assert moved.last_activity == T1
    assert moved.started_at == T0
    assert worker.status is S.CREATING  # frozen: a new record is returned


def test_error_records_message_and_time() -> None:
    worker = WorkerState("w1", status=S.BUSY, started_at=T0, last_activity=T0)
    failed = transition(worker, S.ERROR, error="sandbox vanished", now=T1)
    assert (failed.last_error, failed.error_time) == ("sandbox vanished", T1)
    again = transition(failed, S.ERROR, error="still gone", now=T1)
    assert again.last_error == "still gone"
    recovered = transition(failed, S.CREATING, now=T1)
    assert recovered.last_error == "sandbox vanished"  # the last error is history


@pytest.mark.parametrize(("new", "error"), [(S.ERROR, None), (S.IDLE, "why?")])
def test_error_message_exactly_when_moving_to_error(new: WorkerStatus, error: str | None) -> None:
    with pytest.raises(ValueError, match="exactly when"):
        transition(WorkerState("w1"), new, error=error)


def test_busy_records_the_task_and_idle_forgets_it() -> None:
    task = TaskRef("ar-1", "Add tests", T0)
    busy = transition(
        WorkerState("w1", status=S.IDLE), S.BUSY, task=task, branch="isollm/ar-1", now=T1
    )
    assert (busy.current_task, busy.current_branch) == (task, "isollm/ar-1")
    stopping = transition(busy, S.STOPPING)
    assert stopping.current_task == task  # kept so `down` can salvage the branch
    idle = transition(busy, S.IDLE)
    assert (idle.current_task, idle.current_branch) == (None, "")
