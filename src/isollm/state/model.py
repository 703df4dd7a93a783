"""The records kept in ``.isollm/``: the session, one state per worker, task references.

Each record is a frozen dataclass with ``to_dict`` / ``from_dict`` for its JSON file.
Every file carries a schema ``version``; ``from_dict`` runs the registered migrations
for older files and refuses files from a newer isollm. A malformed document raises
ValueError or TypeError naming the field; the store turns that into a CorruptStateError.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from isollm import liveness, records

SESSION_VERSION = 1
WORKER_VERSION = 1

Migration = records.Migration

# Schema version N -> a function turning a version-N document into version N+1.
# When a record changes shape, bump its *_VERSION and register the step here.
SESSION_MIGRATIONS: dict[int, Migration] = {}
WORKER_MIGRATIONS: dict[int, Migration] = {}

E = TypeVar("E", bound=StrEnum)


class SessionStatus(StrEnum):
    INITIALIZING = "initializing"  # `isollm up` in progress
    RUNNING = "running"  # fully started
    SHUTTING_DOWN = "shutting_down"  # `isollm down` in progress


class WorkerStatus(StrEnum):
    CREATING = "creating"  # sandbox being provisioned
    IDLE = "idle"  # running, no task claimed
    BUSY = "busy"  # running, a task in progress
    STOPPING = "stopping"  # graceful shutdown in progress
    STOPPED = "stopped"  # sandbox stopped
    ERROR = "error"  # unrecoverable failure; see last_error


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class TaskRef:
    """A cached view of the task a worker holds; the task server is the source of truth."""

    id: str
    title: str
    claimed_at: datetime = field(default_factory=utc_now)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "claimed_at": _iso(self.claimed_at)}

    @classmethod
    def from_dict(cls, data: Any) -> TaskRef:
        d = _mapping(data, "current_task")
        return cls(_str(d, "id"), _str(d, "title"), _time(d, "claimed_at"))


@dataclass(frozen=True)
class Session:
    """The running orchestrator of a project (`isollm run`)."""

    pid: int
    project_root: str
    started_at: datetime = field(default_factory=utc_now)
    status: SessionStatus = SessionStatus.INITIALIZING
    pid_start_time: int | None = None  # /proc/<pid>/stat starttime: tells a recycled pid
    hub_path: str = ""
    multiplexer: str = ""  # "zellij", "tmux", or "" when headless
    multiplexer_session: str = ""
    agent: str = ""  # the agent CLI the session's panes run ("" when not recorded)

    @classmethod
    def for_this_process(cls, project_root: str, **fields: Any) -> Session:
        """A new session owned by the calling process (its pid and start time recorded)."""
        pid = os.getpid()
        return cls(
            pid=pid, project_root=project_root, pid_start_time=liveness.start_time(pid), **fields
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": SESSION_VERSION,
            "status": self.status.value,
            "pid": self.pid,
            "pid_start_time": self.pid_start_time,
            "started_at": _iso(self.started_at),
            "project_root": self.project_root,
            "hub_path": self.hub_path,
            "multiplexer": self.multiplexer,
            "multiplexer_session": self.multiplexer_session,
            "agent": self.agent,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Session:
        d = migrate(_mapping(data, "session"), SESSION_VERSION, SESSION_MIGRATIONS)
        return cls(
            pid=_int(d, "pid"),
            project_root=_str(d, "project_root"),
            started_at=_time(d, "started_at"),
            status=_enum(d, "status", SessionStatus),
            pid_start_time=_opt_int(d, "pid_start_time"),
            hub_path=_str(d, "hub_path", ""),
            multiplexer=_str(d, "multiplexer", ""),
            multiplexer_session=_str(d, "multiplexer_session", ""),
            agent=_str(d, "agent", ""),
        )


@dataclass(frozen=True)
class WorkerState:
    """One worker: its sandbox, what it is doing, and what last went wrong."""

    name: str
    status: WorkerStatus = WorkerStatus.CREATING
    sandbox_id: str = ""
    ip: str = ""
    current_task: TaskRef | None = None
    current_branch: str = ""
    started_at: datetime = field(default_factory=utc_now)
    last_activity: datetime = field(default_factory=utc_now)
    last_error: str = ""
    error_time: datetime | None = None
    last_reconciled: datetime | None = None  # when checked against the real sandbox

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": WORKER_VERSION,
            "name": self.name,
            "status": self.status.value,
            "sandbox_id": self.sandbox_id,
            "ip": self.ip,
            "current_task": self.current_task.to_dict() if self.current_task else None,
            "current_branch": self.current_branch,
            "started_at": _iso(self.started_at),
            "last_activity": _iso(self.last_activity),
            "last_error": self.last_error,
            "error_time": _iso(self.error_time),
            "last_reconciled": _iso(self.last_reconciled),
        }

    @classmethod
    def from_dict(cls, data: Any) -> WorkerState:
        d = migrate(_mapping(data, "worker"), WORKER_VERSION, WORKER_MIGRATIONS)
        task = d.get("current_task")
        return cls(
            name=_str(d, "name"),
            status=_enum(d, "status", WorkerStatus),
            sandbox_id=_str(d, "sandbox_id", ""),
            ip=_str(d, "ip", ""),
            current_task=TaskRef.from_dict(task) if task is not None else None,
            current_branch=_str(d, "current_branch", ""),
            started_at=_time(d, "started_at"),
            last_activity=_time(d, "last_activity"),
            last_error=_str(d, "last_error", ""),
            error_time=_opt_time(d, "error_time"),
            last_reconciled=_opt_time(d, "last_reconciled"),
        )


def migrate(data: dict[str, Any], current: int, steps: Mapping[int, Migration]) -> dict[str, Any]:
    """Bring ``data`` up to schema ``current`` one registered step at a time
    (:func:`isollm.records.upgrade`; its RecordFormatError is a ValueError)."""
    return records.upgrade(data, records.Schema("record", current, steps))


def session_schema() -> records.Schema:
    """How session files are versioned (built at each use: tests bump the version)."""
    return records.Schema("session", SESSION_VERSION, SESSION_MIGRATIONS)


def worker_schema() -> records.Schema:
    return records.Schema("worker", WORKER_VERSION, WORKER_MIGRATIONS)


# -- typed field readers: each raises ValueError naming the field ------------------------

_REQUIRED: Any = object()


def _mapping(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise TypeError(f"{what} must be a JSON object, got {type(data).__name__}")
    return data


def _field(d: Mapping[str, Any], key: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value = d.get(key)
    if value is None:
        if default is _REQUIRED:
            raise ValueError(f"{key!r} is missing")
        return default
    if (isinstance(value, bool) and kind is int) or not isinstance(value, kind):
        raise TypeError(f"{key!r} has the wrong type ({type(value).__name__})")
    return value


def _str(d: Mapping[str, Any], key: str, default: str = _REQUIRED) -> str:
    return str(_field(d, key, str, default))


def _int(d: Mapping[str, Any], key: str) -> int:
    return int(_field(d, key, int, _REQUIRED))


def _opt_int(d: Mapping[str, Any], key: str) -> int | None:
    value = _field(d, key, int, None)
    return None if value is None else int(value)


def _enum(d: Mapping[str, Any], key: str, kind: type[E]) -> E:
    raw = _str(d, key)
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{key!r} is not one of {', '.join(kind)} (got {raw!r})") from None


def _time(d: Mapping[str, Any], key: str) -> datetime:
    raw = _str(d, key)
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{key!r} is not an ISO 8601 time (got {raw!r})") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _opt_time(d: Mapping[str, Any], key: str) -> datetime | None:
    return None if d.get(key) in (None, "") else _time(d, key)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None
