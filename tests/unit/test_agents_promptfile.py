"""A prompt too long for a command line reaches every adapter's CLI through a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from isollm.agents import get_agent
from isollm.agents.base import AgentSettings, Invocation
from isollm.agents.command import CommandAgent
from isollm.agents.promptfile import ARGV_PROMPT_MAX, PROMPT_FILE, staged
from isollm.config.model import AgentConfig

LONG = "Ü漢字のテスト、" * 10_000  # 220 KB of UTF-8: over one argument's 128 KiB limit


def argv_bytes(argv: list[str]) -> int:
    return sum(len(a.encode()) + 1 for a in argv)


@pytest.mark.parametrize("name", ["claude", "codex", "gemini", "aider"])
def test_a_long_prompt_goes_by_file(name: str, tmp_path: Path) -> None:
    agent = get_agent(name, AgentConfig())
    inv = Invocation(LONG, "ar-1", "t", tmp_path, home=tmp_path / "home")
    staged_agent, staged_inv = staged(agent, inv)
    argv = staged_agent.headless_argv(staged_inv)
    assert argv_bytes(argv) < ARGV_PROMPT_MAX
    assert any(str(tmp_path / "home" / PROMPT_FILE) in a for a in argv)
    written = staged_agent.prepare(tmp_path / "home", tmp_path)
    assert (tmp_path / "home" / PROMPT_FILE).read_text() == LONG
    assert tmp_path / "home" / PROMPT_FILE in written
    env = staged_agent.env({}, staged_inv)
    assert argv_bytes([f"{k}={v}" for k, v in env.items()]) < ARGV_PROMPT_MAX


def test_the_command_agent_gets_the_file_and_a_short_prompt(tmp_path: Path) -> None:
    agent = CommandAgent(AgentSettings(command=("run", "{prompt}", "{prompt_file}")))
    inv = Invocation(LONG, "ar-1", "t", tmp_path, home=tmp_path)
    _, staged_inv = staged(agent, inv)
    argv = agent.headless_argv(staged_inv)
    assert argv[2] == str(tmp_path / PROMPT_FILE)
    assert str(tmp_path / PROMPT_FILE) in argv[1]
    env = agent.fixed_env(staged_inv)
    assert env["ISOLLM_PROMPT_FILE"] == str(tmp_path / PROMPT_FILE)
    assert len(env["ISOLLM_PROMPT"]) < 1000


def test_a_short_prompt_stays_on_the_command_line(tmp_path: Path) -> None:
    agent = CommandAgent(AgentSettings(command=("run", "{prompt}")))
    inv = Invocation("do it", "ar-1", "t", tmp_path, home=tmp_path)
    same_agent, same_inv = staged(agent, inv)
    assert same_agent is agent
    assert agent.headless_argv(same_inv) == ["run", "do it"]


@pytest.mark.parametrize("field", ["title", "description"])
def test_a_nul_byte_in_a_task_is_refused_with_a_clear_error(field: str) -> None:
    from isollm.tasks.store.errors import ValidationFailedError
    from isollm.tasks.store.model import NewTask
    from isollm.tasks.store.validate import check_new_task

    values = {"title": "fine", field: "a\x00b"}
    with pytest.raises(ValidationFailedError, match="NUL"):
        check_new_task(NewTask(**values))  # type: ignore[arg-type]
