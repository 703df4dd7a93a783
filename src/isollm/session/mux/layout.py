"""Where each pane goes: workers arranged into windows (tmux) or tabs (zellij). Pure.

Window 1 holds the dashboard pane on top and the first workers below it; more than
:data:`MAX_WORKERS_PER_WINDOW` workers spill into further windows rather than into
panes too small to read. Within a window the workers are arranged in rows:

- ``horizontal``: side by side (one row);
- ``vertical``: stacked (one worker per row);
- ``grid``: rows x columns from :func:`grid_dimensions` (3 workers: 2x2 with one gap,
  6: 2x3, 9: 3x3), filled row by row;
- ``auto``: horizontal for one or two workers, grid otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from isollm.errors import ConfigError
from isollm.session.mux.base import LAYOUTS, PaneSpec, SessionPlan

MAX_WORKERS_PER_WINDOW = 6
DASHBOARD_PERCENT = 20  # of window 1's height
SIDE_BY_SIDE_MAX = 2  # "auto" puts up to this many workers side by side


@dataclass(frozen=True)
class Window:
    """One window (tmux) or tab (zellij) of the session."""

    number: int  # 1-based
    name: str
    dashboard: PaneSpec | None  # window 1 only
    arrangement: str  # horizontal | vertical | grid: what "auto" resolved to
    rows: tuple[tuple[PaneSpec, ...], ...]  # the worker panes, row by row

    @property
    def workers(self) -> tuple[PaneSpec, ...]:
        return tuple(pane for row in self.rows for pane in row)


def grid_dimensions(count: int) -> tuple[int, int]:
    """(rows, columns) of a grid holding ``count`` panes: as square as possible, wider."""
    if count <= 1:
        return (1, 1)
    cols = math.ceil(math.sqrt(count))
    return (math.ceil(count / cols), cols)


def resolve(layout: str, count: int) -> str:
    """The arrangement ``layout`` means for ``count`` workers ("auto" decided here)."""
    if layout not in LAYOUTS:
        raise ConfigError(
            f"unknown pane layout {layout!r}",
            hint="set zellij.layout to one of: " + ", ".join(LAYOUTS),
        )
    if layout != "auto":
        return layout
    return "horizontal" if count <= SIDE_BY_SIDE_MAX else "grid"


def arrange(workers: tuple[PaneSpec, ...], arrangement: str) -> tuple[tuple[PaneSpec, ...], ...]:
    """The workers split into rows for an already resolved arrangement."""
    if not workers:
        return ()
    if arrangement == "horizontal":
        return (workers,)
    if arrangement == "vertical":
        return tuple((pane,) for pane in workers)
    _, cols = grid_dimensions(len(workers))
    return tuple(workers[i : i + cols] for i in range(0, len(workers), cols))


def windows(plan: SessionPlan) -> list[Window]:
    """The session's windows: the dashboard and first workers, then the rest in groups."""
    resolve(plan.layout, len(plan.workers))  # an unknown layout fails even with no workers
    groups = [
        plan.workers[i : i + MAX_WORKERS_PER_WINDOW]
        for i in range(0, len(plan.workers), MAX_WORKERS_PER_WINDOW)
    ] or [()]
    result = []
    for number, group in enumerate(groups, start=1):
        arrangement = resolve(plan.layout, len(group))
        result.append(
            Window(
                number=number,
                name="main" if number == 1 else f"workers-{number}",
                dashboard=plan.dashboard if number == 1 else None,
                arrangement=arrangement,
                rows=arrange(group, arrangement),
            )
        )
    return result
