"""The task model as airyra defines it, plus isollm's lease and fencing additions.

Values are frozen dataclasses, except Task and Claim (see Task); times are
timezone-aware UTC datetimes and travel as RFC 3339 strings
(``2025-01-31T12:00:00.123456Z``). ``to_json`` gives airyra's wire shape: optional
fields are left out when empty, as Go's ``omitempty`` does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import IntEnum, StrEnum
from typing import Any, Generic, TypeVar

T = TypeVar("T")

DEFAULT_PRIORITY = 2
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 100
MAX_PAGE = 2**31 - 1


class Status(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    BLOCKED = "blocked"
    DONE = "done"


class SpecStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    DONE = "done"
    CANCELLED = "cancelled"


class Priority(IntEnum):
    CRITICAL = 0
    HIGH = 1
    NORMAL = 2
    LOW = 3
    LOWEST = 4


def priority_name(value: int) -> str:
    """``critical`` … ``lowest`` for 0 … 4; the number itself otherwise."""
    try:
        return Priority(value).name.lower()
    except ValueError:
        return str(value)


def parse_priority(text: str | int) -> int:
    """A priority from ``0``-``4`` or its name (``critical``, ``high`` … ``lowest``).

    Raises ValueError naming the accepted values.
    """
    if isinstance(text, int) and not isinstance(text, bool) and 0 <= text <= 4:
        return text
    value = str(text).strip().lower()
    if value.isdigit() and len(value) == 1 and int(value) <= 4:
        return int(value)
    try:
        return int(Priority[value.upper()])
    except KeyError:
        raise ValueError(
            f"invalid priority {text!r}: use 0-4 or critical, high, normal, low, lowest"
        ) from None


# --- time ---------------------------------------------------------------------------

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """The same instant with UTC as its time zone."""
    return value if value.tzinfo is UTC else value.astimezone(UTC)


# The text of a timestamp up to its seconds changes once a second: format_time keeps
# the two seconds it formatted last (a claim formats its time and its lease's expiry,
# seconds or minutes apart) as (start, end, prefix), most recent first, and appends
# the microseconds from tables. Measured: 4,300 instructions a call where formatting
# every field took 12,800 (callgrind), two calls on every claim, four per task in JSON.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_SECOND = timedelta(seconds=1)
_LAST_SECOND = datetime.max.replace(microsecond=0, tzinfo=UTC)
_MILLIS = [f"{n:03d}" for n in range(1000)]
_MICROS = [f"{n:03d}Z" for n in range(1000)]
_Second = tuple[datetime, datetime, str]
_recent: list[tuple[_Second, _Second]] = [((_EPOCH, _EPOCH, ""), (_EPOCH, _EPOCH, ""))]


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with microseconds; fixed width, so text order is time order."""
    t = value if value.tzinfo is UTC else value.astimezone(UTC)
    last, before = _recent[0]  # one read: other threads replace the pair, never change it
    if last[0] <= t < last[1]:
        prefix = last[2]
    elif before[0] <= t < before[1]:
        prefix = before[2]
    else:
        start = t.replace(microsecond=0)
        prefix = (
            f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}."
        )
        end = start + _ONE_SECOND if start < _LAST_SECOND else start  # never cached
        _recent[0] = (start, end, prefix), last
    micros = t.microsecond
    return prefix + _MILLIS[micros // 1000] + _MICROS[micros % 1000]


def parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp (``Z`` or an offset) as an aware UTC datetime."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is UTC:  # what the store writes: no conversion to make
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _opt_time(value: Any) -> datetime | None:
    return parse_time(value) if isinstance(value, str) and value else None


# --- values -------------------------------------------------------------------------


@dataclass(slots=True)
class Task:
    """A task as the store holds it. A value, never changed once made, but not a frozen
    dataclass, nor is :class:`Claim`: the store makes one on every claim, and a frozen
    dataclass's ``__init__`` measured 19,500 instructions to a plain one's 4,300 (it
    sets each field through ``object.__setattr__``), 7% of a claim."""

    id: str
    title: str
    status: Status
    priority: int
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    parent_id: str | None = None
    spec_id: str | None = None
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    lease_expires_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id}
        _put(data, "parent_id", self.parent_id)
        _put(data, "spec_id", self.spec_id)
        data["title"] = self.title
        _put(data, "description", self.description)
        data["status"] = self.status.value
        data["priority"] = self.priority
        _put(data, "claimed_by", self.claimed_by)
        _put(data, "claimed_at", self.claimed_at and format_time(self.claimed_at))
        _put(data, "lease_expires_at", self.lease_expires_at and format_time(self.lease_expires_at))
        data["created_at"] = format_time(self.created_at)
        data["updated_at"] = format_time(self.updated_at)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Task:
        return cls(
            id=str(data["id"]),
            title=str(data["title"]),
            status=Status(data["status"]),
            priority=int(data.get("priority", DEFAULT_PRIORITY)),
            created_at=parse_time(data["created_at"]),
            updated_at=parse_time(data["updated_at"]),
            description=data.get("description"),
            parent_id=data.get("parent_id"),
            spec_id=data.get("spec_id"),
            claimed_by=data.get("claimed_by"),
            claimed_at=_opt_time(data.get("claimed_at")),
            lease_expires_at=_opt_time(data.get("lease_expires_at")),
        )


