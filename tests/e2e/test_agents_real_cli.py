"""Each adapter drives its real agent CLI against the fake model server, offline.

For claude, codex, gemini and aider: prepare a private home, install the instruction
file, run the adapter's headless argv with its environment in a real git repository,
and check that the scripted file exists with its content, a commit holds it, the
instruction file reached the model but not the commit, the API key travelled only by
environment, and ``parse_result`` reports success (and tokens where the CLI reports
them). The CLIs come from ``./dev setup``: a missing one fails, it is not skipped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from isollm import proc
from isollm.agents import (
    AgentOutcome,
    Invocation,
    WorkerContext,
    get_agent,
    install,
    render,
    worker_env,
)
from isollm.agents.base import Agent
from isollm.config.model import AgentConfig, AgentOverride
from isollm.tasks.server.run import EmbeddedServer
from tests.conftest import git
from tests.fakemodel import FakeModelServer, Recorded, RunCommand, Script, WriteFile
from tests.fakemodel.script import texts

pytestmark = [pytest.mark.agents, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
NODE_BIN = ROOT / "tools" / "agents" / "node_modules" / ".bin"
CLI_PATHS = {
    "claude": NODE_BIN / "claude",
    "codex": NODE_BIN / "codex",
    "gemini": NODE_BIN / "gemini",
    "aider": ROOT / ".venv-aider" / "bin" / "aider",
}
KEY_VARIABLES = {
    "claude": "ANTHROPIC_API_KEY",
    "codex": "OPENAI_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "aider": "OPENAI_API_KEY",
}
SECRET = "sk-isollm-test-5ecret-value-0042"
AIRYRA_TOKEN = "airyra-test-token-77f0"
# Starts with dashes: it must reach the model as a prompt, never parse as a flag.
PROMPT = "--task ar-e2e1: create hello.txt saying hello"
TIMEOUT = 60
FILE_CONTENT = "hello from the agent\n"
CONTEXT_MARKER = "The sample project greets people politely."


def cli_path(name: str) -> Path:
    path = CLI_PATHS[name]
    if not os.access(path, os.X_OK):
        pytest.fail(f"the {name} CLI is not installed at {path}: run ./dev setup")
    return path


def script_for(name: str) -> Script:
    write = WriteFile("hello.txt", FILE_CONTENT)
    if name == "aider":  # aider commits its edits itself
        return Script(actions=(write,), commit_message="ar-e2e1: add hello.txt")
    # Commits only if the worker's environment reached the agent's shell tool (and, for
    # codex, its settings kept the model key away from that tool).
    checks = 'test -n "$AIRYRA_TOKEN" && test "$AIRYRA_AGENT" = w1 && '
    if name == "codex":
        checks += 'test -z "$OPENAI_API_KEY" && '
    commit = RunCommand(checks + "git add -A && git commit -q -m 'ar-e2e1: add hello.txt'")
    return Script(actions=(write, commit))


def override_for(name: str, server: FakeModelServer, tmp_path: Path) -> AgentOverride:
    binary = str(cli_path(name))
    if name == "claude":
        return AgentOverride(binary=binary, base_url=server.url)
    if name == "codex":
        return AgentOverride(binary=binary, base_url=f"{server.url}/v1", model="fake-model")
    if name == "gemini":
        return AgentOverride(binary=binary, base_url=server.url, model="gemini-fake")
    metadata = tmp_path / "model-metadata.json"
    costs = {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}
    info = {"max_input_tokens": 100000, "max_output_tokens": 4096, "mode": "chat", **costs}
    metadata.write_text(json.dumps({"openai/fake-model": {**info, "litellm_provider": "openai"}}))
    args = ["--edit-format", "diff", "--model-metadata-file", str(metadata), "--map-tokens", "0"]
    return AgentOverride(
        binary=binary, base_url=f"{server.url}/v1", model="openai/fake-model", args=args
    )


@dataclass
class Run:
    agent: Agent
    result: proc.Result
    outcome: AgentOutcome
    requests: list[Recorded]
    home: Path
    prepared: list[Path]


def run_headless(name: str, repo: Path, tmp_path: Path, script: Script | None = None) -> Run:
    home, tmpdir = tmp_path / "agent-home", tmp_path / "agent-tmp"
    tmpdir.mkdir()
    with FakeModelServer(script or script_for(name)) as server:
        config = AgentConfig(name="claude", per_agent={name: override_for(name, server, tmp_path)})
        agent = get_agent(name, config)
        prepared = agent.prepare(home)
        ctx = WorkerContext(project="sample", worker="w1", custom_context=CONTEXT_MARKER)
        install(repo, agent.instruction_file, ctx.for_task("ar-e2e1", "create hello.txt"))
        inv = Invocation(
            prompt=PROMPT,
            task_id="ar-e2e1",
            title="create hello.txt",
            workdir=repo,
            home=home,
            tmpdir=tmpdir,
            sandboxed=True,
        )
        host_env = {**os.environ, KEY_VARIABLES[name]: SECRET, "LITELLM_LOCAL_MODEL_COST_MAP": "1"}
        env = {**agent.env(host_env, inv), **worker_env(ctx, token=AIRYRA_TOKEN)}
        if name == "aider":
            env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # offline: no price list download
        result = proc.run(agent.headless_argv(inv), cwd=repo, env=env, timeout=TIMEOUT, check=False)
        outcome = agent.parse_result(result.returncode, result.stdout + result.stderr)
        return Run(agent, result, outcome, server.requests, home, prepared)


def model_requests(run: Run) -> list[Recorded]:
    return [r for r in run.requests if r.method == "POST"]


def saw_key(request: Recorded) -> bool:
    headers = request.headers
    values = [
        headers.get("x-api-key", ""),
        headers.get("x-goog-api-key", ""),
        headers.get("authorization", "").removeprefix("Bearer "),
    ]
    return SECRET in values or f"key={SECRET}" in request.path


def leaked_secrets(path: Path) -> list[tuple[Path, str]]:
    """Files under ``path`` holding the API key or the task server token."""
    files = [p for p in path.rglob("*") if p.is_file() and not p.is_symlink()]
    secrets = (SECRET, AIRYRA_TOKEN)
    return [(f, s) for f in files for s in secrets if s.encode() in f.read_bytes()]


def check_work(run: Run, repo: Path) -> None:
    story = (
        f"exit {run.result.returncode}\nstdout:\n{run.result.stdout}\nstderr:\n{run.result.stderr}"
    )
    assert run.result.returncode == 0, story
    assert (repo / "hello.txt").read_text() == FILE_CONTENT, story
    assert run.outcome.success, (run.outcome, story)
    assert git(repo, "log", "-1", "--format=%s").startswith("ar-e2e1"), story
    assert "hello.txt" in git(repo, "show", "--name-only", "--format=", "HEAD")


def check_context(run: Run, repo: Path) -> None:
    sent = [texts(r.body) for r in model_requests(run)]
    assert any(PROMPT in text for text in sent), "the prompt never reached the model"
    assert any(CONTEXT_MARKER in text for text in sent), "the instruction file was not read"
    committed = git(repo, "ls-tree", "-r", "--name-only", "HEAD").split()
    assert run.agent.instruction_file not in committed


def check_secrets(run: Run, name: str, tmp_path: Path) -> None:
    assert all(saw_key(r) for r in model_requests(run)), "the API key did not travel by env"
    for path in run.prepared:
        assert SECRET not in path.read_text(), f"the adapter wrote the API key to {path}"
    assert not leaked_secrets(tmp_path), f"{name} wrote a secret to disk"
    assert SECRET not in repr(run.agent.env({KEY_VARIABLES[name]: SECRET}, Invocation("p")))


def check_tokens(run: Run, name: str) -> None:
    outcome, script = run.outcome, script_for(name)
    assert outcome.tokens_in, run.result.stdout
    assert outcome.tokens_out, run.result.stdout
    if name == "aider":  # aider counts tokens itself and prices them from model metadata
        assert (outcome.cost_usd or 0) > 0, run.result.stdout
        return
    turns = [r for r in model_requests(run) if r.body.get("stream") or "stream" in r.path]
    assert outcome.tokens_in >= script.usage_in * len(turns)
    assert outcome.tokens_out >= script.usage_out * len(turns)
    if name == "claude":
        assert (outcome.cost_usd or 0) > 0


@pytest.mark.parametrize("name", ["claude", "codex", "gemini", "aider"])
def test_agent_cli_does_the_scripted_work(name: str, git_repo: Path, tmp_path: Path) -> None:
    run = run_headless(name, git_repo, tmp_path)
    wait_for(lambda: not processes_under(tmp_path), 10)
    assert not reap(tmp_path), f"{name} left processes running"
    check_work(run, git_repo)
    check_context(run, git_repo)
    check_secrets(run, name, tmp_path)
    check_tokens(run, name)


@pytest.mark.parametrize("name", ["claude", "codex", "gemini", "aider"])
def test_a_failing_model_is_reported_as_failure(name: str, git_repo: Path, tmp_path: Path) -> None:
    refusing = dataclasses.replace(script_for(name), fail_status=400)
    run = run_headless(name, git_repo, tmp_path, refusing)
    assert not run.outcome.success, run.result.stdout
    assert refusing.fail_message in run.outcome.summary, run.outcome
    assert not (git_repo / "hello.txt").exists()


class Tmux:
    """A private tmux server (its own socket, removed at the end) whose first pane runs
    ``argv`` in ``env``. The environment goes to the server process, never onto a
    command line."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="isollm-tmux-"))  # short: sockets have a limit
        self.socket = str(self.dir / "s")

    def tmux(self, *args: str, env: dict[str, str] | None = None) -> str:
        return proc.run(["tmux", "-S", self.socket, *args], env=env, timeout=10).stdout

    def start(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        size = ["-x", "200", "-y", "50"]
        self.tmux("new-session", "-d", "-s", "pane", *size, "-c", str(cwd), "--", *argv, env=env)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "pane")

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "pane", "-l", text)
        self.tmux("send-keys", "-t", "pane", "Enter")

    def stop(self) -> None:
        proc.run(["tmux", "-S", self.socket, "kill-server"], check=False, timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


def processes_under(path: Path) -> list[int]:
    """Processes whose command line or working directory lies under ``path``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if str(path) in cmdline or Path(cwd).is_relative_to(path):
            found.append(int(entry.name))
    return found


def reap(path: Path) -> list[int]:
    """Kill (by pid) whatever still runs from ``path``; return what had survived."""
    survivors = processes_under(path)
    for pid in survivors:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return survivors


def wait_for(predicate: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return predicate()


@pytest.mark.parametrize("name", ["claude", "codex", "gemini", "aider"])
def test_interactive_session_starts_at_the_prompt_and_works(
    name: str, git_repo: Path, tmp_path: Path
) -> None:
    """No onboarding, trust or "use this key?" question stops a pane: the first prompt
    (typed, for aider) is carried out."""
    home, tmpdir = tmp_path / "agent-home", tmp_path / "agent-tmp"
    tmpdir.mkdir()
    target = git_repo / "hello.txt"
    with FakeModelServer(script_for(name)) as server:
        config = AgentConfig(name="claude", per_agent={name: override_for(name, server, tmp_path)})
        agent = get_agent(name, config)
        agent.prepare(home, git_repo)
        install(git_repo, agent.instruction_file, WorkerContext(project="sample", worker="w1"))
        inv = Invocation(
            "", workdir=git_repo, home=home, tmpdir=tmpdir, sandboxed=True, interactive=True
        )
        host_env = {
            **os.environ,
            KEY_VARIABLES[name]: SECRET,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        }
        env = {**agent.env(host_env, inv), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        first = "" if name == "aider" else "create hello.txt"
        tmux = Tmux()
        try:
            tmux.start(agent.interactive_argv(first, auto_approve=True), git_repo, env)
            if name == "aider":
                assert wait_for(lambda: tmux.screen().rstrip().endswith(">"), TIMEOUT), (
                    tmux.screen()
                )
                tmux.type("create hello.txt")
            assert wait_for(
                lambda: target.exists() and target.read_text() == FILE_CONTENT, TIMEOUT
            ), tmux.screen()
        finally:
            tmux.stop()
            wait_for(lambda: not processes_under(tmp_path), 10)
            survivors = reap(tmp_path)
    assert not survivors, f"{name} left processes running after its pane closed"
    assert not leaked_secrets(tmp_path), f"{name} wrote a secret to disk"


def brief_command(brief: str, starts: str, task_id: str) -> str:
    """The first command quoted in the brief that starts with ``starts``, filled in."""
    commands = re.findall(r"`((?:airyra|git) [^`]+)`", brief)
    chosen = next(c for c in commands if c.startswith(starts))
    return chosen.replace("<task-id>", task_id).replace("<what changed>", "add hello.txt")


def test_the_interactive_brief_works_as_written(git_repo: Path, tmp_path: Path) -> None:
    """Claude Code runs the brief's own commands, verbatim, against a real task server
    and a real hub: claim, branch, heartbeat, commit, done. The brief tells it not to
    push (the hub is read-only to agents; the host takes the branch in), so the commit
    stays on the worker's branch."""
    hub = tmp_path / "hub.git"
    git(tmp_path, "clone", "-q", "--bare", str(git_repo), str(hub))
    checkout = tmp_path / "worker"
    git(tmp_path, "clone", "-q", str(hub), str(checkout))
    home, tmpdir = tmp_path / "agent-home", tmp_path / "agent-tmp"
    tmpdir.mkdir()
    with EmbeddedServer(tmp_path / "tasks") as tasks, tasks.client("sample") as client:
        task = client.add_task("create hello.txt")
        ctx = WorkerContext(
            project="sample",
            worker="w1",
            airyra_port=tasks.port,
            hub=str(hub),
            project_path=str(checkout),
        )
        brief = render(ctx)
        assert "Never run `git push`" in brief  # agents deliver with `airyra done`
        steps = ("airyra claim-next", "git fetch", "airyra heartbeat")
        commands = [brief_command(brief, s, task.id) for s in steps]
        after = [brief_command(brief, s, task.id) for s in ("git add", "airyra done")]
        actions = (
            *(RunCommand(c) for c in commands),
            WriteFile("hello.txt", FILE_CONTENT),
            *(RunCommand(c) for c in after),
        )
        with FakeModelServer(Script(actions=actions)) as server:
            agent = get_agent(
                "claude", AgentConfig(binary=str(cli_path("claude")), base_url=server.url)
            )
            agent.prepare(home, checkout)
            install(checkout, agent.instruction_file, ctx)
            inv = Invocation(
                "Follow CLAUDE.md: take one task and finish it.",
                workdir=checkout,
                home=home,
                tmpdir=tmpdir,
                sandboxed=True,
            )
            path = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"
            host_env = {**os.environ, "PATH": path, "ANTHROPIC_API_KEY": SECRET}
            env = {**agent.env(host_env, inv), **worker_env(ctx)}
            result = proc.run(
                agent.headless_argv(inv), cwd=checkout, env=env, timeout=TIMEOUT, check=False
            )
        story = result.stdout + result.stderr
        assert agent.parse_result(result.returncode, result.stdout).success, story
        assert client.get_task(task.id).status == "done", story
    branch = f"isollm/{task.id}"
    assert git(checkout, "log", "-1", "--format=%s", branch) == f"{task.id}: add hello.txt"
    assert git(checkout, "show", f"{branch}:hello.txt") + "\n" == FILE_CONTENT
    assert "CLAUDE.md" not in git(checkout, "ls-tree", "-r", "--name-only", branch).split()
