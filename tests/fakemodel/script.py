"""What the fake model "decides": a scripted list of actions, replayed one per turn.

The turn is derived from the conversation each request carries (how many tool results
it already holds), not from a request counter, so side requests a CLI makes (titles,
token counts, next-speaker checks) never consume a step. After the last action the
model answers with ``final`` text and stops.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class WriteFile:
    """Create a file (path relative to the agent's working directory) holding ``content``."""

    path: str
    content: str


@dataclass(frozen=True)
class RunCommand:
    """Run a shell command line through the agent's own shell tool (not for aider)."""

    command: str


Action = WriteFile | RunCommand


@dataclass(frozen=True)
class Script:
    actions: tuple[Action, ...] = ()
    final: str = "All done: the scripted changes are in place."
    commit_message: str = "Add scripted changes"
    # Where relative paths resolve when a request names no working directory.
    workdir: str = ""
    usage_in: int = 1200
    usage_out: int = 34
    # Non-zero: every model call is refused with this HTTP status (to test failures).
    fail_status: int = 0
    fail_message: str = "scripted failure: the fake model refuses this request"
    # Seconds a streamed reply pauses after its first event (the model "thinks"), so a
    # test can watch an agent while a turn runs.
    stream_delay: float = 0.0

    def action_at(self, turn: int) -> Action | None:
        return self.actions[turn] if turn < len(self.actions) else None

    def files(self) -> list[WriteFile]:
        return [a for a in self.actions if isinstance(a, WriteFile)]


@dataclass
class Context:
    """What one request told us about the agent's environment."""

    workdir: str = ""
    extras: dict[str, str] = field(default_factory=dict)

    def absolute(self, path: str, script: Script) -> str:
        if posixpath.isabs(path):
            return path
        base = self.workdir or script.workdir
        return posixpath.join(base, path) if base else path


_WORKDIR_PATTERNS = (
    re.compile(r"Primary working directory: (\S+)"),
    re.compile(r"<cwd>([^<]+)</cwd>"),
    re.compile(r"current working directory(?: is)?:? ?['\"`]?(/[^'\"`\s]+)", re.IGNORECASE),
    re.compile(r"Workspace Directories:\**\s*- (/\S+)"),
    re.compile(r"working in the directory:?\s*(/\S+)", re.IGNORECASE),
)


def texts(value: Any) -> str:
    """Every string inside a JSON value, one per line (prompts hide in nested lists)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "\n".join(texts(v) for v in value.values())
    if isinstance(value, list):
        return "\n".join(texts(v) for v in value)
    return ""


def find_workdir(text: str) -> str:
    """The agent's working directory as its prompt states it, or ''."""
    for pattern in _WORKDIR_PATTERNS:
        match = pattern.search(text)
        if match:
            return match.group(1).strip().rstrip(".,")
    return ""
