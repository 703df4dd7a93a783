"""Plain progress lines of a run (what `isollm run --plain` prints)."""

from __future__ import annotations

from isollm.cli.progress import line
from isollm.runner.events import Kind, Progress


def test_a_line_names_worker_task_event_title_and_detail() -> None:
    text = line(Progress(Kind.DONE, "w1", "ar-1a2b", "Add slugify()", "2 file(s) changed"))
    assert text.endswith(" w1 ar-1a2b done  Add slugify() - 2 file(s) changed")


def test_control_characters_of_a_title_cannot_reach_the_terminal() -> None:
    title = "evil\x1b[2J\x1b]0;pwned\x07title\r\nnext"
    text = line(Progress(Kind.CLAIMED, "w2", "ar-9", title, "attempt 1\x1b[31m"))
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "\n" not in text
    assert "\r" not in text
    assert "evil\\x1b[2J\\x1b]0;pwned\\x07title\\x0d\\x0anext" in text
