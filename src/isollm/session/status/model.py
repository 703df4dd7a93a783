"""What ``isollm status`` knows at one moment: one immutable :class:`Snapshot`.

The collector (:mod:`.collect`) fills it, every view renders it (:mod:`.render`), and
``isollm status --json`` prints :meth:`Snapshot.to_json`: a document with its own
``version`` that the dashboard pane and any other UI read. :meth:`Snapshot.from_json`
reads it back (the snapshot file ``--brief`` uses, see :mod:`.snapfile`).

Standard library only: ``--brief`` imports this module on every call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

STATUS_VERSION = 1
E = TypeVar("E", bound=StrEnum)


class AgentState(StrEnum):
    """What the agent in a worker is doing (the hook states plus what isollm observes)."""

    STARTING = "starting"  # its pane is still starting the agent (a session just begun)
    WORKING = "working"
    WAITING = "waiting"  # for the human: a permission prompt, a question
    IDLE = "idle"  # its turn ended
    EXITED = "exited"  # the agent process is gone
    # no pane (`--mux none`) and nobody ran `isollm attach WORKER`: no agent was opened
    NOT_ATTACHED = "not-attached"
    DEAD = "dead"  # the sandbox is gone or broken
    UNKNOWN = "unknown"


class Source(StrEnum):
    """Where a worker's agent state came from."""

    HOOK = "hook"  # reported by the agent's hooks through the task server
    PANE = "pane"  # read from its pane (debounced)
    PROCESS = "process"  # no process left in the sandbox
    SANDBOX = "sandbox"  # the sandbox itself is gone, broken or stopped
    NONE = "none"


class Health(StrEnum):
    """A service's state."""

    UP = "up"
    DOWN = "down"
    NONE = "none"  # not in use (no session, no multiplexer)
    UNAVAILABLE = "unavailable"  # cannot be told (a feature this isollm lacks, an error)


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _s(d: dict[str, Any], key: str) -> str:
    value = d.get(key)
    return value if isinstance(value, str) else ""


def _i(d: dict[str, Any], key: str) -> int | None:
    value = d.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _n(d: dict[str, Any], key: str) -> int:
    return _i(d, key) or 0


