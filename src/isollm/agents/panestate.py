"""What an agent in a terminal pane is doing, read from the pane's text (the fallback).

Where an agent's CLI reports its own state through hooks (:mod:`isollm.agents.hooks`)
that wins; for the others (aider, ``command`` agents) and as a fallback for all (a
hook that could not reach the task server), :func:`classify` reads the bottom of the
visible screen:

- ``waiting``: the CLI asks the person something (a permission question, ``[y/n]``);
- ``working``: a turn is running (the CLI's "esc to interrupt" line, a spinner);
- ``idle``: the CLI sits at its input prompt;
- ``unknown``: nothing recognisable (a shell, a crash message, an empty pane).

Screens change with every release of a CLI, and a frame caught mid-redraw can look
like a finished turn, so a caller never reports one look: a :class:`Debouncer` reports
a new state only after :data:`SETTLE_SECONDS` and two agreeing looks.

The patterns were taken from the real CLIs' screens (the installed versions, running
against the fake model server in tmux; see tests/unit/test_agents_panestate.py).
Everything here is pure: text in, a state out.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

PaneState = Literal["working", "waiting", "idle", "unknown"]

# Only the bottom of the screen counts: questions and prompts are drawn there, and
# older text above (a question already answered) must not.
TAIL_LINES = 15
SETTLE_SECONDS = 1.5


@dataclass(frozen=True)
class Patterns:
    """One CLI's screen signs, checked in this order: waiting, working, idle."""

    waiting: tuple[re.Pattern[str], ...] = ()
    working: tuple[re.Pattern[str], ...] = ()
    idle: tuple[re.Pattern[str], ...] = ()
    # When no sign matches: aider, which streams its reply as plain text with no busy
    # line, is working whenever it is neither asking nor at its prompt.
    otherwise: PaneState = "unknown"


def _any(*patterns: str) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p, re.IGNORECASE | re.MULTILINE) for p in patterns)


# Questions any CLI (or a plain program) may ask.
_GENERIC_WAITING = (r"\[y/n\]", r"\(y\)es/\(n\)o", r"\byes/no\b.*[?:]\s*$")

CLAUDE = Patterns(
    waiting=_any(
        r"Do you want to (proceed|make this edit|create|allow)",
        r"Would you like to",
        r"^\s*❯\s*1\.\s*Yes",
        r"esc to cancel",
        *_GENERIC_WAITING,
    ),
    # "✻ Thinking…" (the glyph and word change); a finished turn reads "✻ Brewed for 1s".
    working=_any(r"esc to interrupt", r"^\s*[*✻✽✶✳✢·]\s+\w+…"),
    idle=_any(r"^\s*[>❯](\s|$)", r"\? for shortcuts", r"bypass permissions on"),
)

CODEX = Patterns(
    waiting=_any(
        r"press enter to confirm or esc to cancel",
        r"allow command\?",
        r"Would you like to (run|make|apply)",
        *_GENERIC_WAITING,
    ),
    working=_any(r"esc to interrupt", r"^\s*\W?\s*Working\s*\("),
    idle=_any(r"^\s*›(\s|$)", r"\? for shortcuts", r"context left"),
)

GEMINI = Patterns(
    waiting=_any(
        r"waiting for user confirmation",
        r"Apply this change\?",
        r"Allow execution",
        r"Allow once",
        *_GENERIC_WAITING,
    ),
    working=_any(r"esc to cancel", r"\(esc to"),
    idle=_any(r"Type your message", r"^\s*>\s"),
)

AIDER = Patterns(
    waiting=_any(*_GENERIC_WAITING, r"\[Yes\]:\s*$", r"\[No\]:\s*$"),
    working=_any(r"Waiting for \S+"),
    idle=_any(r"^\S*>\s*\Z"),  # the last line is its prompt: "diff>"
    otherwise="working",
)

COMMAND = Patterns(waiting=_any(*_GENERIC_WAITING))

PATTERNS: dict[str, Patterns] = {
    "claude": CLAUDE,
    "codex": CODEX,
    "gemini": GEMINI,
    "aider": AIDER,
    "command": COMMAND,
}


def tail(screen: str, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` non-blank lines of ``screen`` (trailing spaces dropped)."""
    kept = [line.rstrip() for line in screen.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def classify(agent: str, screen: str) -> PaneState:
    """The state ``screen`` (a pane's visible text) shows for agent ``agent`` (an
    adapter name; unknown names get only the generic questions)."""
    patterns = PATTERNS.get(agent, COMMAND)
    text = tail(screen)
    if not text:
        return "unknown"
    checks: tuple[tuple[PaneState, tuple[re.Pattern[str], ...]], ...] = (
        ("waiting", patterns.waiting),
        ("working", patterns.working),
        ("idle", patterns.idle),
    )
    for state, signs in checks:
        if any(sign.search(text) for sign in signs):
            return state
    return patterns.otherwise


class Debouncer:
    """Turns looks at a pane into a steady state.

    :meth:`observe` takes each look's state and returns the state to report: it changes
    only when the same new state was seen on at least two looks spanning at least
    ``settle`` seconds (``clock`` is injectable for tests).
    """

    def __init__(
        self,
        *,
        settle: float = SETTLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        initial: PaneState = "unknown",
    ) -> None:
        self.settle = settle
        self.clock = clock
        self.state: PaneState = initial
        self.since = clock()
        self._candidate: PaneState | None = None
        self._candidate_since = 0.0

    def observe(self, seen: PaneState) -> PaneState:
        now = self.clock()
        if seen == self.state:
            self._candidate = None
        elif seen != self._candidate:
            self._candidate, self._candidate_since = seen, now
        elif now - self._candidate_since >= self.settle:
            self.state, self.since, self._candidate = seen, now, None
        return self.state

    def look(self, agent: str, screen: str) -> PaneState:
        """Classify ``screen`` and :meth:`observe` the result."""
        return self.observe(classify(agent, screen))
