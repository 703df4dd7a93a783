"""The real Claude Code in a real tmux pane of an ``isollm up`` session, against the fake
model, does a task through the real workflow and reports its state through its hooks.

``isollm up --detach --mux tmux -n 1`` starts the worker's pane (``isollm attach worker-1``:
Claude Code interactively in its overlay sandbox, with the session's hook settings and
first prompt). The fake model's script then drives the instruction file's workflow from
inside the sandbox: ``airyra claim-next``, a branch, a file, a commit, ``airyra done``
(which delivers HEAD to the task's branch on the hub). Last it runs a command the
project's own Claude settings say to confirm first (a permission rule asks even when
permissions are bypassed, as they are in a sandbox), so the agent stops at a real
permission question; the test answers it in the pane.

Along the way the task server's record of the worker's state (what ``airyra hook claude``
reported from the hooks) goes working → waiting → idle, and the pane-text classifier
agrees with the live screen.

Codex, ended with ``isollm down`` and started again, continues the worker's own
conversation *and* gets the first prompt (``codex resume ID -- PROMPT``: ``--last``
takes none), so it goes back to the queue without anyone typing: the fake model sees
the first conversation and the prompt again in the second session's request.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from isollm import config as cfg
from isollm import proc
from isollm.agents import panestate
from isollm.agents.instructions import DEFAULT_SESSION_PROMPT
from isollm.agents.resume import codex_conversation, has_conversation
from isollm.sandbox import registry
from isollm.sandbox.bwrap import SANDBOX_HOME
from isollm.sandbox.overlay import OverlaySandbox
from isollm.session import firstprompt
from isollm.session.mux import session_name
from isollm.session.mux.tmux import Tmux
from tests.conftest import git
from tests.e2e.run_support import RunProject, run_project, story
from tests.e2e.test_agents_real_cli import KEY_VARIABLES, SECRET, cli_path
from tests.e2e.test_run_real_agents import files_holding
from tests.fakemodel import FakeModelServer, RunCommand, Script, WriteFile
from tests.fakemodel.script import texts

pytestmark = [pytest.mark.agents, pytest.mark.timeout(300)]

HELLO = "hello from the pane\n"
ASKED = "touch asked.txt"  # the command the project makes Claude Code ask about
WAIT = 120


@pytest.fixture
def project(git_repo: Path) -> Iterator[RunProject]:
    # The project's own Claude Code settings: confirm this command before running it.
    rules = {"permissions": {"ask": [f"Bash({ASKED})"]}}
    (git_repo / ".claude").mkdir()
    (git_repo / ".claude" / "settings.json").write_text(json.dumps(rules))
    git(git_repo, "add", ".claude")
    git(git_repo, "commit", "-q", "-m", "ask before touching asked.txt")
    with run_project(git_repo) as p:
        yield p


def workflow(task_id: str, *, ask: bool = True) -> Script:
    """The instruction file's workflow for one task, then (``ask``) the command that asks."""
    actions: tuple[RunCommand | WriteFile, ...] = (
        RunCommand("airyra claim-next --json"),
        RunCommand(f"git switch -c isollm/{task_id}"),
        WriteFile("hello.txt", HELLO),
        RunCommand(f"git add hello.txt && git commit -q -m '{task_id}: add hello.txt'"),
        RunCommand(f"airyra done {task_id}"),
    )
    if ask:
        actions += (RunCommand(ASKED),)
    # Each model turn takes a moment, so the working state lasts long enough to be seen.
    return Script(actions=actions, stream_delay=0.5)


class StateLog:
    """the worker's state as the task server has it, each change kept in order."""

    def __init__(self, project: RunProject, worker: str) -> None:
        self.project = project
        self.worker = worker
        self.seen: list[str] = []
        self.session_ids: set[str] = set()

    def look(self) -> str:
        states = self.project.client.agent_states(self.project.config.project)
        mine = [s for s in states if s.agent == self.worker]
        state = mine[0].state if mine else ""
        if mine and mine[0].session_id:
            self.session_ids.add(mine[0].session_id)
        if state and (not self.seen or self.seen[-1] != state):
            self.seen.append(state)
        return state

    def wait(self, state: str, pane: Tmux, until: Callable[[], bool] = lambda: True) -> None:
        """Until the worker's state is ``state`` and ``until()`` holds."""
        deadline = time.monotonic() + WAIT
        while not (self.look() == state and until()):
            if time.monotonic() > deadline:
                screen = pane.capture(self.worker)
                pytest.fail(f"{self.worker} never became {state} (seen: {self.seen})\n{screen}")
            time.sleep(0.1)


def pane_id(mux: Tmux, title: str) -> str:
    found = [p.pane_id for p in mux._list() if p.title == title]  # the pane id (test only)
    assert found, f"no pane {title}"
    return found[0]


def pane_settles(mux: Tmux, worker: str, seconds: float = 20, agent: str = "claude") -> str:
    """The pane's state once the debouncer reports a known one (or its last report)."""
    debounce = panestate.Debouncer()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if debounce.look(agent, mux.capture(worker)) not in ("unknown", "working"):
            break
        time.sleep(0.2)
    return debounce.state