def _put(data: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        data[key] = value


@dataclass(slots=True)
class Claim:
    """A claimed task with its lease: renew it before ``expires_at`` with a heartbeat.

    ``fence`` grows with every claim of the task; done, release and heartbeat that
    carry an older fence are refused, so a worker whose lease ran out cannot finish
    a task someone else now holds.
    """

    task: Task
    fence: int
    expires_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task.to_json(),
            "fence": self.fence,
            "lease_expires_at": format_time(self.expires_at),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Claim:
        return cls(
            Task.from_json(data["task"]), int(data["fence"]), parse_time(data["lease_expires_at"])
        )


@dataclass(frozen=True, slots=True)
class Dependency:
    """``child_id`` cannot start before ``parent_id`` is done."""

    child_id: str
    parent_id: str

    def to_json(self) -> dict[str, Any]:
        return {"child_id": self.child_id, "parent_id": self.parent_id}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Dependency:
        return cls(str(data["child_id"]), str(data["parent_id"]))


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    task_id: str
    action: str
    changed_at: datetime
    changed_by: str
    field: str | None = None
    old_value: str | None = None
    new_value: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "task_id": self.task_id, "action": self.action}
        _put(data, "field", self.field)
        _put(data, "old_value", self.old_value)
        _put(data, "new_value", self.new_value)
        data["changed_at"] = format_time(self.changed_at)
        data["changed_by"] = self.changed_by
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuditEntry:
        return cls(
            id=int(data.get("id", 0)),
            task_id=str(data["task_id"]),
            action=str(data["action"]),
            changed_at=parse_time(data["changed_at"]),
            changed_by=str(data["changed_by"]),
            field=data.get("field"),
            old_value=data.get("old_value"),
            new_value=data.get("new_value"),
        )


@dataclass(frozen=True, slots=True)
class Spec:
    """An epic: its status is computed from its tasks unless it was cancelled."""

    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    cancelled: bool = False
    task_count: int = 0
    done_count: int = 0

    @property
    def status(self) -> SpecStatus:
        if self.cancelled:
            return SpecStatus.CANCELLED
        if self.task_count == 0:
            return SpecStatus.DRAFT
        if self.done_count == self.task_count:
            return SpecStatus.DONE
        return SpecStatus.ACTIVE

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "title": self.title}
        _put(data, "description", self.description)
        data.update(
            status=self.status.value,
            task_count=self.task_count,
            done_count=self.done_count,
            created_at=format_time(self.created_at),
            updated_at=format_time(self.updated_at),
        )
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Spec:
        return cls(
            id=str(data["id"]),
            title=str(data["title"]),
            created_at=parse_time(data["created_at"]),
            updated_at=parse_time(data["updated_at"]),
            description=data.get("description"),
            cancelled=data.get("status") == SpecStatus.CANCELLED,
            task_count=int(data.get("task_count", 0)),
            done_count=int(data.get("done_count", 0)),
        )


@dataclass(frozen=True, slots=True)
class PageRequest:
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    page: int
    per_page: int
    total: int

    @property
    def total_pages(self) -> int:
        return math.ceil(self.total / self.per_page) if self.per_page else 0

    def pagination(self) -> dict[str, int]:
        return {
            "page": self.page,
            "per_page": self.per_page,
            "total": self.total,
            "total_pages": self.total_pages,
        }


# --- requests -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewTask:
    title: str
    description: str | None = None
    priority: int = DEFAULT_PRIORITY
    parent_id: str | None = None
    spec_id: str | None = None


@dataclass(frozen=True, slots=True)
class TaskPatch:
    """Fields to change; None leaves a field as it is (airyra cannot clear a field)."""

    title: str | None = None
    description: str | None = None
    priority: int | None = None
    parent_id: str | None = None


@dataclass(frozen=True, slots=True)
class SpecPatch:
    title: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class ImportItem:
    """One task of an all-or-nothing import.

    ``key`` names it so that ``after`` and ``task.parent_id`` of other items can refer
    to it; both may also name tasks that already exist.
    """

    task: NewTask
    key: str | None = None
    after: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AuditQuery:
    action: str | None = None
    agent: str | None = None
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True, slots=True)
class ImportResult:
    tasks: list[Task]
    keys: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"data": [t.to_json() for t in self.tasks], "keys": dict(self.keys)}
