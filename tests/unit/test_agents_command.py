"""The ``command`` agent: placeholders filled inside argv elements, never a shell."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from isollm import proc
from isollm.agents import Invocation, get_agent
from isollm.agents.command import fill
from isollm.config.model import AgentConfig
from isollm.errors import AgentError

VALUES = {"prompt": "do it", "task_id": "ar-1", "title": "T", "workdir": "/w", "model": "m"}


def test_placeholders_are_replaced_inside_elements() -> None:
    template = ["run", "--task={task_id}", "{workdir}/out", "{prompt}", "-m", "{model}"]
    assert fill(template, VALUES) == ["run", "--task=ar-1", "/w/out", "do it", "-m", "m"]


def test_other_braces_are_left_alone() -> None:
    template = ['{"json": true}', "{unknown}", "{{prompt}}", "${HOME}"]
    assert fill(template, VALUES) == ['{"json": true}', "{unknown}", "{do it}", "${HOME}"]


def test_values_are_not_substituted_twice() -> None:
    values = {**VALUES, "prompt": "{title} {task_id}"}
    assert fill(["{prompt}"], values) == ["{title} {task_id}"]


def test_a_value_never_splits_into_more_arguments() -> None:
    values = {**VALUES, "prompt": "a b\nc; rm -rf / && echo $(id)"}
    assert fill(["x", "{prompt}"], values) == ["x", "a b\nc; rm -rf / && echo $(id)"]


def test_headless_argv_fills_the_template_and_appends_args(tmp_path: Path) -> None:
    config = AgentConfig(name="command", command=["agent", "{task_id}", "{title}"], args=["-v"])
    agent = get_agent(None, config)
    inv = Invocation("p", task_id="ar-9", title="Title here", workdir=tmp_path, extra_args=("-x",))
    assert agent.headless_argv(inv) == ["agent", "ar-9", "Title here", "-v", "-x"]
    assert agent.binary == "agent"


def test_configured_binary_replaces_the_program(tmp_path: Path) -> None:
    config = AgentConfig(name="command", command=["agent", "{prompt}"], binary="/opt/agent")
    assert get_agent(None, config).headless_argv(Invocation("p"))[0] == "/opt/agent"


def test_without_a_command_it_says_what_to_configure() -> None:
    agent = get_agent("command", AgentConfig(name="claude"))
    with pytest.raises(AgentError, match="no command") as info:
        agent.headless_argv(Invocation("p"))
    assert "agent.command" in str(info.value)


def test_env_carries_the_task(tmp_path: Path) -> None:
    agent = get_agent("command", AgentConfig(name="command", command=["a"]))
    env = agent.env({"PATH": "/bin"}, Invocation("the prompt", task_id="ar-2", title="Two"))
    assert env["ISOLLM_TASK_ID"] == "ar-2"
    assert env["ISOLLM_TASK_TITLE"] == "Two"
    assert env["ISOLLM_PROMPT"] == "the prompt"


def test_a_real_program_receives_hostile_text_verbatim(tmp_path: Path) -> None:
    """Run a real process: the prompt arrives as one argument and nothing is executed."""
    writer = "import pathlib, sys; pathlib.Path(sys.argv[2]).write_text(sys.argv[1])"
    config = AgentConfig(
        name="command", command=[sys.executable, "-c", writer, "{prompt}", "{workdir}/got.txt"]
    )
    agent = get_agent(None, config)
    hostile = f"$(touch {tmp_path}/pwned); `touch {tmp_path}/pwned2` && echo 'x' > {tmp_path}/p3"
    inv = Invocation(hostile, task_id="ar-3", workdir=tmp_path)
    result = proc.run(agent.headless_argv(inv), env=agent.env({"PATH": "/usr/bin:/bin"}, inv))
    assert (tmp_path / "got.txt").read_text() == hostile
    assert sorted(p.name for p in tmp_path.iterdir()) == ["got.txt"]
    assert agent.parse_result(result.returncode, result.stdout).success