def _f(d: dict[str, Any], key: str) -> float | None:
    value = d.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _list(d: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = d.get(key)
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _strs(d: dict[str, Any], key: str) -> tuple[str, ...]:
    value = d.get(key)
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _dict(d: dict[str, Any], key: str) -> dict[str, Any]:
    value = d.get(key)
    return value if isinstance(value, dict) else {}


def _enum(kind: type[E], raw: Any, default: E) -> E:
    try:
        return kind(raw)
    except ValueError:
        return default


@dataclass(frozen=True)
class WorkerView:
    """One worker as the dashboard shows it."""

    name: str
    status: str  # the record's status: creating, idle, busy, stopping, stopped, error
    sandbox: str  # running, stopped, missing, broken ("" when not looked at)
    state: AgentState = AgentState.UNKNOWN
    since: datetime | None = None  # when the agent entered ``state``
    source: Source = Source.NONE
    detail: str = ""  # what the hook or the pane said, a tool name, a question
    task_id: str = ""
    task_title: str = ""
    branch: str = ""
    added: int | None = None  # lines added on the branch against the base (hub)
    deleted: int | None = None
    cpu_percent: float | None = None  # of one core, over the sampling interval
    rss_bytes: int | None = None
    problem: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "sandbox": self.sandbox,
            "state": self.state.value,
            "since": iso(self.since),
            "source": self.source.value,
            "detail": self.detail,
            "task_id": self.task_id,
            "task_title": self.task_title,
            "branch": self.branch,
            "added": self.added,
            "deleted": self.deleted,
            "cpu_percent": self.cpu_percent,
            "rss_bytes": self.rss_bytes,
            "problem": self.problem,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> WorkerView:
        return cls(
            name=_s(d, "name"),
            status=_s(d, "status"),
            sandbox=_s(d, "sandbox"),
            state=_enum(AgentState, d.get("state"), AgentState.UNKNOWN),
            since=parse_time(d.get("since")),
            source=_enum(Source, d.get("source"), Source.NONE),
            detail=_s(d, "detail"),
            task_id=_s(d, "task_id"),
            task_title=_s(d, "task_title"),
            branch=_s(d, "branch"),
            added=_i(d, "added"),
            deleted=_i(d, "deleted"),
            cpu_percent=_f(d, "cpu_percent"),
            rss_bytes=_i(d, "rss_bytes"),
            problem=_s(d, "problem"),
        )


@dataclass(frozen=True)
class TaskCounts:
    """The queue by status; ``available`` is False when the server could not be asked."""

    available: bool = False
    ready: int = 0  # open, every dependency done
    waiting: int = 0  # open, waiting for a dependency
    in_progress: int = 0
    blocked: int = 0
    done: int = 0
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "available": self.available,
            "ready": self.ready,
            "waiting": self.waiting,
            "in_progress": self.in_progress,
            "blocked": self.blocked,
            "done": self.done,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TaskCounts:
        return cls(
            available=d.get("available") is True,
            ready=_n(d, "ready"),
            waiting=_n(d, "waiting"),
            in_progress=_n(d, "in_progress"),
            blocked=_n(d, "blocked"),
            done=_n(d, "done"),
            error=_s(d, "error"),
        )


@dataclass(frozen=True)
class SyncView:
    """The host's base branch against the hub's, and the task branches on the hub."""

    available: bool = False
    base_branch: str = ""
    state: str = ""  # isollm.git.sync.BaseState: in-sync, ahead, behind, no-hub...
    ahead: int = 0  # host commits the hub lacks
    behind: int = 0
    host_branch: str = ""  # checked out on the host
    task_branches: int = 0
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "available": self.available,
            "base_branch": self.base_branch,
            "state": self.state,
            "ahead": self.ahead,
            "behind": self.behind,
            "host_branch": self.host_branch,
            "task_branches": self.task_branches,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SyncView:
        return cls(
            available=d.get("available") is True,
            base_branch=_s(d, "base_branch"),
            state=_s(d, "state"),
            ahead=_n(d, "ahead"),
            behind=_n(d, "behind"),
            host_branch=_s(d, "host_branch"),
            task_branches=_n(d, "task_branches"),
            error=_s(d, "error"),
        )


@dataclass(frozen=True)
class Service:
    """The task server or the multiplexer session."""

    name: str  # "task server", "tmux", "zellij"...
    health: Health
    detail: str = ""  # its address, its session name, or why it is down

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "health": self.health.value, "detail": self.detail}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Service:
        health = _enum(Health, d.get("health"), Health.UNAVAILABLE)
        return cls(_s(d, "name"), health, _s(d, "detail"))


@dataclass(frozen=True)
class SessionView:
    """The interactive session recorded in ``.isollm/session.json``, if any."""

    recorded: bool = False
    alive: bool = False  # it runs (:mod:`isollm.session.alive`), or a stale record
    status: str = ""  # initializing, running, shutting_down
    multiplexer: str = ""
    mux_session: str = ""
    started_at: datetime | None = None
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "recorded": self.recorded,
            "alive": self.alive,
            "status": self.status,
            "multiplexer": self.multiplexer,
            "mux_session": self.mux_session,
            "started_at": iso(self.started_at),
            "error": self.error,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SessionView:
        return cls(
            recorded=d.get("recorded") is True,
            alive=d.get("alive") is True,
            status=_s(d, "status"),
            multiplexer=_s(d, "multiplexer"),
            mux_session=_s(d, "mux_session"),
            started_at=parse_time(d.get("started_at")),
            error=_s(d, "error"),
        )


