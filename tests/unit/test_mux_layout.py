"""Where panes go: workers → windows of rows, pure (isollm.session.mux.layout)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isollm.errors import IsollmError
from isollm.session.mux.base import LAYOUTS, PaneSpec, SessionPlan
from isollm.session.mux.layout import (
    MAX_WORKERS_PER_WINDOW,
    arrange,
    grid_dimensions,
    resolve,
    windows,
)


def _pane(title: str) -> PaneSpec:
    return PaneSpec(title=title, argv=("isollm", "attach", title), cwd=Path("/p"))


def _plan(count: int, layout: str = "auto") -> SessionPlan:
    return SessionPlan(
        name="isollm-demo",
        dashboard=_pane("dashboard"),
        workers=tuple(_pane(f"w{i}") for i in range(1, count + 1)),
        layout=layout,
    )


def _shape(count: int, layout: str) -> list[list[int]]:
    return [[len(row) for row in window.rows] for window in windows(_plan(count, layout))]


@pytest.mark.parametrize(
    ("count", "dims"),
    [(1, (1, 1)), (2, (1, 2)), (3, (2, 2)), (4, (2, 2)), (5, (2, 3)), (6, (2, 3)), (9, (3, 3))],
)
def test_grid_dimensions_follow_the_seed(count: int, dims: tuple[int, int]) -> None:
    assert grid_dimensions(count) == dims


@pytest.mark.parametrize(
    ("count", "arrangement"), [(1, "horizontal"), (2, "horizontal"), (3, "grid"), (6, "grid")]
)
def test_auto_is_side_by_side_for_two_then_grid(count: int, arrangement: str) -> None:
    assert resolve("auto", count) == arrangement


def test_explicit_layouts_are_kept() -> None:
    assert resolve("vertical", 5) == "vertical"
    assert _shape(3, "horizontal") == [[3]]
    assert _shape(3, "vertical") == [[1, 1, 1]]
    assert _shape(3, "grid") == [[2, 1]]
    assert _shape(6, "auto") == [[3, 3]]


def test_an_unknown_layout_is_a_user_error_with_a_hint() -> None:
    with pytest.raises(IsollmError) as info:
        windows(_plan(0, "spiral"))
    assert info.value.hint
    assert "zellij.layout" in info.value.hint


def test_dashboard_only_in_window_one_and_no_workers_still_gives_a_window() -> None:
    (only,) = windows(_plan(0))
    assert only.dashboard is not None
    assert only.dashboard.title == "dashboard"
    assert only.rows == ()
    assert only.workers == ()


def test_more_than_six_workers_spill_into_further_windows() -> None:
    result = windows(_plan(8))
    assert [w.number for w in result] == [1, 2]
    assert [w.name for w in result] == ["main", "workers-2"]
    assert [len(w.workers) for w in result] == [6, 2]
    assert result[1].dashboard is None
    assert result[1].arrangement == "horizontal"  # "auto" decided per window
    assert _shape(13, "auto") == [[3, 3], [3, 3], [1]]


@given(st.integers(min_value=0, max_value=40), st.sampled_from(LAYOUTS))
def test_every_worker_appears_once_in_order(count: int, layout: str) -> None:
    plan = _plan(count, layout)
    result = windows(plan)
    placed = [pane for window in result for pane in window.workers]
    assert placed == list(plan.workers)
    assert all(len(w.workers) <= MAX_WORKERS_PER_WINDOW for w in result)
    for window in result:
        if window.arrangement == "grid" and window.workers:
            rows, cols = grid_dimensions(len(window.workers))
            assert len(window.rows) == rows
            assert all(len(row) <= cols for row in window.rows)


def test_arrange_of_nothing_is_empty() -> None:
    assert arrange((), "grid") == ()
