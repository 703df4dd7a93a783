"""Prompts too long for a command line go to the agent in a file.

Linux refuses to start a program with one argument over 128 KiB (or argv and the
environment together over a quarter of the stack limit): ``E2BIG``. A task's
description can be longer than that, and one in a non-ASCII script takes up to four
bytes a character. So a prompt over :data:`ARGV_PROMPT_MAX` bytes is written to
:data:`PROMPT_FILE` in the agent's private HOME (the copy-in that writes its settings
files) and the agent is given the file: aider by ``--message-file``, the command agent
by ``{prompt_file}`` / ``ISOLLM_PROMPT_FILE``, and Claude Code, Codex and Gemini CLI on
their standard input (:func:`from_stdin`), which each of them reads as the prompt.

Not a short prompt telling the agent to read the file: the model would see the task
only if it chose to read it, and then only through the agent's file and shell tools,
which cap what one call returns, so a long task would not reach it whole.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, cast

from isollm import fsutil
from isollm.agents.base import Agent, Invocation

ARGV_PROMPT_MAX = 32 * 1024  # bytes, well below one argument's limit, with room for env
PROMPT_FILE = ".isollm-prompt.md"  # in the agent's HOME

# Run as ``sh -c STDIN_SCRIPT sh FILE ARGV...``: ARGV with FILE on its standard input.
STDIN_SCRIPT = 'f=$1; shift; exec "$@" < "$f"'


def staged(agent: Agent, inv: Invocation) -> tuple[Agent, Invocation]:
    """``agent`` and ``inv`` as they are when the prompt fits a command line; else an
    agent whose :meth:`~Agent.prepare` also writes the prompt file, and ``inv`` naming it."""
    if inv.home is None or len(inv.prompt.encode("utf-8", "replace")) <= ARGV_PROMPT_MAX:
        return agent, inv
    writer = cast(Agent, _PromptWriter(agent, inv.prompt))
    return writer, dataclasses.replace(inv, prompt_file=inv.home / PROMPT_FILE)


def argv_prompt(inv: Invocation) -> str:
    """The prompt to put on the command line: the prompt itself, or a pointer to its file
    (for the command agent, which also gets the file's path)."""
    if inv.prompt_file is None:
        return inv.prompt
    return (
        f"Your task ({inv.task_id}) is too long for the command line, so it is in the file "
        f"{inv.prompt_file}. Read that whole file first; it is your prompt: do what it says."
    )


def from_stdin(prompt_file: Path, argv: list[str]) -> list[str]:
    """``argv`` run (in the sandbox) with ``prompt_file`` as its standard input."""
    return ["sh", "-c", STDIN_SCRIPT, "sh", str(prompt_file), *argv]


class _PromptWriter:
    """An agent adapter that also writes the prompt file among its settings files."""

    def __init__(self, agent: Agent, prompt: str) -> None:
        self._agent = agent
        self._prompt = prompt

    def __getattr__(self, name: str) -> Any:
        return getattr(self._agent, name)

    def prepare(self, home: Path, workdir: Path | None = None) -> list[Path]:
        files = self._agent.prepare(home, workdir)
        path = home / PROMPT_FILE
        fsutil.ensure_dir(path.parent)
        path.write_text(self._prompt, encoding="utf-8", errors="replace")
        return [*files, path]
