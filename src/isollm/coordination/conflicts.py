"""Conflict warnings: running tasks that touch the same files.

What a running task touches (its :class:`Footprint`) comes from three places: the files
its branch on the hub changes against the base (``git diff --name-only base...branch``
in the hub, as its agent pushes), the file locks its agent holds, and the files its
agent named on the context board. Two running tasks conflict when their footprints
overlap (a lock's glob counts for every file it matches). The later of the two (claimed
last) is the one told: in its headless prompt (:func:`prompt_note`), and ``isollm run``
shows each conflict as a warning when a task is pushed (:func:`push_warnings`).

File names come from agents' branches and board entries, so they are untrusted: a name
with a control character, a backtick or over :data:`MAX_NAME` characters is left out, a
footprint keeps at most :data:`MAX_FILES` names, and callers print through
:func:`isollm.terminal.safe_line`. Gathering never fails a run: a branch git cannot read
is left out of the footprint (logged).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from isollm.errors import IsollmError
from isollm.git.hub import Hub
from isollm.tasks.store.coordination import ContextEntry, FileLock, LockRequest, overlaps
from isollm.tasks.store.model import Status, Task, format_time

log = logging.getLogger(__name__)

MAX_FILES = 2000  # names kept per footprint
MAX_NAME = 300
MAX_RUNNING = 64  # running tasks looked at (each costs a git diff)
SHOWN = 8  # file names shown per task in a message


class CoordinationSource(Protocol):
    """What the conflict check reads from the task server (a TaskClient)."""

    def all_tasks(self, status: Status | None = None) -> list[Task]: ...
    def locks(self, project: str | None = None) -> list[FileLock]: ...
    def context_board(self, project: str | None = None) -> list[ContextEntry]: ...


@dataclass(frozen=True)
class Footprint:
    """What one running task touches: files changed on its branch, files on its board
    entry, and its agent's locks."""

    task: Task
    changed: frozenset[str] = frozenset()
    said: frozenset[str] = frozenset()
    locks: tuple[FileLock, ...] = ()

    @property
    def files(self) -> frozenset[str]:
        return self.changed | self.said

    @property
    def empty(self) -> bool:
        return not (self.changed or self.said or self.locks)


@dataclass(frozen=True)
class Conflict:
    """Two running tasks touching the same files; ``later`` was claimed last."""

    earlier: Task
    later: Task
    files: tuple[str, ...]
    sources: tuple[str, ...] = field(default=())  # branch, board, lock

    def to_json(self) -> dict[str, Any]:
        return {
            "earlier": _task_json(self.earlier),
            "later": _task_json(self.later),
            "files": list(self.files),
            "sources": list(self.sources),
        }

    def describe(self) -> str:
        return (
            f"tasks {self.earlier.id} ({self.earlier.claimed_by}) and {self.later.id} "
            f"({self.later.claimed_by}) both touch {_names(self.files)}"
        )


def _task_json(task: Task) -> dict[str, Any]:
    claimed = task.claimed_at and format_time(task.claimed_at)
    return {"id": task.id, "title": task.title, "agent": task.claimed_by, "claimed_at": claimed}


def _names(files: Iterable[str], quote: str = "") -> str:
    ordered = sorted(files)
    shown = ", ".join(f"{quote}{name}{quote}" for name in ordered[:SHOWN])
    return shown + (f" and {len(ordered) - SHOWN} more" if len(ordered) > SHOWN else "")


def _plausible(name: str) -> bool:
    return 0 < len(name) <= MAX_NAME and "`" not in name and all(c.isprintable() for c in name)


# --- the pure part -----------------------------------------------------------------------


def _claim_order(task: Task) -> tuple[str, str]:
    return (task.claimed_at.isoformat() if task.claimed_at else "", task.id)


def overlap(a: Footprint, b: Footprint) -> tuple[frozenset[str], frozenset[str]]:
    """(the files both touch, where the overlap was seen: branch, board, lock)."""
    common = a.files & b.files
    sources = {
        source
        for name in common
        for source, side in (("branch", a.changed | b.changed), ("board", a.said | b.said))
        if name in side
    }
    for mine, theirs in ((a, b), (b, a)):
        for lock in mine.locks:
            matched = {f for f in theirs.files if overlaps(lock, LockRequest(f, False))}
            if matched:
                common |= matched
                sources.add("lock")
    return frozenset(common), frozenset(sources)


def find_conflicts(footprints: Iterable[Footprint]) -> list[Conflict]:
    """Every pair of footprints that overlap, earlier claim first."""
    ordered = sorted((f for f in footprints if not f.empty), key=lambda f: _claim_order(f.task))
    found = []
    for i, earlier in enumerate(ordered):
        for later in ordered[i + 1 :]:
            files, sources = overlap(earlier, later)
            if files:
                found.append(
                    Conflict(earlier.task, later.task, tuple(sorted(files)), tuple(sorted(sources)))
                )
    return found


