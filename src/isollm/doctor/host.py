"""Checks the host alone can answer, in microseconds: the agent's CLI is on PATH, its
credentials are in the environment, and Claude Code will not refuse to run as root."""

from __future__ import annotations

import os
from collections.abc import Mapping

from isollm import redaction
from isollm.agents.base import Agent
from isollm.agents.registry import locate
from isollm.doctor.model import Check, fail, ok, skip, warn

# Variables that mean the credentials come another way (a cloud provider's own login,
# a local model server): with one set, no API key is needed.
OTHER_WAYS: dict[str, tuple[str, ...]] = {
    "claude": ("CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX"),
    "gemini": ("GOOGLE_GENAI_USE_VERTEXAI",),
    "aider": ("OLLAMA_API_BASE",),
}


def credential_names(agent: Agent) -> tuple[str, ...]:
    """The variables one of which the agent's CLI needs (none for the command agent)."""
    names: tuple[str, ...] = getattr(agent, "secret_keys", ())
    return names


def agent_found(agent: Agent, env: Mapping[str, str]) -> Check:
    name = f"{agent.name}: installed"
    found = locate(agent, env)
    if found is None:
        where = (
            "agent.binary" if agent.name == "command" else f"agent.per_agent.{agent.name}.binary"
        )
        return fail(
            name,
            f"{agent.binary or 'no command'!r} is not on PATH",
            f"{agent.install_hint or 'install it'}, or set {where} in isollm.yaml",
        )
    return ok(name, found)


def credentials(agent: Agent, env: Mapping[str, str]) -> Check:
    """One of the agent's credential variables is set (its value is never shown)."""
    name = f"{agent.name}: credentials"
    names = credential_names(agent)
    if not names:
        return skip(name, f"the {agent.name} agent names no credentials")
    present = [n for n in names if env.get(n)]
    redaction.register(*(env[n] for n in present))
    if present:
        return ok(name, f"{', '.join(present)} set")
    other = [n for n in OTHER_WAYS.get(agent.name, ()) if env.get(n)]
    if other:
        return ok(name, f"{', '.join(other)} set: credentials come from there")
    return fail(
        name,
        f"none of {', '.join(names)} is set",
        f"export {names[0]} (or another of them) in the shell that runs isollm",
    )


def passed_env(names: tuple[str, ...], env: Mapping[str, str]) -> Check:
    """Every variable ``agent.pass_env`` names is set."""
    name = "agent.pass_env"
    if not names:
        return skip(name, "none configured")
    missing = [n for n in names if n not in env]
    if missing:
        return warn(
            name,
            f"{', '.join(missing)} not set: the agent will not get them",
            "export them, or remove them from agent.pass_env",
        )
    return ok(name, f"{len(names)} set")


def root_and_claude(agent: Agent, isolated: bool, euid: int | None = None) -> Check:
    """Claude Code refuses ``--dangerously-skip-permissions`` as root outside a sandbox."""
    name = f"{agent.name}: user"
    if agent.name != "claude":
        return skip(name, "only Claude Code refuses to run as root")
    uid = os.geteuid() if euid is None else euid
    if uid == 0 and not isolated:
        return fail(
            name,
            "isollm runs as root with the worktree backend: Claude Code refuses "
            "--dangerously-skip-permissions as root outside a sandbox",
            "set sandbox.backend: overlay (it runs agents as an unprivileged user), "
            "or run isollm as a normal user",
        )
    return ok(name, "root, but agents run inside a sandbox" if uid == 0 else "not root")
