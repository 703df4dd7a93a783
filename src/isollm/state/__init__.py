"""Runtime state of a project in ``.isollm/``: the session and one record per worker.

Use :class:`FileState` (``FileState.for_project(root)``) through the :class:`State`
interface; move workers between statuses with :func:`transition` (pure) or
``FileState.transition_worker`` (locked load-change-save).
"""

from isollm.liveness import is_alive
from isollm.state.errors import (
    CorruptStateError,
    InvalidTransitionError,
    InvalidWorkerNameError,
    NoSessionError,
    SessionExistsError,
    WorkerNotFoundError,
)
from isollm.state.machine import TRANSITIONS, allowed, can_transition, transition
from isollm.state.model import (
    SESSION_VERSION,
    WORKER_VERSION,
    Session,
    SessionStatus,
    TaskRef,
    WorkerState,
    WorkerStatus,
)
from isollm.state.store import FileState, LoadResult, State, check_worker_name

__all__ = [
    "SESSION_VERSION",
    "TRANSITIONS",
    "WORKER_VERSION",
    "CorruptStateError",
    "FileState",
    "InvalidTransitionError",
    "InvalidWorkerNameError",
    "LoadResult",
    "NoSessionError",
    "Session",
    "SessionExistsError",
    "SessionStatus",
    "State",
    "TaskRef",
    "WorkerNotFoundError",
    "WorkerState",
    "WorkerStatus",
    "allowed",
    "can_transition",
    "check_worker_name",
    "is_alive",
    "transition",
]
