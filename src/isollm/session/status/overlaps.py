"""Conflict warnings for ``isollm status``: running tasks that touch the same files.

The check is :func:`isollm.coordination.conflicts.conflicts`, fed with what the collector
already read from the task server (:class:`~.serverfacts.Coordination`) and the hub's
base commit. It costs a ``git diff --name-only`` per running task's branch, so a
:class:`ConflictCheck` (one per collector: ``status --watch``) repeats it only when a
branch, the base, a claim, a lock or the board changed. It never fails a look: what
cannot be checked says why (``conflicts_note``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from isollm.config import Config
from isollm.coordination import conflicts
from isollm.errors import IsollmError
from isollm.git.hub import Hub
from isollm.session.status.model import ConflictView
from isollm.session.status.serverfacts import Coordination

log = logging.getLogger(__name__)
Checked = tuple[tuple[ConflictView, ...], str]  # the conflicts, why they are unknown


def views(found: list[conflicts.Conflict]) -> tuple[ConflictView, ...]:
    return tuple(
        ConflictView(
            c.earlier.id, c.earlier.claimed_by or "", c.later.id, c.later.claimed_by or "", c.files
        )
        for c in found
    )


class ConflictCheck:
    """The conflicts between a project's running tasks, remembered while nothing moves."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._last: tuple[str, Checked] | None = None

    def check(
        self, seen: Coordination | None, base: str | None, tips: Mapping[str, str] | None
    ) -> Checked:
        """The conflicts given what the task server said (``seen``), the hub's base
        commit and its task branches' tips."""
        if seen is None:
            return (), "the task server cannot be asked"
        if len(seen.running) < 2:
            return (), ""  # no two running tasks: nothing can conflict
        if base is None:
            return (), "the hub cannot be read"
        key = repr((base, sorted((tips or {}).items()), seen))
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        git = self.config.git
        try:
            hub = Hub.for_project(self.config.project)
            checked: Checked = views(conflicts.conflicts(seen, hub, base, git.branch_prefix)), ""
        except (IsollmError, OSError) as exc:
            log.info("conflict check for status skipped: %s", exc)
            return (), (str(exc).splitlines() or [type(exc).__name__])[0]
        self._last = key, checked
        return checked
