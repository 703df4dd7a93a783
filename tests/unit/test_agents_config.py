"""The ``agent:`` section of isollm.yaml: its fields and its rule."""

from __future__ import annotations

from typing import Any

import pytest

from isollm.config import Config, parse, render_template
from isollm.config.model import AgentOverride


def problems(agent: dict[str, Any]) -> tuple[list[str], list[str]]:
    config, report = parse({"project": "demo", "agent": agent})
    assert isinstance(config, Config)
    return [str(p) for p in report.errors], [str(p) for p in report.warnings]


def test_a_full_agent_section_loads() -> None:
    config, report = parse(
        {
            "project": "demo",
            "agent": {
                "name": "codex",
                "binary": "/opt/codex",
                "base_url": "https://gateway.example.com/v1",
                "pass_env": ["HTTPS_PROXY", "MY_VAR"],
                "per_agent": {
                    "claude": {"model": "opus", "args": ["--verbose"]},
                    "aider": {"base_url": "http://127.0.0.1:4000/v1"},
                },
            },
        }
    )
    assert report.ok, report.errors
    assert config.agent.binary == "/opt/codex"
    assert config.agent.pass_env == ["HTTPS_PROXY", "MY_VAR"]
    assert config.agent.per_agent["claude"] == AgentOverride(model="opus", args=["--verbose"])


def test_defaults_are_valid_and_documented() -> None:
    errors, warnings = problems({})
    assert (errors, warnings) == ([], [])
    template = render_template(Config(project="demo"))
    for key in ("binary:", "base_url:", "pass_env:", "per_agent:"):
        assert key in template


@pytest.mark.parametrize(
    ("agent", "message"),
    [
        ({"base_url": "ftp://x"}, "agent.base_url: 'ftp://x' is not an http:// or https:// URL"),
        ({"base_url": "localhost:8080"}, "is not an http:// or https:// URL"),
        ({"pass_env": ["OK", "1BAD"]}, "agent.pass_env[1]: '1BAD' is not an environment"),
        ({"pass_env": ["A=B"]}, "agent.pass_env[0]"),
        ({"per_agent": {"cursor": {}}}, "agent.per_agent.cursor: is not an agent"),
        ({"per_agent": {"codex": {"base_url": "nope"}}}, "agent.per_agent.codex.base_url"),
        ({"binary": "claude --verbose"}, "agent.binary: 'claude --verbose' must be one program"),
        ({"binary": " claude"}, "must be one program"),
        ({"name": "command"}, "agent.command: is required"),
        ({"name": "command", "command": [""]}, "agent.command[0]: must name the program"),
        (
            {"name": "command", "command": ["sh", "-c", "my-agent {prompt}"]},
            "agent.command[2]: puts task text inside a shell script",
        ),
        (
            {"name": "command", "command": ["/bin/bash", "-lc", "x --t={title}"]},
            "agent.command[2]: puts task text inside a shell script",
        ),
    ],
)
def test_invalid_settings_are_reported(agent: dict[str, Any], message: str) -> None:
    errors, _ = problems(agent)
    assert any(message in e for e in errors), errors


def test_passing_task_text_as_a_shell_argument_is_fine() -> None:
    errors, _ = problems(
        {"name": "command", "command": ["sh", "-c", 'my-agent "$1"', "sh", "{prompt}"]}
    )
    assert errors == []


def test_an_unknown_placeholder_is_a_warning() -> None:
    errors, warnings = problems({"name": "command", "command": ["a", "{branch}", "{prompt}"]})
    assert errors == []
    assert warnings == [
        "agent.command[1]: {branch} is left as is; placeholders: "
        "{prompt}, {prompt_file}, {task_id}, {title}, {workdir}, {model}"
    ]
