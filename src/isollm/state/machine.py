"""The worker status machine (seed 000 §4.1) and the one way to move a worker along it.

::

    creating ──► idle ◄──► busy
       │          │         │
       └────────► stopping ◄┘
                  │
                  ▼
               stopped ──► creating   (restart)

    any status ──► error ──► stopping | creating   (clean up or retry)
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from isollm.state.errors import InvalidTransitionError
from isollm.state.model import TaskRef, WorkerState, WorkerStatus, utc_now

S = WorkerStatus

TRANSITIONS: dict[WorkerStatus, frozenset[WorkerStatus]] = {
    S.CREATING: frozenset({S.IDLE, S.STOPPING, S.ERROR}),
    S.IDLE: frozenset({S.BUSY, S.STOPPING, S.ERROR}),
    S.BUSY: frozenset({S.IDLE, S.STOPPING, S.ERROR}),
    S.STOPPING: frozenset({S.STOPPED, S.ERROR}),
    S.STOPPED: frozenset({S.CREATING, S.ERROR}),
    S.ERROR: frozenset({S.ERROR, S.STOPPING, S.CREATING}),
}


def allowed(current: WorkerStatus) -> list[WorkerStatus]:
    """The statuses a worker in ``current`` may move to, in declaration order."""
    return [s for s in WorkerStatus if s in TRANSITIONS[current]]


def can_transition(current: WorkerStatus, new: WorkerStatus) -> bool:
    return new in TRANSITIONS[current]


def check_transition(name: str, current: WorkerStatus, new: WorkerStatus) -> None:
    """Raise InvalidTransitionError unless ``current`` -> ``new`` is allowed."""
    if not can_transition(current, new):
        raise InvalidTransitionError(name, current, new, [str(s) for s in allowed(current)])


def transition(
    worker: WorkerState,
    new_status: WorkerStatus,
    *,
    error: str | None = None,
    task: TaskRef | None = None,
    branch: str | None = None,
    now: datetime | None = None,
) -> WorkerState:
    """``worker`` moved to ``new_status``, with its times stamped.

    Moving to ``error`` needs the ``error`` message (recorded with its time); ``task``
    and ``branch`` record what a busy worker works on; moving to ``idle`` forgets them.
    Raises InvalidTransitionError for a move the machine does not allow.
    """
    check_transition(worker.name, worker.status, new_status)
    if (new_status is S.ERROR) != (error is not None):
        raise ValueError("an error message is given exactly when moving to 'error'")
    when = now or utc_now()
    changes: dict[str, Any] = {"status": new_status, "last_activity": when}
    if error is not None:
        changes.update(last_error=error, error_time=when)
    if new_status is S.IDLE:
        changes.update(current_task=None, current_branch="")
    if task is not None:
        changes["current_task"] = task
    if branch is not None:
        changes["current_branch"] = branch
    return dataclasses.replace(worker, **changes)
