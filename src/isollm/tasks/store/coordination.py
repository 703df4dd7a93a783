"""Coordination between agents working at once: file claims and the context board.

A **file claim** (a lock) reserves a path, or every path a glob matches, for one agent
while it holds the claim of a task: the lock lives exactly as long as that claim (the
task done, released, blocked or its lease run out, and the lock is gone). A set of
paths is granted whole or refused whole, naming who holds what, so no agent ever holds
part of what it asked for while it waits for the rest: no deadlock can form.

The **context board** holds one entry per agent: what it works on (files, a status and
a short message), gone with the agent's claim like its locks.

Path rules (:func:`normalise_path`): relative to the repository root, ``/``-separated,
``.`` parts and repeated slashes dropped; absolute paths, ``..`` parts, backslashes and
control characters (C0, C1, bidi, separators: :func:`isollm.terminal.is_safe_line`) are
refused. A path names one file (or one name: a folder locked by
its path does not cover what is inside it; lock ``src/api/*`` for that). A glob is a
pattern of :mod:`fnmatch` (``*``, ``?``, ``[...]``; ``*`` also matches ``/``).

When two locks conflict (:func:`overlaps`):

- two paths: when they are equal;
- a glob and a path: when the glob matches the path;
- two globs: when some path could match both. Decided conservatively, never granting
  two globs that overlap: they conflict unless their fixed beginnings (the text before
  the first wildcard) or their fixed ends (after the last one) rule out a common path,
  e.g. ``src/*.py`` and ``docs/*`` or ``src/*.py`` and ``src/*.md`` do not conflict,
  ``src/*`` and ``*.py`` do (``src/a.py``), and so do ``src/a*`` and ``src/*b`` even
  had no file name both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Any

from isollm import terminal
from isollm.tasks.store.errors import ValidationFailedError
from isollm.tasks.store.model import format_time, parse_time

MAX_PATH = 1024
MAX_PATHS = 256  # paths in one lock request
MAX_AGENT_LOCKS = 1024  # locks one agent may hold at once
MAX_MESSAGE = 500
MAX_BOARD_FILES = 64
WILDCARDS = frozenset("*?[")


class BoardStatus(StrEnum):
    WORKING = "working"
    BLOCKED = "blocked"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class FileLock:
    """``path`` (a glob when ``glob``) reserved by ``agent`` under its claim of ``task_id``."""

    path: str
    agent: str
    task_id: str
    acquired_at: datetime
    glob: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "glob": self.glob,
            "agent": self.agent,
            "task_id": self.task_id,
            "acquired_at": format_time(self.acquired_at),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FileLock:
        return cls(
            path=str(data["path"]),
            agent=str(data["agent"]),
            task_id=str(data["task_id"]),
            acquired_at=parse_time(data["acquired_at"]),
            glob=bool(data.get("glob", False)),
        )


@dataclass(frozen=True, slots=True)
class ContextEntry:
    """What one agent says it works on: its task, files, status and a short message."""

    agent: str
    task_id: str
    status: BoardStatus
    message: str
    files: tuple[str, ...]
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "task_id": self.task_id,
            "status": self.status.value,
            "message": self.message,
            "files": list(self.files),
            "updated_at": format_time(self.updated_at),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ContextEntry:
        return cls(
            agent=str(data["agent"]),
            task_id=str(data["task_id"]),
            status=BoardStatus(data["status"]),
            message=str(data.get("message", "")),
            files=tuple(str(f) for f in data.get("files", ())),
            updated_at=parse_time(data["updated_at"]),
        )


@dataclass(frozen=True, slots=True)
class LockRequest:
    """One normalised path of a lock request."""

    path: str
    glob: bool


def is_glob(path: str) -> bool:
    return any(c in WILDCARDS for c in path)


def normalise_path(text: str) -> str:
    """``text`` as a repository-relative path, or ValidationFailedError saying why not."""
    problem = _path_problem(text)
    if problem:
        raise ValidationFailedError.of(f"path {text[:80]!r}: {problem}")
    parts = [p for p in text.strip().split("/") if p not in ("", ".")]
    if not parts:
        raise ValidationFailedError.of(f"path {text[:80]!r}: names no file")
    return "/".join(parts)


def _path_problem(text: str) -> str | None:
    stripped = text.strip()
    if not stripped:
        return "is empty"
    if len(text) > MAX_PATH:
        return f"is longer than {MAX_PATH} characters"
    if stripped.startswith("/"):
        return "is absolute: give it relative to the repository root"
    if "\\" in text or not terminal.is_safe_line(text):
        return "holds a backslash or a control character"
    if ".." in text.split("/"):
        return "leaves the repository (..)"
    return None


def lock_requests(paths: list[str]) -> list[LockRequest]:
    """The normalised, de-duplicated paths of a lock request, every problem at once."""
    if not paths:
        raise ValidationFailedError.of("paths: give at least one path or glob")
    if len(paths) > MAX_PATHS:
        raise ValidationFailedError.of(f"paths: at most {MAX_PATHS} in one request")
    problems, seen = [], dict[str, LockRequest]()
    for text in paths:
        try:
            path = normalise_path(text)
        except ValidationFailedError as exc:
            problems += exc.details
            continue
        seen.setdefault(path, LockRequest(path, is_glob(path)))
    if problems:
        raise ValidationFailedError.of(*problems)
    return list(seen.values())


def _fixed_ends(pattern: str) -> tuple[str, str]:
    """The text before a glob's first wildcard and after its last one."""
    first = min(pattern.index(c) for c in WILDCARDS if c in pattern)
    last = max(pattern.rindex(c) for c in WILDCARDS if c in pattern)
    tail = pattern[last + 1 :]
    if pattern[last] == "[":  # a lone "[" with no "]": fnmatch reads it literally
        tail = pattern[last:]
    elif "]" in tail and "[" in pattern[: last + 1]:  # inside a [...] set: the end is after "]"
        tail = tail[tail.index("]") + 1 :]
    return pattern[:first], tail


def overlaps(a: LockRequest | FileLock, b: LockRequest | FileLock) -> bool:
    """Whether locks on ``a`` and ``b`` could cover a common path (see the module's rules)."""
    if not a.glob and not b.glob:
        return a.path == b.path
    if not a.glob:
        return fnmatchcase(a.path, b.path)
    if not b.glob:
        return fnmatchcase(b.path, a.path)
    (head_a, tail_a), (head_b, tail_b) = _fixed_ends(a.path), _fixed_ends(b.path)
    heads = head_a.startswith(head_b) or head_b.startswith(head_a)
    tails = tail_a.endswith(tail_b) or tail_b.endswith(tail_a)
    return heads and tails


def check_board(status: str, message: str, files: list[str]) -> tuple[BoardStatus, list[str]]:
    """A context entry's status and normalised files, or ValidationFailedError."""
    problems = []
    try:
        board_status = BoardStatus(status)
    except ValueError:
        problems.append(f"status must be one of {', '.join(s.value for s in BoardStatus)}")
        board_status = BoardStatus.WORKING
    if len(message) > MAX_MESSAGE:
        problems.append(f"message is longer than {MAX_MESSAGE} characters")
    if len(files) > MAX_BOARD_FILES:
        problems.append(f"files: at most {MAX_BOARD_FILES}")
    normalised = []
    for text in files[:MAX_BOARD_FILES]:
        try:
            normalised.append(normalise_path(text))
        except ValidationFailedError as exc:
            problems += exc.details
    if problems:
        raise ValidationFailedError.of(*problems)
    return board_status, list(dict.fromkeys(normalised))
