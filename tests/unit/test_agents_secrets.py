"""API keys travel by environment only and never show in a repr, an argv or a log."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from isollm import proc, redaction
from isollm.agents import AGENTS, AgentEnv, Invocation, get_agent
from isollm.agents.envvars import MASK, is_secret_name, mask_args
from isollm.config.model import AgentConfig

SECRET = "sk-ant-very-secret-0123456789"


@pytest.mark.parametrize(
    "name",
    [
        "ANTHROPIC_API_KEY",
        "OPENAI_API_KEY",
        "CLAUDE_CODE_OAUTH_TOKEN",
        "AIRYRA_TOKEN",
        "AWS_SECRET_ACCESS_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "DB_PASSWORD",
        "openai_api_key",
    ],
)
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name", ["GIT_AUTHOR_NAME", "PATH", "HOME", "ANTHROPIC_BASE_URL", "KEYBOARD", "MONKEY"]
)
def test_ordinary_names(name: str) -> None:
    assert not is_secret_name(name)


def test_agent_env_masks_secrets_when_printed_but_keeps_them_for_use() -> None:
    env = AgentEnv({"ANTHROPIC_API_KEY": SECRET, "PATH": "/bin"})
    assert env["ANTHROPIC_API_KEY"] == SECRET
    assert SECRET not in repr(env)
    assert f"{env}" == f"AgentEnv({{'ANTHROPIC_API_KEY': '{MASK}', 'PATH': '/bin'}})"
    assert env.secrets() == [SECRET]
    assert dict(env) == {"ANTHROPIC_API_KEY": SECRET, "PATH": "/bin"}


@pytest.mark.parametrize(
    ("args", "masked"),
    [
        (["--api-key", SECRET, "-v"], ["--api-key", MASK, "-v"]),
        ([f"--openai-api-key={SECRET}"], [f"--openai-api-key={MASK}"]),
        (["--model", "opus", "--token", SECRET], ["--model", "opus", "--token", MASK]),
        (["--edit-format", "diff"], ["--edit-format", "diff"]),
    ],
)
def test_mask_args(args: list[str], masked: list[str]) -> None:
    assert mask_args(args) == masked


def test_invocation_repr_masks_secret_flags_and_shortens_the_prompt() -> None:
    inv = Invocation("x" * 500, task_id="ar-1", extra_args=("--api-key", SECRET))
    text = repr(inv)
    assert SECRET not in text
    assert "ar-1" in text
    assert len(text) < 400


def test_building_an_agent_env_registers_its_secrets_for_redaction(tmp_path: Path) -> None:
    config = AgentConfig(name="command", command=["env"], pass_env=["ANTHROPIC_API_KEY"])
    get_agent("command", config).env(
        {"PATH": "/bin", "ANTHROPIC_API_KEY": SECRET}, Invocation("p", workdir=tmp_path)
    )
    text = f"error: key {SECRET} refused; retrying with {SECRET}"
    masked = redaction.MASK
    assert redaction.redact(text) == f"error: key {masked} refused; retrying with {masked}"


@pytest.mark.parametrize("name", sorted(AGENTS))
def test_no_argv_carries_a_key(name: str, tmp_path: Path) -> None:
    agent = get_agent(name, AgentConfig(name=name, command=["a", "{prompt}"]))
    inv = Invocation("p", workdir=tmp_path, home=tmp_path)
    assert not any(SECRET in arg for arg in agent.headless_argv(inv))
    assert not any(SECRET in arg for arg in agent.interactive_argv("p"))


def test_running_an_agent_logs_its_argv_but_not_its_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    agent = get_agent("command", AgentConfig(name="command", command=["env"], pass_env=["X"]))
    inv = Invocation("p", workdir=tmp_path)
    env = agent.env({"PATH": "/usr/bin:/bin", "X": "1", "MY_API_KEY": SECRET}, inv)
    env["MY_API_KEY"] = SECRET  # as a runner adding a key of its own would
    with caplog.at_level(logging.DEBUG):
        result = proc.run(agent.headless_argv(inv), env=env)
        logging.getLogger("isollm.test").debug("agent env: %s", env)
    assert f"MY_API_KEY={SECRET}" in result.stdout  # the process did get it
    assert SECRET not in caplog.text
    assert "env" in caplog.text
