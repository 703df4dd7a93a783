"""A session's first prompt too long for a command line reaches the agent in a file.

An interactive agent gets its first prompt as an argument (``claude -- PROMPT``,
``gemini --prompt-interactive=PROMPT``), and Linux refuses to start a program with one
argument over 128 KiB (``E2BIG``). Its standard input is the pane's terminal, so the
prompt cannot go there as it does for a headless run (:mod:`isollm.agents.promptfile`).
A prompt over :data:`~isollm.agents.promptfile.ARGV_PROMPT_MAX` bytes is therefore
written to :data:`PROMPT_FILE` in the agent's HOME inside the sandbox (from inside, as
the agent's settings are), and the agent's first prompt becomes a short one naming that
file. The person in the pane sees that prompt and the agent reading the file.
"""

from __future__ import annotations

from pathlib import Path

from isollm.agents.promptfile import ARGV_PROMPT_MAX
from isollm.runner import agenthome
from isollm.sandbox.base import Sandbox

PROMPT_FILE = ".isollm-session-prompt.md"  # in the agent's HOME


def fits(prompt: str) -> bool:
    """Whether ``prompt`` can be one argument of the agent's command line."""
    return len(prompt.encode("utf-8", "replace")) <= ARGV_PROMPT_MAX


def pointer(path: Path) -> str:
    """The short first prompt that sends the agent to the file holding the real one."""
    return (
        f"Your first prompt is too long for the command line, so it is in the file {path}. "
        "Read that whole file now (in parts if one read cannot hold it): it is your prompt, "
        "do what it says."
    )


def first_prompt(sb: Sandbox, home: Path, prompt: str) -> str:
    """The first prompt to put on the agent's command line: ``prompt`` itself, or (too
    long) a pointer to the file in ``home`` inside ``sb`` it was written to."""
    if fits(prompt):
        return prompt
    data = prompt.encode("utf-8", "replace")
    agenthome.write_home_files(sb, home, {PROMPT_FILE: data})
    return pointer(home / PROMPT_FILE)
