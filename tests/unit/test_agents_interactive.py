"""Interactive sessions, agent side: argv (resume, teammate mode), the hook settings each
CLI reads, whether a conversation can be resumed, and the session's first prompt."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import pytest

from isollm.agents import AGENTS, get_agent
from isollm.agents.base import AgentSettings
from isollm.agents.command import CommandAgent
from isollm.agents.hooks import (
    CLAUDE_EVENTS,
    CODEX_EVENTS,
    GEMINI_EVENTS,
    session_settings,
    supports_hooks,
)
from isollm.agents.instructions import DEFAULT_SESSION_PROMPT
from isollm.agents.resume import claude_project_dir, has_conversation

SECRET = "sk-isollm-unit-5ecret-0099"
WORKDIR = Path("/work/shop")


def test_claude_runs_teammates_in_process_and_resumes_with_continue() -> None:
    agent = get_agent("claude")
    argv = agent.interactive_argv("go", auto_approve=True)
    assert argv[argv.index("--teammate-mode") + 1] == "in-process"
    assert "--continue" not in argv
    resumed = agent.interactive_argv("go", auto_approve=True, resume=True)
    assert resumed[:2] == ["claude", "--continue"]
    assert resumed[-2:] == ["--", "go"]
    assert "--dangerously-skip-permissions" in resumed


def test_codex_resumes_the_last_session_without_a_prompt() -> None:
    agent = get_agent("codex")
    assert agent.interactive_argv("go")[-2:] == ["--", "go"]
    resumed = agent.interactive_argv("go", auto_approve=True, resume=True)
    assert resumed[:3] == ["codex", "resume", "--last"]
    assert "go" not in resumed
    assert "--dangerously-bypass-approvals-and-sandbox" in resumed


@pytest.mark.parametrize("name", ["gemini", "aider"])
def test_other_agents_start_fresh_when_asked_to_resume(name: str) -> None:
    agent = get_agent(name)
    assert agent.interactive_argv("go", resume=True) == agent.interactive_argv("go")
    assert "--teammate-mode" not in agent.interactive_argv("go")


def test_command_agent_ignores_resume() -> None:
    agent = CommandAgent(AgentSettings(command=("my-agent", "--message", "{prompt}")))
    assert agent.interactive_argv("hi", resume=True) == ["my-agent", "--message", "hi"]


def test_claude_codex_and_gemini_report_every_state_through_hooks() -> None:
    assert supports_hooks("claude")
    assert supports_hooks(get_agent("codex"))
    assert supports_hooks("gemini")
    assert not any(supports_hooks(name) for name in ("aider", "command"))


def claude_settings(path: Path) -> dict[str, object]:
    document = json.loads(path.read_text())
    assert isinstance(document, dict)
    return document


def test_claude_session_settings_hold_the_state_hooks(tmp_path: Path) -> None:
    written = session_settings(get_agent("claude"), tmp_path, WORKDIR)
    plain = tmp_path / ".claude" / "settings.json"
    routed = tmp_path / ".claude-keyhelper" / "settings.json"
    assert {plain, routed} <= set(written)
    assert len(written) == len(set(written))
    for path in (plain, routed):
        hooks = claude_settings(path)["hooks"]
        assert isinstance(hooks, dict)
        assert set(hooks) == set(CLAUDE_EVENTS)
        for event, entries in hooks.items():
            (entry,) = entries
            (command,) = entry["hooks"]
            assert command == {"type": "command", "command": "airyra hook claude", "timeout": 5}
            assert entry.get("matcher") == CLAUDE_EVENTS[event]
        assert hooks["Notification"][0]["matcher"] == "permission_prompt"
        assert os.stat(path).st_mode & 0o077 == 0
    # What prepare() writes is still there: the key helper, trust and onboarding.
    assert claude_settings(routed)["apiKeyHelper"] == "printenv ISOLLM_ANTHROPIC_API_KEY"
    assert "apiKeyHelper" not in claude_settings(plain)
    state = json.loads((tmp_path / ".claude" / ".claude.json").read_text())
    assert state["projects"][str(WORKDIR)]["hasTrustDialogAccepted"] is True


def test_codex_session_settings_hold_the_state_hooks(tmp_path: Path) -> None:
    settings = AgentSettings(model="o4-mini", base_url="http://127.0.0.1:9/v1")
    agent = AGENTS["codex"](settings)
    config, hooks_file = session_settings(agent, tmp_path, WORKDIR)
    assert hooks_file == tmp_path / ".codex" / "hooks.json"
    hooks = json.loads(hooks_file.read_text())["hooks"]
    assert set(hooks) == set(CODEX_EVENTS)
    for entries in hooks.values():
        assert entries == [
            {"hooks": [{"type": "command", "command": "airyra hook claude", "timeout": 5}]}
        ]
    document = tomllib.loads(config.read_text())
    assert "notify" not in document  # Codex notifies side threads' turns too
    assert document["allow_login_shell"] is False  # keeps the PATH to `airyra`
    assert document["model"] == "o4-mini"
    assert document["features"]["shell_snapshot"] is False
    assert document["projects"][str(WORKDIR)]["trust_level"] == "trusted"
    # Hooks run without the trust dialog, which would stop the pane.
    assert "--dangerously-bypass-hook-trust" in agent.interactive_argv("go")
    assert "--dangerously-bypass-hook-trust" in agent.interactive_argv("go", resume=True)


def test_gemini_session_settings_state_each_event(tmp_path: Path) -> None:
    agent = get_agent("gemini")
    (path,) = session_settings(agent, tmp_path, WORKDIR)
    document = json.loads(path.read_text())
    assert document["security"]["auth"]["selectedType"] == "gemini-api-key"  # as prepare()
    hooks = document["hooks"]
    assert set(hooks) == set(GEMINI_EVENTS)
    for event, (state, matcher) in GEMINI_EVENTS.items():
        (entry,) = hooks[event]
        assert entry.get("matcher") == matcher
        (command,) = entry["hooks"]
        assert command["command"] == f"airyra state {state} >/dev/null 2>&1 </dev/null || true"
        assert command["timeout"] == 5000
    assert hooks["Notification"][0]["matcher"] == "ToolPermission"
    assert "hooks" not in json.loads(agent.prepare(tmp_path / "plain")[0].read_text())


@pytest.mark.parametrize("name", ["aider"])
def test_agents_without_hooks_get_their_usual_settings(name: str, tmp_path: Path) -> None:
    agent = get_agent(name)
    other = tmp_path / "prepared"
    assert [p.relative_to(tmp_path) for p in session_settings(agent, tmp_path)] == [
        p.relative_to(other) for p in agent.prepare(other)
    ]


def test_session_settings_hold_no_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "AIRYRA_TOKEN"):
        monkeypatch.setenv(variable, SECRET)
    for name in ("claude", "codex", "gemini", "aider"):
        for path in session_settings(get_agent(name), tmp_path / name, WORKDIR):
            assert SECRET not in path.read_text(), path


def make_transcript(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "0b5e6c1a-8f4d-4d2c-9d7e-1f2a3b4c5d6e.jsonl").write_text("{}\n")


def test_a_claude_conversation_is_found_for_its_working_directory(tmp_path: Path) -> None:
    assert not has_conversation("claude", tmp_path, WORKDIR)
    assert claude_project_dir(WORKDIR) == "-work-shop"
    (tmp_path / ".claude" / "projects" / "-work-shop").mkdir(parents=True)
    assert not has_conversation("claude", tmp_path, WORKDIR), "an empty folder is no conversation"
    make_transcript(tmp_path / ".claude-keyhelper" / "projects" / "-work-shop")
    assert has_conversation("claude", tmp_path, WORKDIR)
    assert not has_conversation("claude", tmp_path, Path("/work/other"))


def test_a_long_working_directory_matches_claudes_shortened_name(tmp_path: Path) -> None:
    workdir = Path("/w/" + "x" * 250)
    name = claude_project_dir(workdir)[:200] + "-1k2j3h"
    make_transcript(tmp_path / ".claude" / "projects" / name)
    assert has_conversation("claude", tmp_path, workdir)


def test_links_planted_in_the_home_are_not_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    make_transcript(elsewhere / "projects" / "-work-shop")
    home = tmp_path / "home"
    home.mkdir()
    (home / ".claude").symlink_to(elsewhere)
    assert not has_conversation("claude", home, WORKDIR)
    (home / ".codex").mkdir()
    (home / ".codex" / "sessions").symlink_to(elsewhere / "projects")
    assert not has_conversation("codex", home, WORKDIR)


def test_a_codex_session_is_found_in_its_dated_folders(tmp_path: Path) -> None:
    assert not has_conversation("codex", tmp_path, WORKDIR)
    folder = tmp_path / ".codex" / "sessions" / "2026" / "12" / "05"
    make_transcript(folder)
    assert not has_conversation("codex", tmp_path, WORKDIR), "no session_meta: not Codex's"
    uuid = "0b5e6c1a-8f4d-4d2c-9d7e-1f2a3b4c5d6e"
    meta = {"type": "session_meta", "payload": {"id": uuid, "cwd": str(WORKDIR), "source": "cli"}}
    (folder / f"rollout-2026-12-05T09-00-00-{uuid}.jsonl").write_text(json.dumps(meta) + "\n")
    assert has_conversation("codex", tmp_path, WORKDIR)
    assert not has_conversation("aider", tmp_path, WORKDIR)


def test_the_default_session_prompt_names_the_workflow() -> None:
    for command in ("instruction file", "airyra claim-next", "airyra done"):
        assert command in DEFAULT_SESSION_PROMPT
