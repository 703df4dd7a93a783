"""``isollm up`` / ``attach`` / ``down`` end to end with REAL tmux: the installed command,
a real git repository and hub, a real task server, real overlay sandboxes, and the
``command`` agent (a small ``sh`` script in the repository) running interactively in
its pane through ``isollm attach W``.

Each test has a project name of its own: tmux sockets (``isollm-<project>``) and
sandboxes are machine-wide. Whatever a test leaves running is stopped at teardown.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import ckdl
import pytest

from isollm import config as cfg
from isollm import fsutil
from isollm.session.mux import session_name
from tests.conftest import git
from tests.e2e.cli import ISOLLM
from tests.e2e.run_support import RunProject, run_project, story, wait_for

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

# The agent: claims the next task, commits a file on the task's branch and delivers it
# with `airyra done` (through the task server), then waits like an agent at its prompt.
WORK = """echo "agent started: $1"
out=$(airyra claim-next --json) || { echo "claim failed: $out"; exec sleep 600; }
id=$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("id", ""))')
[ -n "$id" ] || { echo "no task"; exec sleep 600; }
git switch -q -c "isollm/$id"
printf '%s\\n' "$id" > "task-$id.txt"
git add "task-$id.txt" && git commit -qm "$id: work"
airyra done "$id" && echo "delivered $id"
exec sleep 600
"""
# An agent that does nothing but wait (a human drives the worker).
IDLE = 'echo "agent started: $1"; exec sleep 600\n'
# An agent that ends at once: its pane drops to a shell in the sandbox.
QUITS = 'echo "agent started: $1"; exit 3\n'


class Session(RunProject):
    @property
    def socket(self) -> str:
        return session_name(self.config.project)

    def tmux(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if check:
            assert result.returncode == 0, result
        return result.stdout

    def panes(self) -> dict[str, str]:
        """Pane title -> pane id, of the project's tmux server ({} when there is none)."""
        out = self.tmux("list-panes", "-a", "-F", "#{@isollm_title}\t#{pane_id}", check=False)
        return dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)

    def screen(self, title: str) -> str:
        return self.tmux("capture-pane", "-p", "-J", "-t", self.panes()[title])

    def use(self, script: str) -> None:
        """The ``command`` agent running ``script`` (a file in the repository: the
        sandbox hides /tmp), committed and on the hub."""
        (self.root / "agent.sh").write_text(script)
        loaded = cfg.load(self.root)
        agent = {"name": "command", "command": ["sh", "agent.sh", "{prompt}"]}
        c = dataclasses.replace(
            loaded.config, agent=dataclasses.replace(loaded.config.agent, **agent)
        )
        cfg.save(loaded.path, c)
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "-m", "the agent")

    def session_file(self) -> Path:
        return self.root / ".isollm" / "session.json"

    def mounts(self) -> list[str]:
        home = str(fsutil.isollm_home())
        lines = Path("/proc/self/mounts").read_text().splitlines()
        return [m.split()[1] for m in lines if m.split()[1].startswith(home)]

    def close(self) -> None:
        self.tmux("kill-server", check=False)
        super().close()


@pytest.fixture
def session(git_repo: Path) -> Iterator[Session]:
    with run_project(git_repo) as p:
        s = Session(p.root, p.port)
        text = (s.root / "isollm.yaml").read_text()
        name = f"s{uuid.uuid4().hex[:8]}"
        (s.root / "isollm.yaml").write_text(text.replace("project: repo", f"project: {name}"))
        assert s.config.project == name
        git(s.root, "commit", "-q", "-am", "a project of its own")
        try:
            yield s
        finally:
            s.close()


