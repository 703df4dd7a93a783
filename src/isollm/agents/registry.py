"""Agent name -> adapter, and the settings each adapter gets from the ``agent:`` section.

``model``, ``args``, ``binary`` and ``base_url`` at the top of the section belong to the
default agent (``agent.name``); ``per_agent.<name>`` entries override them for that
agent, so ``--agent codex`` never inherits a Claude model name. ``pass_env`` applies
to every agent.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping

from isollm.agents.aider import AiderAgent
from isollm.agents.base import Agent, AgentSettings
from isollm.agents.claude import ClaudeAgent
from isollm.agents.codex import CodexAgent
from isollm.agents.command import CommandAgent
from isollm.agents.gemini import GeminiAgent
from isollm.config.model import AgentConfig
from isollm.errors import AgentError

AGENTS: dict[str, Callable[[AgentSettings], Agent]] = {
    "claude": ClaudeAgent,
    "codex": CodexAgent,
    "gemini": GeminiAgent,
    "aider": AiderAgent,
    "command": CommandAgent,
}


def names() -> list[str]:
    return list(AGENTS)


def settings_for(name: str, config: AgentConfig) -> AgentSettings:
    """The settings ``name`` runs with: the section's own if it is the default agent,
    then its ``per_agent`` entry on top."""
    own = name == config.name
    override = config.per_agent.get(name)
    base = AgentSettings(
        binary=config.binary if own else "",
        model=config.model if own else "",
        base_url=config.base_url if own else "",
        args=tuple(config.args) if own else (),
        pass_env=tuple(config.pass_env),
        command=tuple(config.command),
    )
    if override is None:
        return base
    return AgentSettings(
        binary=override.binary or base.binary,
        model=override.model or base.model,
        base_url=override.base_url or base.base_url,
        args=tuple(override.args) or base.args,
        pass_env=base.pass_env,
        command=base.command,
    )


def get_agent(name: str | None, config: AgentConfig | None = None) -> Agent:
    """The adapter for ``name`` (None: the configured default), configured from ``config``."""
    config = config or AgentConfig()
    chosen = name or config.name
    cls = AGENTS.get(chosen)
    if cls is None:
        raise AgentError(
            f"unknown agent {chosen!r}",
            hint=f"choose one of: {', '.join(AGENTS)}",
        )
    return cls(settings_for(chosen, config))


def locate(agent: Agent, env: Mapping[str, str] | None = None) -> str | None:
    """The full path of the agent's executable on ``env``'s PATH, or None."""
    path = (env if env is not None else os.environ).get("PATH")
    return shutil.which(agent.binary, path=path) if agent.binary else None


def require(agent: Agent, env: Mapping[str, str] | None = None) -> str:
    """Like :func:`locate`, but a missing CLI is an :class:`AgentError` saying how to install it."""
    found = locate(agent, env)
    if found is None:
        where = (
            "agent.binary" if agent.name == "command" else f"agent.per_agent.{agent.name}.binary"
        )
        raise AgentError(
            f"the {agent.name} agent needs {agent.binary or 'a command'!r}, which is not on PATH",
            hint=f"{agent.install_hint or 'install it'}, or set {where} in isollm.yaml",
        )
    return found
