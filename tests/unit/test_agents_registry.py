"""Choosing an adapter and resolving its settings from the ``agent:`` section."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from isollm.agents import AGENTS, get_agent, locate, require, settings_for
from isollm.agents.claude import ClaudeAgent
from isollm.agents.codex import CodexAgent
from isollm.config.model import AgentConfig, AgentOverride
from isollm.errors import AgentError

CONFIG = AgentConfig(
    name="claude",
    model="claude-opus",
    args=["--verbose-ish"],
    binary="/opt/claude",
    base_url="http://proxy/anthropic",
    pass_env=["HTTP_PROXY_EXTRA"],
    per_agent={"codex": AgentOverride(model="o4-mini", args=["-c", "x=1"])},
)


def test_every_configurable_agent_has_an_adapter() -> None:
    assert set(AGENTS) == {"claude", "codex", "gemini", "aider", "command"}


def test_none_means_the_configured_default() -> None:
    agent = get_agent(None, CONFIG)
    assert isinstance(agent, ClaudeAgent)
    assert agent.binary == "/opt/claude"


def test_the_default_agent_gets_the_section_settings() -> None:
    settings = settings_for("claude", CONFIG)
    assert settings.model == "claude-opus"
    assert settings.args == ("--verbose-ish",)
    assert settings.base_url == "http://proxy/anthropic"
    assert settings.pass_env == ("HTTP_PROXY_EXTRA",)


def test_another_agent_does_not_inherit_the_default_agents_model() -> None:
    settings = settings_for("gemini", CONFIG)
    assert settings.model == ""
    assert settings.args == ()
    assert settings.binary == ""
    assert settings.pass_env == ("HTTP_PROXY_EXTRA",)


def test_per_agent_settings_apply_to_that_agent() -> None:
    agent = get_agent("codex", CONFIG)
    assert isinstance(agent, CodexAgent)
    assert agent.settings.model == "o4-mini"
    assert agent.settings.args == ("-c", "x=1")
    assert agent.binary == "codex"


def test_per_agent_settings_override_the_default_agents_own() -> None:
    config = AgentConfig(name="claude", model="a", per_agent={"claude": AgentOverride(model="b")})
    assert settings_for("claude", config).model == "b"
    assert settings_for("claude", config).binary == ""


def test_an_unknown_agent_names_the_choices() -> None:
    with pytest.raises(AgentError, match="unknown agent 'cursor'") as info:
        get_agent("cursor", CONFIG)
    assert "claude, codex, gemini, aider, command" in str(info.value)


def test_locate_searches_the_given_path(tmp_path: Path) -> None:
    program = tmp_path / "claude"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    agent = get_agent("claude")
    assert locate(agent, {"PATH": str(tmp_path)}) == str(program)
    assert require(agent, {"PATH": f"/nonexistent{os.pathsep}{tmp_path}"}) == str(program)


def test_a_missing_cli_says_how_to_install_it(tmp_path: Path) -> None:
    agent = get_agent("gemini")
    assert locate(agent, {"PATH": str(tmp_path)}) is None
    with pytest.raises(AgentError, match="not on PATH") as info:
        require(agent, {"PATH": str(tmp_path)})
    assert "npm install -g @google/gemini-cli" in str(info.value)
    assert "agent.per_agent.gemini.binary" in str(info.value)
