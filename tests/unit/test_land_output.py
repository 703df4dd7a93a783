"""What a merge's test command printed (an agent's code ran it) reaches the terminal
only bounded, with control sequences made visible and registered secrets masked."""

from __future__ import annotations

from isollm import redaction
from isollm.cli.diff import render
from isollm.land.diff import Against, TaskDiff
from isollm.land.plumbing import FileStat
from isollm.land.testing import TAIL_CHARS, TAIL_LINES, tail


def test_a_hostile_test_output_is_bounded_and_inert() -> None:
    redaction.register("sk-merge-test-secret-0123456789")
    noise = "".join(f"line {n}\n" for n in range(1000))
    text = noise + "\x1b]0;owned\x07\x1b[2J\x1bP+q\x1b\\ key sk-merge-test-secret-0123456789\n"
    shown = tail(text)
    assert "\x1b" not in shown
    assert "\x07" not in shown
    assert "sk-merge-test-secret-0123456789" not in shown
    assert len(shown.splitlines()) <= TAIL_LINES
    assert len(shown) <= TAIL_CHARS * 4  # escapes grow when made visible, never unbounded
    assert "line 999" in shown


def test_diff_warns_of_a_change_to_isollms_own_files() -> None:
    files = [FileStat("isollm.yaml", 2, 1), FileStat("src/app.py", 1, 0)]
    d = TaskDiff("ar-1", "isollm/ar-1", "a" * 40, Against.BASE, "b" * 40, "receipt", files, "")
    shown = render(d, stat_only=True)
    assert "warning: it changes isollm's own files (isollm.yaml)" in shown
    assert d.to_json()["isollm_files"] == ["isollm.yaml"]
    plain = TaskDiff("ar-2", "isollm/ar-2", "a" * 40, Against.BASE, "b" * 40, "receipt", [], "")
    assert "warning" not in render(plain, stat_only=True)
