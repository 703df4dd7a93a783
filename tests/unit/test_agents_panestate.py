"""The pane-text fallback: real screens of each CLI classified, and the debounce rules.

The screens in tests/unit/panes/ were captured from the real CLIs in tmux against the
fake model server (two are handwritten; see panes/README.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from isollm.agents.panestate import (
    SETTLE_SECONDS,
    Debouncer,
    PaneState,
    classify,
    tail,
)

PANES = Path(__file__).parent / "panes"

SCREENS: list[tuple[str, PaneState]] = [
    ("claude-idle", "idle"),
    ("claude-working", "working"),
    ("claude-waiting", "waiting"),
    ("claude-done", "idle"),
    ("codex-idle", "idle"),
    ("codex-working", "working"),
    ("codex-waiting", "waiting"),
    ("codex-done", "idle"),
    ("gemini-idle", "idle"),
    ("gemini-working", "working"),
    ("gemini-waiting", "waiting"),
    ("gemini-done", "idle"),
    ("aider-idle", "idle"),
    ("aider-working", "working"),
    ("aider-waiting", "waiting"),
]


@pytest.mark.parametrize(("screen", "expected"), SCREENS)
def test_real_screens_are_classified(screen: str, expected: PaneState) -> None:
    agent = screen.split("-", 1)[0]
    assert classify(agent, (PANES / f"{screen}.txt").read_text()) == expected


def test_every_captured_screen_has_a_case() -> None:
    assert {p.stem for p in PANES.glob("*.txt")} == {name for name, _ in SCREENS}


@pytest.mark.parametrize("agent", ["claude", "codex", "gemini", "aider", "command", "nope"])
def test_an_empty_pane_is_unknown(agent: str) -> None:
    assert classify(agent, "") == "unknown"
    assert classify(agent, "\n   \n") == "unknown"


def test_a_command_agent_is_waiting_only_when_it_asks() -> None:
    assert classify("command", "building...\nOverwrite out.txt? [y/N]") == "waiting"
    assert classify("command", "building...\n") == "unknown"
    assert classify("unknown-agent", "Continue? [Y/n]") == "waiting"


def test_an_answered_question_scrolled_up_no_longer_counts() -> None:
    question = (PANES / "claude-waiting.txt").read_text()
    later = question + "\n".join(f"● step {n}" for n in range(30)) + "\n❯ \n"
    assert classify("claude", later) == "idle"


def test_tail_keeps_the_last_non_blank_lines() -> None:
    assert tail("a\n\n b  \nc\n\n", lines=2) == " b\nc"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_new_state_needs_two_looks_over_the_settle_time() -> None:
    clock = Clock()
    debounce = Debouncer(clock=clock)
    assert debounce.state == "unknown"
    assert debounce.observe("working") == "unknown"  # one look
    clock.now += SETTLE_SECONDS - 0.1
    assert debounce.observe("working") == "unknown"  # two looks, too soon
    clock.now += 0.1
    assert debounce.observe("working") == "working"
    assert debounce.since == clock.now


def test_one_look_after_a_long_time_is_not_enough() -> None:
    clock = Clock()
    debounce = Debouncer(clock=clock, initial="working")
    clock.now += 60
    assert debounce.observe("idle") == "working"


def test_a_disagreeing_look_starts_the_wait_again() -> None:
    clock = Clock()
    debounce = Debouncer(clock=clock, initial="working")
    debounce.observe("idle")  # a frame caught mid-redraw
    clock.now += 1
    assert debounce.observe("working") == "working"
    clock.now += 1
    assert debounce.observe("idle") == "working"  # the idle look counts from here
    clock.now += 1
    assert debounce.observe("idle") == "working"
    clock.now += 0.5
    assert debounce.observe("idle") == "idle"


def test_a_flicker_between_two_other_states_changes_nothing() -> None:
    clock = Clock()
    debounce = Debouncer(clock=clock, initial="idle")
    for seen in ("working", "waiting") * 5:
        clock.now += 1
        assert debounce.observe(seen) == "idle"


def test_look_classifies_then_debounces() -> None:
    clock = Clock()
    debounce = Debouncer(clock=clock)
    screen = (PANES / "claude-waiting.txt").read_text()
    assert debounce.look("claude", screen) == "unknown"
    clock.now += 2
    assert debounce.look("claude", screen) == "waiting"