def test_up_runs_every_agent_in_a_pane_and_down_leaves_nothing(session: Session) -> None:
    session.use(WORK)
    task = session.add("write the file")

    result = session.isollm("up", "--detach", "-n", "2", "--mux", "tmux")

    assert "worker-1: created" in result.stdout, story(result)
    assert sorted(session.panes()) == ["dashboard", "worker-1", "worker-2"]
    wait_for(lambda: session.task(task).status == "done", 60, "the task done")
    assert session.hub_show(task, f"task-{task}.txt") == task
    assert session.hub_log(task) == [f"{task}: work"]
    wait_for(
        lambda: any(f"delivered {task}" in session.screen(w) for w in ("worker-1", "worker-2")), 10
    )
    recorded = json.loads(session.session_file().read_text())
    assert (recorded["status"], recorded["multiplexer"]) == ("running", "tmux")
    status = session.json("status")
    assert [w["name"] for w in status["workers"]] == ["worker-1", "worker-2"]
    # The dashboard pane is shorter than the view: its workers are what stay on it.
    wait_for(lambda: "worker-2" in session.screen("dashboard"), 10, "the workers on it")

    again = session.isollm("up", "--detach", code=1)
    assert "already running" in again.stderr
    assert "isollm attach" in again.stderr

    down = session.isollm("down", "--yes")

    assert "session ended: 2 worker(s) stopped" in down.stdout, story(down)
    assert session.panes() == {}
    assert not session.session_file().exists()
    # `isollm status --brief` no longer prints the dashboard's last line (tmux up)
    assert not (session.root / ".isollm" / "status-brief.txt").exists()
    assert [t.status for t in session.client.all_tasks()] == ["done"]
    assert session.mounts() == []