@contextlib.contextmanager
def session(project: RunProject, agent: str) -> Iterator[Tmux]:
    mux = Tmux(session_name(project.config.project))
    up = ("up", "--detach", "--mux", "tmux", "-n", "1")
    result = project.isollm(*up, code=None, env={KEY_VARIABLES[agent]: SECRET})
    try:
        assert result.returncode == 0, story(result)
        yield mux
    finally:
        project.isollm("down", "--yes", code=None, timeout=120)
        proc.run(["tmux", "-L", mux.socket, "kill-server"], check=False, timeout=10)


def test_claude_in_a_pane_works_a_task_and_reports_its_state(project: RunProject) -> None:
    task_id = project.add("Greet the user")
    with FakeModelServer(workflow(task_id)) as server:
        agent = {"name": "claude", "binary": str(cli_path("claude")), "base_url": server.url}
        project.configure(workers=1, agent=agent)
        with session(project, "claude") as mux:
            (worker,) = [p.title for p in mux.panes() if p.title != "dashboard"]
            log = StateLog(project, worker)
            log.wait("waiting", mux)
            screen = mux.capture(worker)
            assert panestate.classify("claude", screen) == "waiting", screen
            assert "Do you want to proceed?" in screen

            # The task went through the real workflow before the question.
            assert project.task(task_id).status == "done", screen
            assert project.hub_show(task_id, "hello.txt") + "\n" == HELLO
            assert project.hub_log(task_id) == [f"{task_id}: add hello.txt"]

            proc.run(["tmux", "-L", mux.socket, "send-keys", "-t", pane_id(mux, worker), "Enter"])
            log.wait("idle", mux)
            # The screen agrees once Claude Code has finished its Stop hooks.
            assert pane_settles(mux, worker) == "idle", mux.capture(worker)

            (sb,) = registry.list_sandboxes(project.config.project)[0]
            assert isinstance(sb, OverlaySandbox)
            assert has_conversation("claude", sb.home, Path(sb.workspace))
            # Where Claude Code keeps its files, and what isollm wrote for the session.
            leaks = files_holding(sb.home, SECRET) + files_holding(project.root, SECRET)
            assert not leaks, f"the API key was written to {leaks}"
        told = f"states seen: {log.seen}"
        assert log.seen[0] in ("idle", "working"), told  # SessionStart, or already a turn
        assert "working" in log.seen, told
        assert log.seen.index("working") < log.seen.index("waiting") < len(log.seen) - 1, told
        assert log.seen[-1] == "idle", told
        assert log.session_ids, "SessionStart recorded no session id"
    assert "hello.txt" in project.git_hub("ls-tree", "-r", "--name-only", f"isollm/{task_id}")


AGENTS = {
    "codex": {"base": "/v1", "model": "fake-model"},
    "gemini": {"base": "", "model": "gemini-fake"},
}


@pytest.mark.parametrize("name", sorted(AGENTS))
def test_other_agents_in_a_pane_report_their_state_through_hooks(
    project: RunProject, name: str
) -> None:
    """Codex's hooks (trusted without a dialog) and Gemini CLI's (``airyra state``) report
    the workflow's turn: working, then idle once the task is done."""
    task_id = project.add("Greet the user")
    with FakeModelServer(workflow(task_id, ask=False)) as server:
        agent = {
            "name": name,
            "binary": str(cli_path(name)),
            "base_url": server.url + AGENTS[name]["base"],
            "model": AGENTS[name]["model"],
        }
        project.configure(workers=1, agent=agent)
        with session(project, name) as mux:
            (worker,) = [p.title for p in mux.panes() if p.title != "dashboard"]
            log = StateLog(project, worker)
            log.wait("idle", mux, until=lambda: "working" in log.seen)
            assert project.task(task_id).status == "done", mux.capture(worker)
            assert project.hub_log(task_id) == [f"{task_id}: add hello.txt"]
            assert pane_settles(mux, worker, agent=name) == "idle", mux.capture(worker)
            (sb,) = registry.list_sandboxes(project.config.project)[0]
            assert isinstance(sb, OverlaySandbox)
            leaks = files_holding(sb.home, SECRET) + files_holding(project.root, SECRET)
            assert not leaks, f"the API key was written to {leaks}"
            if name == "codex":
                assert has_conversation("codex", sb.home, Path(sb.workspace))
                assert log.session_ids, f"SessionStart recorded no session id ({log.seen})"


LONG_PROMPT = "Arbeite die Warteschlange ab: Ü漢字のテスト、" * 6_000  # about 300 KB of UTF-8