def push_warnings(conflicts: Iterable[Conflict], task_id: str) -> list[str]:
    """The warnings ``isollm run`` shows when ``task_id`` was pushed."""
    lines = []
    for c in conflicts:
        if task_id not in (c.earlier.id, c.later.id):
            continue
        other = c.later if c.earlier.id == task_id else c.earlier
        lines.append(
            f"task {task_id} touches files that running task {other.id} ({other.claimed_by}) "
            f"also touches: {_names(c.files)}"
        )
    return lines


def prompt_note(footprints: Iterable[Footprint], task: Task) -> str | None:
    """What the agent of ``task`` is told about tasks claimed before it that touch files:
    those whose footprint overlaps its own first, then (its own still empty, as on a
    first attempt) every earlier running task's files. None when there is nothing.

    The file names are other agents' words: each is shown in backticks (a name holding
    one is never kept, see :func:`_plausible`), so none reads as isollm's own text."""
    prints = list(footprints)
    mine = next((f for f in prints if f.task.id == task.id), Footprint(task))
    earlier = [
        f
        for f in prints
        if f.task.id != task.id and not f.empty and _claim_order(f.task) <= _claim_order(task)
    ]
    lines = []
    for other in sorted(earlier, key=lambda f: _claim_order(f.task)):
        if mine.empty:  # nothing known of its own yet: every file the other touches
            names = other.files | {lock.path for lock in other.locks if _plausible(lock.path)}
        else:
            names, _ = overlap(mine, other)
        if names:
            who = f"task {other.task.id} ({other.task.claimed_by})"
            lines.append(f"- {who} also changes {_names(names, quote='`')}")
    if not lines:
        return None
    return (
        "Other tasks are in progress at the same time and change these files:\n"
        + "\n".join(lines)
        + "\nIf you need to change them too, coordinate via airyra context: read what the "
        "others do (`airyra context show`), say what you do (`airyra context set --file F "
        "--status working -m MSG`), and take files with `airyra lock PATH` before you edit them."
    )


# --- gathering (I/O) ---------------------------------------------------------------------


def footprints(source: CoordinationSource, hub: Hub, base: str, prefix: str) -> list[Footprint]:
    """The footprint of every running task (at most :data:`MAX_RUNNING`, oldest claims)."""
    running = sorted(source.all_tasks(Status.IN_PROGRESS), key=_claim_order)[:MAX_RUNNING]
    locks = source.locks()
    board = {e.agent: e for e in source.context_board()}
    branches = {b.name for b in hub.task_branches(prefix)}
    prints = []
    for task in running:
        entry = board.get(task.claimed_by or "")
        said = entry.files if entry is not None and entry.task_id == task.id else ()
        branch = f"{prefix}{task.id}"
        changed = _changed(hub, base, branch) if branch in branches else []
        prints.append(
            Footprint(
                task,
                changed=_kept(changed),
                said=_kept(said),
                locks=tuple(lock for lock in locks if lock.task_id == task.id),
            )
        )
    return prints


def _kept(names: Iterable[str]) -> frozenset[str]:
    kept = [n for n in names if _plausible(n)]
    return frozenset(kept[:MAX_FILES])


def _changed(hub: Hub, base: str, branch: str) -> list[str]:
    try:
        return hub.git().changed_files(base, f"refs/heads/{branch}")
    except IsollmError as exc:
        log.info("conflict check: cannot read %s in the hub: %s", branch, exc)
        return []


def conflicts(source: CoordinationSource, hub: Hub, base: str, prefix: str) -> list[Conflict]:
    """Every pair of running tasks of the project that touch the same files."""
    return find_conflicts(footprints(source, hub, base, prefix))


# --- for a run: never fails it ------------------------------------------------------------


def note_for(
    source: CoordinationSource, hub: Hub, base: str, prefix: str, task: Task
) -> tuple[str, ...]:
    """The prompt note for ``task`` (see :func:`prompt_note`) as the prompt's notes;
    nothing when the check cannot be made (it is logged)."""
    try:
        note = prompt_note(footprints(source, hub, base, prefix), task)
    except IsollmError as exc:
        log.info("conflict check for the prompt of %s skipped: %s", task.id, exc)
        return ()
    return (note,) if note else ()


def warnings_for(
    source: CoordinationSource, hub: Hub, base: str, prefix: str, task_id: str
) -> list[str]:
    """The run's warnings once ``task_id`` was pushed (see :func:`push_warnings`)."""
    try:
        return push_warnings(conflicts(source, hub, base, prefix), task_id)
    except IsollmError as exc:
        log.info("conflict check after the push of %s skipped: %s", task_id, exc)
        return []
