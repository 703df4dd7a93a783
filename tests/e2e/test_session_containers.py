"""``isollm up`` / ``down`` with REAL tmux on the container backends (lxc, podman): the
installed command, a real hub and task server, real containers, and the ``command``
agent running interactively in its pane (``isollm attach W``, through the pty relay).

The containers have no network (``network: none``): the agent reaches the task server
only through its Unix socket, mounted into the container. Each test has a project of
its own and destroys its containers (``isollm down --destroy``, then the fixture).
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from isollm import config as cfg
from isollm.config.model import SandboxBackendName
from isollm.sandbox import containers, registry
from isollm.sandbox.base import Limits
from isollm.sandbox.lxc import config_lines
from isollm.sandbox.podman import run_argv
from isollm.tasks.server.options import socket_path
from tests.conftest import git
from tests.e2e.run_support import in_containers, run_project, story, wait_for
from tests.e2e.test_session_tmux import Session
from tests.integration.sandbox_support import container_base, podman_image, require_backend

__all__ = ["container_base", "podman_image"]  # the fixtures, for this module's tests

pytestmark = [
    pytest.mark.lxc,
    pytest.mark.timeout(180),
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

# The agent: says what it sees, tells isollm its state (what hooks run), claims the
# next task, commits on the task's branch, delivers with `airyra done` (through the task
# server), then reads a line from its terminal (the pane, through the pty relay).
AGENT = """echo "agent started: deliver=$ISOLLM_DELIVER airyra=$(command -v airyra) uid=$(id -u)"
airyra state working && echo "state told"
out=$(airyra claim-next --json) || { echo "claim failed: $out"; exec sleep 600; }
id=$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("id", ""))')
[ -n "$id" ] || { echo "no task"; exec sleep 600; }
git switch -q -c "isollm/$id"
printf '%s\\n' "$id" > "task-$id.txt"
git add "task-$id.txt" && git commit -qm "$id: work"
airyra done "$id" && echo "delivered $id" || echo "done failed"
read -r line && echo "typed: $line"
exec sleep 600
"""
BACKENDS: list[SandboxBackendName] = ["lxc", "podman"]


@pytest.fixture(params=BACKENDS)
def session(request: pytest.FixtureRequest, git_repo: Path) -> Iterator[Session]:
    backend: SandboxBackendName = request.param
    require_backend(request, backend)
    with run_project(git_repo) as p:
        s = Session(p.root, p.port)
        in_containers(s.root, backend, "c")
        try:
            yield s
        finally:
            s.close()


def _containers(project: str) -> list[str]:
    """The containers of ``project`` on this machine, of either backend."""
    prefix = containers.container_name(project, "")
    lxc = subprocess.run(["lxc-ls", "-1"], capture_output=True, text=True, check=False)
    podman = subprocess.run(
        ["podman", "ps", "-a", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    names = lxc.stdout.split() + podman.stdout.split()
    return [n for n in names if n.startswith(prefix)]


def _state(project: str, name: str) -> str:
    """``running``, ``stopped`` or ``missing``: container ``name`` of ``project``."""
    sandbox = registry.open_sandbox(project, name)
    assert isinstance(sandbox, containers.ContainerSandbox)
    return sandbox.state()


def test_an_agent_in_a_container_delivers_and_its_worker_comes_back_after_down(
    session: Session,
) -> None:
    project = session.config.project
    session.use(AGENT)
    task = session.add("write the file")

    result = session.isollm("up", "--detach", "-n", "1", "--mux", "tmux")

    assert "worker-1: created" in result.stdout, story(result)
    assert _containers(project) == [containers.container_name(project, "worker-1")]
    ended = ("delivered", "failed", "no task")
    wait_for(lambda: any(w in session.screen("worker-1") for w in ended), 60, "the agent")
    screen = session.screen("worker-1")
    assert f"delivered {task}" in screen, screen
    assert "agent started: deliver=1 airyra=/home/dev/.local/share/isollm/bin/airyra" in screen
    assert "uid=1000" in screen
    assert "state told" in screen
    assert session.task(task).status == "done"
    assert session.hub_log(task) == [f"{task}: work"]
    assert session.hub_show(task, f"task-{task}.txt") == task
    worker = session.json("status")["workers"][0]
    assert (worker["state"], worker["source"]) == ("working", "hook"), worker
    session.tmux("send-keys", "-t", session.panes()["worker-1"], "hello", "Enter")
    wait_for(lambda: "typed: hello" in session.screen("worker-1"), 10, "the pty relay")
    session.isollm("worker", "exec", "-T", "worker-1", "--", "sh", "-c", "echo wip > wip.txt")

    down = session.isollm("down", "--yes")

    assert "worker-1: saved" in down.stdout, story(down)
    refs = session.git_hub("for-each-ref", "--format=%(refname)", "refs/isollm/salvage/worker-1")
    assert session.git_hub("show", f"{refs.strip()}:wip.txt") == "wip"
    assert session.panes() == {}
    assert _state(project, "worker-1") == containers.STOPPED

    again = session.isollm("up", "--detach", "-n", "1", "--mux", "tmux", "--idle")

    assert "worker-1: restarted" in again.stdout, story(again)
    assert _state(project, "worker-1") == containers.RUNNING
    wait_for(lambda: "no task" in session.screen("worker-1"), 30, "the agent again")
    assert "state told" in session.screen("worker-1")  # the socket, after a restart
    kept = session.isollm("worker", "exec", "-T", "worker-1", "--", "cat", "wip.txt")
    assert kept.stdout == "wip\n"

    destroyed = session.isollm("down", "--yes", "--destroy")

    assert "session ended: 1 worker(s) destroyed" in destroyed.stdout, story(destroyed)
    assert not session.session_file().exists()
    assert _containers(project) == []
    assert session.mounts() == []


def test_up_refuses_an_agent_whose_cli_the_container_lacks(session: Session) -> None:
    loaded = cfg.load(session.root)
    c = loaded.config
    agent = dataclasses.replace(c.agent, name="command", command=["tmux", "{prompt}"])
    cfg.save(loaded.path, dataclasses.replace(c, agent=agent))  # tmux: on the host only
    git(session.root, "commit", "-q", "-am", "an agent the container lacks")

    refused = session.isollm("up", "--detach", "-n", "1", "--mux", "tmux", code=1)

    assert "command's CLI (tmux) is not installed in worker worker-1's" in refused.stderr, story(
        refused
    )
    assert "sandbox.backend: overlay" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert session.panes() == {}
    assert not session.session_file().exists()


def test_containers_are_shown_the_directory_task_servers_put_their_sockets_in() -> None:
    sock = socket_path(7432)
    assert sock.parent == containers.task_sockets_dir()
    assert containers.task_socket_inside(sock) == "/run/airyra/airyra-7432.sock"
    assert sock.parent.stat().st_mode & 0o777 == 0o711  # dev may reach it, not list it
    run = Path("/i/run")
    lines = config_lines("#", Path("/w"), Path("/h.git"), "none", [], v2=True, task_sockets=run)
    assert "lxc.mount.entry = /i/run run/airyra none bind,ro,create=dir 0 0" in lines
    argv = run_argv("c", "i", workspace=Path("/w"), hub=Path("/h"), network="none", limits=Limits())
    assert not any("/run/airyra" in a for a in argv)
    argv = run_argv(
        "c",
        "i",
        workspace=Path("/w"),
        hub=Path("/h"),
        network="none",
        limits=Limits(),
        task_sockets=run,
    )
    assert "/i/run:/run/airyra:ro" in argv  # read-only: nothing can be put there
