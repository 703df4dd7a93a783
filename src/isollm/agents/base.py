"""What every agent adapter offers: the :class:`Agent` protocol and the values it trades.

An adapter turns one task into an argv and an environment for one agent CLI, prepares
the private home directory that CLI reads its settings from, and reads the CLI's
output back into an :class:`AgentOutcome`. It never runs anything itself: the runner
(headless) or the session (interactive panes) does, inside a sandbox.

The simplest adapter, :mod:`isollm.agents.command`, doubles as documentation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from isollm.agents.envvars import AgentEnv, mask_args

_PROMPT_SHOWN = 60


@dataclass(frozen=True)
class Invocation:
    """One run of an agent on one task.

    ``home`` is the private HOME the agent runs with (the directory given to
    :meth:`Agent.prepare`), ``tmpdir`` its private TMPDIR; ``sandboxed`` says the agent
    runs inside an isolating sandbox, where auto-approving every tool call is safe;
    ``interactive`` that it is for :meth:`Agent.interactive_argv` (a terminal pane).
    """

    prompt: str
    task_id: str = ""
    title: str = ""
    workdir: Path = field(default_factory=Path.cwd)
    model: str = ""
    extra_args: tuple[str, ...] = ()
    home: Path | None = None
    tmpdir: Path | None = None
    sandboxed: bool = False
    interactive: bool = False
    # The prompt, as a file the agent can read, when it is too long for a command
    # line (see isollm.agents.promptfile); adapters then pass this instead.
    prompt_file: Path | None = None

    def __repr__(self) -> str:
        prompt = self.prompt if len(self.prompt) <= _PROMPT_SHOWN else self.prompt[:57] + "..."
        return (
            f"Invocation(task_id={self.task_id!r}, title={self.title!r}, prompt={prompt!r}, "
            f"workdir={str(self.workdir)!r}, model={self.model!r}, "
            f"extra_args={mask_args(self.extra_args)!r}, sandboxed={self.sandboxed})"
        )


@dataclass(frozen=True)
class AgentOutcome:
    """What an agent run achieved, as far as its CLI reports it (None: not reported)."""

    success: bool
    summary: str = ""
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None


@dataclass(frozen=True)
class AgentSettings:
    """The configuration one adapter works with, resolved for that agent.

    Built by :func:`isollm.agents.registry.settings_for` from the ``agent:`` section.
    """

    binary: str = ""
    model: str = ""
    base_url: str = ""
    args: tuple[str, ...] = ()
    pass_env: tuple[str, ...] = ()
    command: tuple[str, ...] = ()


class Agent(Protocol):
    """One agent CLI. Adapters are cheap, stateless values: build one per use."""

    name: str
    # The instruction file the CLI reads from its working directory.
    instruction_file: str
    # Files the CLI leaves in the working directory that must never be committed.
    workdir_ignores: tuple[str, ...]
    # How to install the CLI, for error messages.
    install_hint: str
    settings: AgentSettings

    @property
    def binary(self) -> str:
        """The executable that runs (configured, or the CLI's usual name)."""
        ...

    def headless_argv(self, inv: Invocation) -> list[str]:
        """Run one task to completion without asking anyone, approving every tool call."""
        ...

    def interactive_argv(
        self,
        prompt: str = "",
        *,
        model: str = "",
        extra_args: Sequence[str] = (),
        auto_approve: bool = False,
        resume: bool | str = False,
    ) -> list[str]:
        """Start the CLI for a person in a terminal pane, optionally with a first prompt.

        ``auto_approve`` skips the CLI's permission prompts (only inside a sandbox);
        ``resume`` continues the last conversation in the working directory, where the
        CLI can, or the one with that id (ask :func:`isollm.agents.resume.to_resume`
        first: a CLI may refuse to start when there is none).
        """
        ...

    def env(self, host_env: Mapping[str, str], inv: Invocation) -> AgentEnv:
        """The whole environment for the agent: only what it needs from ``host_env``."""
        ...

    def prepare(self, home: Path, workdir: Path | None = None) -> list[Path]:
        """Write the settings files the CLI needs under ``home`` (no secrets); return them.

        ``workdir`` (as the agent sees it) is marked trusted where the CLI asks about it.
        """
        ...

    def parse_result(self, exit_code: int, output: str) -> AgentOutcome:
        """Read the CLI's exit code and output (stdout, or stdout+stderr) into an outcome."""
        ...
