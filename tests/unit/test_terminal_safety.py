"""Text from agents and the task queue is shown escaped: no control sequence, bidi
override or rich markup it holds reaches the terminal as such."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from isollm import terminal
from isollm.cli import output, progress
from isollm.runner.events import Kind, Progress

ATTACKS = {
    "csi": "\x1b[2J\x1b[H",
    "osc52-clipboard": "\x1b]52;c;cm0gLXJmIH4=\x07",
    "osc8-link": "\x1b]8;;https://evil.invalid\x1b\\click\x1b]8;;\x1b\\",
    "carriage-return": "safe\rEVIL",
    "backspace": "rm -rf ~\x08\x08\x08\x08\x08\x08\x08\x08ls",
    "c1-csi": "\x9b2J",
    "bidi-override": "txt.\u202eexe",
    "bidi-isolate": "\u2066abc\u2069",
    "nul-del": "a\x00b\x7f",
}
BAD = [chr(c) for c in [*range(0, 9), *range(11, 32), *range(0x7F, 0xA0)]] + [
    "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069",
]  # fmt: skip


def clean(text: str, *, newlines: bool = True) -> bool:
    return not any(c in text for c in BAD) and (newlines or "\n" not in text)


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_safe_escapes_every_attack_visibly(attack: str) -> None:
    text = ATTACKS[attack]
    shown = terminal.safe(text)
    assert clean(shown)
    assert terminal.safe_line(text + "\nnext").count("\\x0a") == 1
    assert shown != text


def test_safe_keeps_ordinary_text_newlines_and_tabs() -> None:
    text = "Add the parser\n\twith tests — ünïcode ✓ [bold]"
    assert terminal.safe(text) == text
    assert terminal.safe_line("a\tb\nc") == "a\\x09b\\x0ac"


def capture(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    buffer = io.StringIO()
    console = Console(
        file=buffer, force_terminal=True, color_system="truecolor", width=300, highlight=False
    )
    monkeypatch.setattr(output, "out", console)
    monkeypatch.setattr(output, "err", console)
    return buffer


@pytest.mark.parametrize("show", [output.info, output.warn, output.error])
def test_messages_shown_by_the_cli_carry_no_sequence_or_markup(
    show: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    buffer = capture(monkeypatch)
    evil = "".join(ATTACKS.values()) + " [link=https://evil.invalid]x[/link] [bold]y"
    show(evil)  # type: ignore[operator]
    text = buffer.getvalue()
    # rich's own styling (the "warning:" colour) is the only escape allowed
    payload = text.split(" ", 1)[1] if show is not output.info else text
    assert "\x1b]" not in payload
    assert "\x07" not in payload
    assert "\u202e" not in payload
    assert "[link=https://evil.invalid]x[/link]" in payload
    assert "[bold]y" in payload


def test_the_live_board_shows_titles_and_notes_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = capture(monkeypatch)
    board = progress.LiveBoard()
    title = "[link=https://evil.invalid]t[/link]" + ATTACKS["osc52-clipboard"]
    board(Progress(Kind.CLAIMED, "w1", "ar-1", title, "attempt 1"))
    board(Progress(Kind.WARNING, "w1", detail="note\x1b[2J"))
    output.out.print(board.render())
    text = buffer.getvalue()
    assert "\x1b]52" not in text
    assert "\x1b[2J" not in text
    assert "[link=https://evil.invalid]t" in text  # shown as typed, never a link
    assert "\x1b]8;" not in text
