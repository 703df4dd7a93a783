"""The dashboard fitted to its pane: the workers stay on screen when the view is taller
than the pane (it is a fifth of the session's window)."""

from __future__ import annotations

from isollm.session.status import render
from isollm.session.status.fit import clip_width, fit
from tests.unit.test_status_render import FULL


def test_a_view_that_fits_is_drawn_whole() -> None:
    full = render.full(FULL)
    assert fit(full, render.brief(FULL), 100, 200) == full
    assert fit(full, render.brief(FULL), 100, 200, ("! a problem",)) == full + "! a problem\n"


def test_a_short_pane_shows_the_brief_line_and_the_workers_not_the_end() -> None:
    full = render.full(FULL)
    assert len(full.splitlines()) > 9
    shown = fit(full, render.brief(FULL), 9, 200).splitlines()
    assert shown[0] == render.brief(FULL)
    assert shown[1].startswith("Workers (3:")
    assert any(line.startswith("  worker-3") for line in shown)
    assert not any("Task server:" in line for line in shown)
    assert len(shown) <= 9


def test_workers_that_do_not_fit_are_counted_and_problems_kept() -> None:
    full = render.full(FULL)
    shown = fit(full, render.brief(FULL), 5, 200, ("! notify-send failed",)).splitlines()
    assert len(shown) == 5
    assert shown[0] == render.brief(FULL)
    assert shown[-2].startswith("… ")
    assert "more line(s)" in shown[-2]
    assert shown[-1] == "! notify-send failed"


def test_lines_are_cut_to_the_width_wide_characters_counting_twice() -> None:
    assert clip_width("worker-1 漢字テスト", 12) == "worker-1 漢"
    assert clip_width("abc", 3) == "abc"
    assert clip_width("e\u0301e\u0301", 1) == "e\u0301"
    shown = fit(render.full(FULL), render.brief(FULL), 100, 20)
    assert all(len(line) <= 20 for line in shown.splitlines())
