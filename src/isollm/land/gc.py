"""``isollm gc``: remove what a project no longer needs, saying what and how much.

Task branches already landed on the base branch (on the hub, and the host's own local
copies that are not checked out and are merged into your base branch), salvage and
backup refs past the age, run directories past the age, sandboxes and containers no
worker or run owns (never one holding unsaved work), the record of a task server whose
process is gone. A branch that has not landed stays unless ``include_unmerged`` is
given and the caller confirms (the CLI asks for a typed confirmation).

``plan`` only looks (the dry run lists exactly that); ``collect`` removes what ``plan``
found. :func:`collect_safe` is the part ``isollm down`` and ``isollm merge`` run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from isollm.errors import IsollmError
from isollm.git.hub import Hub
from isollm.land import gcfind
from isollm.land.gcfind import Found
from isollm.sandbox.workers import Project

DEFAULT_AGE = timedelta(days=14)


@dataclass(frozen=True)
class GcItem:
    """One thing gc removes: its kind, what it is, its size in bytes (0 when unknown)."""

    kind: str
    name: str
    size: int = 0
    detail: str = ""


@dataclass(frozen=True)
class GcReport:
    """What gc removed (or, dry run, would remove), and what it could not."""

    removed: list[GcItem] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    dry_run: bool = False
    kept_unmerged: int = 0  # unmerged branches found but kept (no --include-unmerged/no)

    @property
    def freed(self) -> int:
        return sum(item.size for item in self.removed)

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "removed": [vars(i) for i in self.removed],
            "freed": self.freed,
            "problems": self.problems,
            "kept_unmerged": self.kept_unmerged,
        }


@dataclass(frozen=True)
class GcOptions:
    older_than: timedelta = DEFAULT_AGE
    include_unmerged: bool = False
    dry_run: bool = False


def plan(project: Project, options: GcOptions) -> tuple[list[Found], list[str]]:
    """Everything gc would remove, and what could not be looked at."""
    cutoff = gcfind.cutoff_of(options.older_than)
    hub = Hub.for_project(project.name)
    unmerged = options.include_unmerged
    finders: list[Callable[[], Sequence[Found]]] = [
        lambda: list(gcfind.host_branches(project, unmerged)),
        lambda: list(gcfind.old_runs(project, cutoff)),
        lambda: list(gcfind.stale_server(project)),
    ]
    if hub.exists():
        finders[:0] = [
            lambda: list(gcfind.task_branches(project, hub, unmerged)),
            lambda: list(gcfind.old_refs(hub, cutoff)),
        ]
    finders.append(lambda: list(gcfind.orphan_sandboxes(project, hub)))
    found: list[Found] = []
    problems: list[str] = []
    for finder in finders:
        try:
            found += finder()
        except (IsollmError, OSError) as exc:
            problems.append(f"could not look for everything to remove: {exc}")
    return found, problems


def collect(
    project: Project, options: GcOptions, confirm: Callable[[list[GcItem]], bool] | None = None
) -> GcReport:
    """Remove what :func:`plan` finds (nothing with ``dry_run``). Unmerged branches go
    only when asked for and ``confirm`` agrees to the list of them."""
    found, problems = plan(project, options)
    unmerged = [_item(f) for f in found if f.unmerged]
    if unmerged and not options.dry_run and (confirm is None or not confirm(unmerged)):
        found = [f for f in found if not f.unmerged]
        kept = len(unmerged)
    else:
        kept = 0
    if options.dry_run:
        return GcReport([_item(f) for f in found], problems, True, kept)
    removed: list[GcItem] = []
    for f in found:
        try:
            f.remove()
        except (IsollmError, OSError) as exc:
            problems.append(f"could not remove {f.kind} {f.name}: {exc}")
        else:
            removed.append(_item(f))
    return GcReport(removed, problems, False, kept)


def _item(f: Found) -> GcItem:
    return GcItem(f.kind, f.name, f.size, f.detail)


def collect_safe(project: Project) -> GcReport:
    """The safe part of gc (what ``isollm down`` and the end of ``isollm merge`` run):
    landed branches and leftovers nothing owns, never an unmerged branch; a thing it
    cannot remove is reported in ``problems``, never raised."""
    return collect(project, GcOptions())