def test_down_asks_then_salvages_a_dirty_worker_and_releases_its_task(session: Session) -> None:
    session.use(IDLE)
    task = session.add("held by a worker")
    session.isollm("up", "--detach", "-n", "1", "--mux", "tmux", "--idle")
    session.isollm("worker", "exec", "-T", "worker-1", "--", "sh", "-c", "echo unsaved > notes.txt")
    session.client.claim(task, agent="worker-1")  # as the worker's agent would

    unanswered = subprocess.run(
        [ISOLLM, "down"],
        cwd=session.root,
        input="",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert unanswered.returncode == 1, story(unanswered)  # not "interrupted" (130)
    assert "its input ended before an answer; nothing was changed" in unanswered.stderr
    assert "isollm down --yes" in unanswered.stderr

    kept = subprocess.run(
        [ISOLLM, "down"],
        cwd=session.root,
        input="c\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert kept.returncode == 1, story(kept)
    assert "worker-1: 1 uncommitted change(s): notes.txt" in kept.stdout
    assert "cancelled" in kept.stderr
    assert sorted(session.panes()) == ["dashboard", "worker-1"]
    assert session.session_file().exists()

    down = session.isollm("down", "--yes")

    assert "worker-1: saved" in down.stdout, story(down)
    assert f"back in the queue: {task}" in down.stdout
    refs = session.git_hub("for-each-ref", "--format=%(refname)", "refs/isollm/salvage/worker-1")
    assert len(refs.split()) == 1
    assert session.git_hub("show", f"{refs.strip()}:notes.txt") == "unsaved"
    assert session.task(task).status == "open"
    assert session.panes() == {}


def test_a_killed_tmux_server_is_taken_back_with_the_same_workers(session: Session) -> None:
    session.use(IDLE)
    session.isollm("up", "--detach", "-n", "2", "--mux", "tmux")
    wait_for(lambda: "agent started" in session.screen("worker-2"), 20, "the agents")
    session.isollm("worker", "exec", "-T", "worker-2", "--", "sh", "-c", "echo wip > wip.txt")

    session.tmux("kill-server")
    again = session.isollm("up", "--detach", "-n", "2", "--mux", "tmux")

    assert "took over the session" in again.stdout, story(again)
    assert "worker-1: running, on main" in again.stdout
    assert "worker-2: running, on main" in again.stdout
    assert "created" not in again.stdout
    assert sorted(session.panes()) == ["dashboard", "worker-1", "worker-2"]
    wait_for(lambda: "agent started" in session.screen("worker-2"), 20, "the agent again")
    kept = session.isollm("worker", "exec", "-T", "worker-2", "--", "cat", "wip.txt")
    assert kept.stdout == "wip\n"  # no work lost

    # A worker with a pane is shown in it, never given a second agent beside the first.
    shown = session.isollm("attach", "worker-2", code=1, timeout=20)
    assert "isollm attach needs a terminal" in shown.stderr, story(shown)
    other = session.isollm("attach", "worker-2", "--idle", code=1, timeout=20)
    assert "worker-2's agent already runs in its pane" in other.stderr, story(other)
    assert session.screen("worker-2").count("agent started") == 1
    session.isollm("down", "--yes")


def test_an_agent_that_exits_leaves_a_shell_in_its_sandbox(session: Session) -> None:
    session.use(QUITS)
    session.isollm("up", "--detach", "-n", "1", "--mux", "tmux", "--idle")
    wait_for(lambda: "this is a shell in worker worker-1" in session.screen("worker-1"), 20)
    pane = session.panes()["worker-1"]
    session.tmux("send-keys", "-t", pane, "echo in-$ISOLLM_WORKER-$AIRYRA_AGENT", "Enter")
    wait_for(lambda: "in-worker-1-worker-1" in session.screen("worker-1"), 10, "the shell")
    assert "agent started: \n" in session.screen("worker-1") + "\n"  # --idle: no prompt
    session.isollm("down", "--yes")


def test_without_a_session_attach_says_so_and_print_layout_starts_nothing(
    session: Session,
) -> None:
    result = session.isollm("attach", code=1)
    assert "no isollm session is running" in result.stderr
    assert "isollm up" in result.stderr

    shown = session.isollm("up", "--mux", "zellij", "--print-layout", "-n", "3")

    layout = ckdl.parse(shown.stdout, version=1)
    names = [n.properties.get("name") for n in _walk(layout.nodes) if n.name == "pane"]
    assert [n for n in names if n] == ["dashboard", "worker-1", "worker-2", "worker-3"]
    assert not session.session_file().exists()
    assert session.isollm("worker", "list").stdout.startswith("no workers yet")
    assert session.panes() == {}


def test_a_hub_without_your_latest_base_is_refused_unless_forced(session: Session) -> None:
    session.use(IDLE)
    session.isollm("sync", "push")
    (session.root / "new.txt").write_text("not on the hub yet\n")
    git(session.root, "add", "new.txt")
    git(session.root, "commit", "-q", "-m", "newer than the hub")

    refused = session.isollm("up", "--detach", "-n", "1", "--mux", "none", code=1)

    assert "the hub's main lacks 1 commit(s) of your main" in refused.stderr
    assert "isollm sync push" in refused.stderr
    assert not session.session_file().exists()

    forced = session.isollm("up", "--detach", "-n", "1", "--mux", "none", "--force")

    assert "workers would start without them (--force)" in forced.stderr, story(forced)
    assert "isollm attach WORKER" in forced.stdout
    assert json.loads(session.session_file().read_text())["multiplexer"] == "none"
    session.isollm("down", "--yes")
    assert not session.session_file().exists()


def _walk(nodes: list[ckdl.Node]) -> Iterator[ckdl.Node]:
    for node in nodes:
        yield node
        yield from _walk(node.children)


def test_a_session_without_panes_says_which_worker_to_attach(session: Session) -> None:
    """``--mux none``: no agent runs until ``isollm attach WORKER`` opens it in some
    terminal; until then the worker is "not attached", not "exited"."""
    session.use(IDLE)
    session.isollm("up", "--detach", "-n", "1", "--mux", "none")

    text = session.isollm("status").stdout

    assert "Session: running without a multiplexer, started" in text, text
    assert "(attach each worker: isollm attach worker-1)" in text, text
    assert "· not attached" in text, text
    assert "exited" not in text, text
    assert "Multiplexer: - none (none: the session has no panes)" in text, text
    assert session.json("status")["workers"][0]["state"] == "not-attached"

    # a terminal of its own (a tmux window here) opens the worker's agent
    root = str(session.root)
    session.tmux("new-session", "-d", "-s", "by-hand", "-c", root, ISOLLM, "attach", "worker-1")
    shown = lambda: session.tmux("capture-pane", "-p", "-t", "=by-hand:")  # noqa: E731
    wait_for(lambda: "agent started" in shown(), 30, "the agent started by `isollm attach`")
    after = session.isollm("status").stdout
    assert "not attached" not in after, after
    assert "attach each worker" not in after, after
    session.isollm("down", "--yes")
