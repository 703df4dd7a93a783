"""What a merge's test command printed (an agent's code ran it) reaches the terminal
only bounded, with control sequences made visible and registered secrets masked."""

from __future__ import annotations

from isollm import redaction
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