def test_a_first_prompt_too_long_for_a_command_line_reaches_claude_in_a_file(
    project: RunProject,
) -> None:
    """A ``session.prompt`` over 128 KiB cannot be an argument (``E2BIG``): the pane's
    Claude Code starts with a short prompt naming the file that holds it whole."""
    assert len(LONG_PROMPT.encode()) > 128 * 1024
    loaded = cfg.load(project.root)
    session_config = dataclasses.replace(loaded.config.session, prompt=LONG_PROMPT)
    cfg.save(loaded.path, dataclasses.replace(loaded.config, session=session_config))
    git(project.root, "commit", "-q", "-am", "a long first prompt")
    path = f"{SANDBOX_HOME}/{firstprompt.PROMPT_FILE}"
    digest = hashlib.sha256(LONG_PROMPT.encode()).hexdigest()
    script = Script(actions=(RunCommand(f"sha256sum {path}"),))
    with FakeModelServer(script) as server:
        agent = {"name": "claude", "binary": str(cli_path("claude")), "base_url": server.url}
        project.configure(workers=1, agent=agent)
        with session(project, "claude") as mux:
            (worker,) = [p.title for p in mux.panes() if p.title != "dashboard"]
            deadline = time.monotonic() + WAIT
            while not any(digest in texts(r.body) for r in server.posts("messages")):
                if time.monotonic() > deadline:
                    pytest.fail(f"the prompt file was never read whole\n{mux.capture(worker)}")
                time.sleep(0.2)
            bodies = [texts(r.body) for r in server.posts("messages")]
    assert any(firstprompt.pointer(Path(path)) in body for body in bodies)
    assert not any(LONG_PROMPT[:2000] in body for body in bodies)  # not on the command line


def test_claude_in_a_worktree_pane_uses_the_key_without_asking(project: RunProject) -> None:
    """A worktree (no isolation) runs the pane with your environment: Claude Code must
    still get its key through its key helper, not stop at "use this API key?"."""
    task_id = project.add("Greet the user")
    with FakeModelServer(workflow(task_id, ask=False)) as server:
        agent = {"name": "claude", "binary": str(cli_path("claude")), "base_url": server.url}
        project.configure(workers=1, agent=agent, backend="worktree")
        with session(project, "claude") as mux:
            (worker,) = [p.title for p in mux.panes() if p.title != "dashboard"]
            # not isolated: Claude Code asks before its first command, having used the key
            deadline = time.monotonic() + WAIT
            while "Do you want to proceed?" not in (screen := mux.capture(worker, 200)):
                assert "API key" not in screen, screen
                if time.monotonic() > deadline:
                    pytest.fail(f"Claude Code never asked about its command\n{screen}")
                time.sleep(0.2)
            assert server.posts("messages"), screen


ANSWER = "First conversation's answer: the queue is empty for now."


def _until(done: Callable[[], bool], what: str | Callable[[], str], mux: Tmux, worker: str) -> None:
    deadline = time.monotonic() + WAIT
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"{what if isinstance(what, str) else what()}\n{mux.capture(worker)}")
        time.sleep(0.2)


def _conversation(project: RunProject) -> str | None:
    (sb,) = registry.list_sandboxes(project.config.project)[0]
    assert isinstance(sb, OverlaySandbox)
    return codex_conversation(sb.home, Path(sb.workspace))


def _rollouts(project: RunProject) -> str:
    (sb,) = registry.list_sandboxes(project.config.project)[0]
    assert isinstance(sb, OverlaySandbox)
    found = sorted((sb.home / ".codex" / "sessions").rglob("*.jsonl*"))
    heads = [p.read_bytes().split(b"\n", 1)[0][:300].decode(errors="replace") for p in found]
    return f"no resumable conversation found in {found}: {heads}"


def test_codex_resumes_its_conversation_with_the_first_prompt(project: RunProject) -> None:
    with FakeModelServer(Script(final=ANSWER)) as server:
        agent = {
            "name": "codex",
            "binary": str(cli_path("codex")),
            "base_url": server.url + AGENTS["codex"]["base"],
            "model": AGENTS["codex"]["model"],
        }
        project.configure(workers=1, agent=agent)

        def asked() -> list[str]:
            bodies = [texts(r.body) for r in server.posts("responses")]
            return [b for b in bodies if DEFAULT_SESSION_PROMPT in b]

        with session(project, "codex") as mux:
            (worker,) = [p.title for p in mux.panes() if p.title != "dashboard"]
            _until(lambda: bool(asked()), "Codex never sent its first prompt", mux, worker)
            _until(lambda: ANSWER in mux.capture(worker), "Codex never answered", mux, worker)
            _until(
                lambda: _conversation(project) is not None, lambda: _rollouts(project), mux, worker
            )
            first = _conversation(project)
            assert all(ANSWER not in body for body in asked()), "a fresh conversation"
        # `isollm down` ended the pane and stopped the sandbox; `up` starts both again
        with session(project, "codex") as mux:

            def resumed() -> bool:
                return any(b.count(DEFAULT_SESSION_PROMPT) >= 2 and ANSWER in b for b in asked())

            _until(resumed, "Codex never went on with the first prompt", mux, worker)
            assert _conversation(project) == first, "the same conversation, continued"