@dataclass(frozen=True)
class BoardEntry:
    """One agent's line on the context board, or one file claim (``path`` set)."""

    agent: str
    status: str = ""  # working, blocked, done (a lock: "")
    message: str = ""
    files: tuple[str, ...] = ()
    path: str = ""  # a lock's path
    task_id: str = ""
    since: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "status": self.status,
            "message": self.message,
            "files": list(self.files),
            "path": self.path,
            "task_id": self.task_id,
            "since": iso(self.since),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> BoardEntry:
        return cls(
            agent=_s(d, "agent"),
            status=_s(d, "status"),
            message=_s(d, "message"),
            files=_strs(d, "files"),
            path=_s(d, "path"),
            task_id=_s(d, "task_id"),
            since=parse_time(d.get("since")),
        )


@dataclass(frozen=True)
class Board:
    """The context board and the file claims (the task server keeps both)."""

    available: bool = False
    note: str = ""  # why it is unavailable
    context: tuple[BoardEntry, ...] = ()
    locks: tuple[BoardEntry, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "available": self.available,
            "note": self.note,
            "context": [e.to_json() for e in self.context],
            "locks": [e.to_json() for e in self.locks],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Board:
        return cls(
            available=d.get("available") is True,
            note=_s(d, "note"),
            context=tuple(BoardEntry.from_json(e) for e in _list(d, "context")),
            locks=tuple(BoardEntry.from_json(e) for e in _list(d, "locks")),
        )


@dataclass(frozen=True)
class ConflictView:
    """Two running tasks touching the same files (``later`` was claimed last)."""

    earlier: str  # task id
    earlier_agent: str
    later: str
    later_agent: str
    files: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "earlier": self.earlier,
            "earlier_agent": self.earlier_agent,
            "later": self.later,
            "later_agent": self.later_agent,
            "files": list(self.files),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ConflictView:
        agents = _s(d, "earlier_agent"), _s(d, "later_agent")
        return cls(_s(d, "earlier"), agents[0], _s(d, "later"), agents[1], _strs(d, "files"))


@dataclass(frozen=True)
class Snapshot:
    """Everything ``isollm status`` shows, taken at ``taken_at``."""

    project: str
    root: str
    taken_at: datetime
    session: SessionView = field(default_factory=SessionView)
    workers: tuple[WorkerView, ...] = ()
    tasks: TaskCounts = field(default_factory=TaskCounts)
    sync: SyncView = field(default_factory=SyncView)
    services: tuple[Service, ...] = ()
    board: Board = field(default_factory=Board)
    problems: tuple[str, ...] = ()  # unreadable worker records and the like
    conflicts: tuple[ConflictView, ...] = ()  # between running tasks
    conflicts_note: str = ""  # why conflicts could not be checked ("" when they were)

    def worker(self, name: str) -> WorkerView | None:
        return next((w for w in self.workers if w.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATUS_VERSION,
            "project": self.project,
            "root": self.root,
            "taken_at": iso(self.taken_at),
            "session": self.session.to_json(),
            "workers": [w.to_json() for w in self.workers],
            "tasks": self.tasks.to_json(),
            "sync": self.sync.to_json(),
            "services": [s.to_json() for s in self.services],
            "board": self.board.to_json(),
            "problems": list(self.problems),
            "conflicts": [c.to_json() for c in self.conflicts],
            "conflicts_note": self.conflicts_note,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Snapshot:
        """The snapshot in a document of this version (the caller checks the version)."""
        return cls(
            project=_s(d, "project"),
            root=_s(d, "root"),
            taken_at=parse_time(d.get("taken_at")) or datetime.fromtimestamp(0, UTC),
            session=SessionView.from_json(_dict(d, "session")),
            workers=tuple(WorkerView.from_json(w) for w in _list(d, "workers")),
            tasks=TaskCounts.from_json(_dict(d, "tasks")),
            sync=SyncView.from_json(_dict(d, "sync")),
            services=tuple(Service.from_json(s) for s in _list(d, "services")),
            board=Board.from_json(_dict(d, "board")),
            problems=_strs(d, "problems"),
            conflicts=tuple(ConflictView.from_json(c) for c in _list(d, "conflicts")),
            conflicts_note=_s(d, "conflicts_note"),
        )
