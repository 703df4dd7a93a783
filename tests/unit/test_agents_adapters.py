"""One contract every agent adapter keeps, run against each of them."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from isollm.agents import AGENTS, Invocation, get_agent
from isollm.agents.base import Agent
from isollm.agents.envvars import BASE_PASSTHROUGH
from isollm.config.model import AgentConfig

SECRET = "sk-contract-secret-value-1234"
NASTY_PROMPT = "--help; $(touch /tmp/pwned) `id` && rm -rf ~ 'quoted' \"double\""
COMMAND = ["my-agent", "--message", "{prompt}"]
CLI_AGENTS = sorted(set(AGENTS) - {"command"})


def make(name: str, **config: object) -> Agent:
    return get_agent(name, AgentConfig(name=name, command=COMMAND, **config))


@pytest.fixture(params=sorted(AGENTS))
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def agent(name: str) -> Agent:
    return make(name)


def invocation(tmp_path: Path, **overrides: object) -> Invocation:
    values: dict[str, object] = {
        "prompt": NASTY_PROMPT,
        "task_id": "ar-1a2b",
        "title": "Fix the thing",
        "workdir": tmp_path,
    }
    values.update(overrides)
    return Invocation(**values)


def secrets_env(agent: Agent) -> dict[str, str]:
    keys = getattr(agent, "secret_keys", ())
    return {"PATH": "/usr/bin:/bin", "HOME": "/home/someone", **dict.fromkeys(keys, SECRET)}


def test_headless_argv_starts_with_the_binary_and_uses_no_shell(
    agent: Agent, tmp_path: Path
) -> None:
    argv = agent.headless_argv(invocation(tmp_path))
    assert argv[0] == agent.binary
    assert Path(argv[0]).name not in ("sh", "bash", "dash", "zsh")
    assert all(isinstance(arg, str) for arg in argv)


def test_the_prompt_is_one_argument_that_cannot_be_read_as_a_flag(
    agent: Agent, tmp_path: Path
) -> None:
    argv = agent.headless_argv(invocation(tmp_path))
    holding = [i for i, arg in enumerate(argv) if NASTY_PROMPT in arg]
    assert len(holding) == 1
    i = holding[0]
    if argv[i] == NASTY_PROMPT and agent.name != "command":
        assert argv[i - 1] == "--", argv  # after the end of options
    elif argv[i] != NASTY_PROMPT:
        flag_name, _, value = argv[i].partition("=")
        assert flag_name.startswith("--"), argv
        assert value == NASTY_PROMPT, argv


def test_the_prompt_is_not_in_interactive_argv_unless_given(agent: Agent) -> None:
    assert not any("hello there" in arg for arg in agent.interactive_argv())
    argv = agent.interactive_argv("hello there")
    assert argv[0] == agent.binary
    if agent.name != "aider":  # aider takes no first prompt interactively
        assert any("hello there" in arg for arg in argv)


def test_auto_approve_is_opt_in_for_interactive_sessions(agent: Agent) -> None:
    flags = set(getattr(agent, "approve_flags", ()))
    assert not flags & set(agent.interactive_argv())
    assert flags <= set(agent.interactive_argv(auto_approve=True))


def test_headless_runs_approve_every_tool_call(agent: Agent, tmp_path: Path) -> None:
    argv = agent.headless_argv(invocation(tmp_path))
    assert set(getattr(agent, "approve_flags", ())) <= set(argv)


@pytest.mark.parametrize("cli", CLI_AGENTS)
def test_invocation_model_overrides_the_configured_one(cli: str, tmp_path: Path) -> None:
    agent = make(cli, model="configured-model")
    assert "configured-model" in agent.headless_argv(invocation(tmp_path))
    argv = agent.headless_argv(invocation(tmp_path, model="chosen-model"))
    assert "chosen-model" in argv
    assert "configured-model" not in argv


def test_configured_and_extra_args_come_after_the_adapter_flags(name: str, tmp_path: Path) -> None:
    agent = make(name, args=["--configured"])
    argv = agent.headless_argv(invocation(tmp_path, extra_args=("--extra",)))
    assert argv.index("--configured") < argv.index("--extra")


def test_env_passes_only_what_the_agent_needs(agent: Agent, tmp_path: Path) -> None:
    host = {
        **secrets_env(agent),
        "LANG": "C.UTF-8",
        "UNRELATED_SECRET_TOKEN": SECRET + "-other",
        "DATABASE_URL": "postgres://prod",
        "GIT_DIR": "/somewhere/else",
    }
    env = agent.env(host, invocation(tmp_path))
    assert env["PATH"] == host["PATH"]
    assert env["LANG"] == "C.UTF-8"
    assert "UNRELATED_SECRET_TOKEN" not in env
    assert "DATABASE_URL" not in env
    assert "GIT_DIR" not in env
    allowed = {*BASE_PASSTHROUGH, "HOME", "TMPDIR"}
    allowed |= set(getattr(agent, "secret_keys", ())) | set(getattr(agent, "passthrough", ()))
    allowed |= set(agent.env({}, invocation(tmp_path)))  # the adapter's own settings
    assert set(env) <= allowed


def test_env_passes_its_api_keys_and_configured_variables(name: str, tmp_path: Path) -> None:
    agent = make(name, pass_env=["MY_PROXY_SETTING"])
    host = {**secrets_env(agent), "MY_PROXY_SETTING": "on"}
    env = agent.env(host, invocation(tmp_path))
    assert env["MY_PROXY_SETTING"] == "on"
    for key in getattr(agent, "secret_keys", ()):
        assert env[key] == SECRET


def test_env_uses_the_invocation_home_and_tmpdir(agent: Agent, tmp_path: Path) -> None:
    inv = invocation(tmp_path, home=tmp_path / "h", tmpdir=tmp_path / "t")
    env = agent.env({"HOME": "/root", "TMPDIR": "/tmp"}, inv)
    assert env["HOME"] == str(tmp_path / "h")
    assert env["TMPDIR"] == str(tmp_path / "t")


def test_printing_the_env_never_shows_a_key(agent: Agent, tmp_path: Path) -> None:
    env = agent.env(secrets_env(agent), invocation(tmp_path))
    assert SECRET not in repr(env)
    assert SECRET not in str(env)
    assert SECRET not in f"{env}"


def test_prepare_writes_private_files_without_secrets(
    agent: Agent, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in secrets_env(agent).items():
        monkeypatch.setenv(key, value)
    written = agent.prepare(tmp_path / "home")
    for path in written:
        assert path.is_relative_to(tmp_path / "home")
        assert SECRET not in path.read_text()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("cli", CLI_AGENTS)
def test_base_url_setting_reaches_the_cli(cli: str, tmp_path: Path) -> None:
    url = "http://proxy.internal:8080/v1"
    agent = make(cli, base_url=url)
    home = tmp_path / "home"
    env = agent.env(
        {"ANTHROPIC_BASE_URL": "http://other", "OPENAI_API_BASE": "http://other"},
        invocation(tmp_path, home=home),
    )
    files = "".join(p.read_text() for p in agent.prepare(home))
    assert url in env.values() or url in files
    assert "http://other" not in env.values()


def test_a_killed_agent_is_a_failure_naming_the_signal(agent: Agent) -> None:
    outcome = agent.parse_result(-9, "")
    assert not outcome.success
    assert "SIGKILL" in outcome.summary


def test_a_non_zero_exit_is_a_failure(agent: Agent) -> None:
    assert not agent.parse_result(2, "something went wrong\n").success


def test_instruction_file_is_claude_md_only_for_claude(agent: Agent) -> None:
    expected = "CLAUDE.md" if agent.name == "claude" else "AGENTS.md"
    assert agent.instruction_file == expected


def test_sandboxed_claude_may_skip_permissions_as_root(tmp_path: Path) -> None:
    agent = make("claude")
    assert "IS_SANDBOX" not in agent.env({}, invocation(tmp_path))
    assert agent.env({}, invocation(tmp_path, sandboxed=True))["IS_SANDBOX"] == "1"


def test_interactive_claude_reads_the_key_through_a_helper(tmp_path: Path) -> None:
    agent = make("claude")
    home = tmp_path / "home"
    files = {p.relative_to(home).as_posix(): p.read_text() for p in agent.prepare(home, tmp_path)}
    host = {"ANTHROPIC_API_KEY": SECRET}
    headless = agent.env(host, invocation(tmp_path, home=home))
    assert headless["ANTHROPIC_API_KEY"] == SECRET
    assert headless["CLAUDE_CONFIG_DIR"] == str(home / ".claude")
    pane = agent.env(host, invocation(tmp_path, home=home, interactive=True))
    assert "ANTHROPIC_API_KEY" not in pane
    assert pane["ISOLLM_ANTHROPIC_API_KEY"] == SECRET
    assert pane["CLAUDE_CONFIG_DIR"] == str(home / ".claude-keyhelper")
    assert "printenv ISOLLM_ANTHROPIC_API_KEY" in files[".claude-keyhelper/settings.json"]
    assert f'"{tmp_path}"' in files[".claude/.claude.json"]  # the workdir is trusted


def test_interactive_claude_without_an_api_key_keeps_its_own_login(tmp_path: Path) -> None:
    agent = make("claude")
    inv = invocation(tmp_path, home=tmp_path / "h", interactive=True)
    env = agent.env({"CLAUDE_CODE_OAUTH_TOKEN": SECRET}, inv)
    assert env["CLAUDE_CODE_OAUTH_TOKEN"] == SECRET
    assert env["CLAUDE_CONFIG_DIR"] == str(tmp_path / "h" / ".claude")


def test_codex_settings_trust_the_workdir_and_keep_keys_from_its_commands(
    tmp_path: Path,
) -> None:
    agent = make("codex", base_url="http://gw/v1", model="o4-mini")
    (config,) = agent.prepare(tmp_path / "home", Path("/work/repo"))
    text = config.read_text()
    assert config == tmp_path / "home" / ".codex" / "config.toml"
    assert '[projects."/work/repo"]\ntrust_level = "trusted"' in text
    assert "shell_snapshot = false" in text
    assert "daemon_auto_start = false" in text
    assert '"OPENAI_API_KEY"' in text
    assert 'env_key = "OPENAI_API_KEY"' in text
    assert 'model = "o4-mini"' in text
    env = agent.env({}, invocation(tmp_path, home=tmp_path / "home"))
    assert env["CODEX_HOME"] == str(tmp_path / "home" / ".codex")


def test_gemini_reads_agents_md_and_uses_the_api_key(tmp_path: Path) -> None:
    (settings,) = make("gemini").prepare(tmp_path)
    document = json.loads(settings.read_text())
    assert document["context"]["fileName"][0] == "AGENTS.md"
    assert document["security"]["auth"]["selectedType"] == "gemini-api-key"
    assert document["privacy"]["usageStatisticsEnabled"] is False
