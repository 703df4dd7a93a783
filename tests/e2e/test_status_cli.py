"""`isollm status` as a user runs it: the installed command, a real task server, real
state files, a real sandbox, and `--watch` calling the user's notify command."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from isollm import config as cfg
from isollm import fsutil
from isollm.git.hub import Hub
from isollm.sandbox import registry
from isollm.session.mux.base import PaneSpec, SessionPlan, session_name
from isollm.session.mux.tmux import Tmux
from isollm.state import FileState, Session, SessionStatus
from isollm.tasks.client.http import TaskClient
from isollm.tasks.server import control
from tests.conftest import git, skip_or_fail
from tests.e2e.cli import ISOLLM, as_json, isollm
from tests.integration.status_support import project
from tests.integration.tasks_support import agent_token

__all__ = ["project"]  # the fixture, for this module's tests


def client(root: Path) -> TaskClient:
    loaded = cfg.load_valid(root)
    return control.ensure_server(loaded.config, loaded.root)


def test_text_brief_and_json_without_a_session(project: Path) -> None:
    text = isollm(project, "status").stdout
    assert text.startswith(f"isollm: {cfg.load(project).config.project}\n")
    assert "Session: none" in text
    assert "Task server: ○ down" in text
    data = as_json(project, "status")
    assert data["version"] == 1
    assert data["workers"] == []
    assert data["tasks"]["available"] is False
    assert [s["health"] for s in data["services"]] == ["down", "none"]
    brief = isollm(project, "status", "--brief").stdout
    assert brief == "workers: 0 | tasks: ? | task server ○ | multiplexer -\n"


def test_tasks_show_once_the_server_runs_and_brief_reuses_the_snapshot(project: Path) -> None:
    isollm(project, "server", "start")
    with client(project) as c:
        c.add_task("one")
        c.add_task("two \x1b]0;evil\x07")
    data = as_json(project, "status")
    assert (data["tasks"]["ready"], data["services"][0]["health"]) == (2, "up")
    assert (project / ".isollm" / "status.json").is_file()
    with client(project) as c:
        c.add_task("three")
    # fresh snapshot: --brief does not ask the server again
    assert "tasks: 2 ready" in isollm(project, "status", "--brief").stdout
    os.utime(project / ".isollm" / "status-brief.txt", (1, 1))  # stale: --brief collects
    assert "tasks: 3 ready" in isollm(project, "status", "--brief").stdout


def read_until(stream: subprocess.Popen[bytes], marker: str, count: int, timeout: float) -> str:
    """What ``stream``'s stdout printed up to the ``count``-th ``marker``."""
    assert stream.stdout is not None
    fd = stream.stdout.fileno()
    seen = b""
    deadline = time.monotonic() + timeout
    while seen.decode(errors="replace").count(marker) < count:
        left = deadline - time.monotonic()
        assert left > 0, seen.decode(errors="replace")
        ready, _, _ = select.select([fd], [], [], min(left, 0.5))
        if ready:
            chunk = os.read(fd, 65536)
            assert chunk, seen.decode(errors="replace")  # it exited
            seen += chunk
    return seen.decode(errors="replace")


def test_watch_redraws_until_interrupted(project: Path) -> None:
    watch = subprocess.Popen(
        [ISOLLM, "status", "--watch", "0.5"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        seen = read_until(watch, "isollm: ", 2, timeout=30)
    finally:
        watch.send_signal(signal.SIGINT)
        _, err = watch.communicate(timeout=30)
    assert watch.returncode == 0, err.decode()
    assert "Workers: none" in seen
    assert "\x1b[" not in seen  # not a terminal: no cursor movement


def put_state(root: Path, agent: str, state: str) -> None:
    config = cfg.load(root).config
    token = agent_token(fsutil.isollm_home(), config.project, agent)
    url = f"http://127.0.0.1:{config.airyra.port}/v1/projects/{config.project}"
    response = httpx.put(
        f"{url}/agents/{agent}/state",
        json={"state": state},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code < 300, response.text


def notify_into(project: Path, calls: Path) -> None:
    """Set ``session.notify`` to a command appending worker, task and state to ``calls``."""
    loaded = cfg.load(project)
    notify = ["sh", "-c", 'echo "$ISOLLM_WORKER $ISOLLM_TASK $ISOLLM_STATE" >> "$0"', str(calls)]
    session = dataclasses.replace(loaded.config.session, notify=notify)
    cfg.save(loaded.path, dataclasses.replace(loaded.config, session=session))


@contextlib.contextmanager
def busy_worker(project: Path) -> Iterator[None]:
    """worker-1, a real sandbox with a process running in it (its "agent")."""
    if registry.available("overlay"):
        skip_or_fail(f"overlay sandboxes unavailable: {registry.available('overlay')}")
    isollm(project, "worker", "add")
    agent = subprocess.Popen(
        [ISOLLM, "worker", "exec", "worker-1", "--", "sleep", "120"],
        cwd=project,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        agent.kill()
        agent.wait()


@contextlib.contextmanager
def watching(project: Path) -> Iterator[subprocess.Popen[bytes]]:
    watch = subprocess.Popen(
        [ISOLLM, "status", "--watch", "0.5"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        yield watch
    finally:
        watch.send_signal(signal.SIGINT)
        watch.communicate(timeout=30)


def test_notify_runs_once_when_a_worker_starts_waiting(project: Path, tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    notify_into(project, calls)
    isollm(project, "server", "start")
    with client(project) as c:
        task = c.add_task("Ask before deleting")
        c.claim(task.id, agent="worker-1")
    with busy_worker(project), watching(project) as watch:
        put_state(project, "worker-1", "working")
        read_until(watch, "● working", 1, timeout=30)
        put_state(project, "worker-1", "waiting")
        seen = read_until(watch, "◆ waiting", 3, timeout=30)  # several rounds while waiting
    assert "\a" in seen
    assert calls.read_text() == f"worker-1 {task.id} waiting\n"


def test_an_agent_without_hooks_is_read_from_its_tmux_pane(project: Path, tmp_path: Path) -> None:
    if shutil.which("tmux") is None:
        skip_or_fail("tmux is not installed")
    calls = tmp_path / "calls"
    notify_into(project, calls)
    name = session_name(cfg.load(project).config.project)
    asks = "sleep 3; printf 'Do you want to proceed?\\n\u276f 1. Yes\\n  2. No\\n'; sleep 120"
    plan = SessionPlan(
        name,
        PaneSpec("dashboard", ("sleep", "120"), project),
        (PaneSpec("worker-1", ("sh", "-c", asks), project),),
        "auto",
    )
    tmux = Tmux(name)
    tmux.start(plan)
    try:
        FileState.for_project(project).create_session(
            Session.for_this_process(
                str(project),
                status=SessionStatus.RUNNING,
                multiplexer="tmux",
                multiplexer_session=name,
            )
        )
        with busy_worker(project), watching(project) as watch:
            seen = read_until(watch, "◆ waiting", 2, timeout=60)
    finally:
        tmux.stop()
    # before the question nothing is known, in a session just begun: the agent is starting
    assert "◌ starting" in seen.split("◆ waiting")[0]
    assert "Tmux: ● up" in seen
    assert calls.read_text() == "worker-1  waiting\n"


def test_conflicting_running_tasks_show_in_text_json_and_brief(project: Path) -> None:
    isollm(project, "sync", "push")  # the hub
    isollm(project, "server", "start")
    with client(project) as c:
        first = c.add_task("Rewrite the readme")
        second = c.add_task("Fix the readme's typos")
        c.claim(first.id, agent="worker-1")
        c.claim(second.id, agent="worker-2")
        c.lock(["README.md"], agent="worker-2")
    config = cfg.load(project).config
    (project / "README.md").write_text("rewritten\n")
    git(project, "commit", "-q", "-am", "rewrite")
    hub = Hub.for_project(config.project).path
    branch = f"{config.git.branch_prefix}{first.id}"
    git(project, "push", "-q", str(hub), f"HEAD:refs/heads/{branch}")
    git(project, "reset", "-q", "--hard", "HEAD~1")
    text = isollm(project, "status").stdout
    assert f"! {first.id} (worker-1) and {second.id} (worker-2) both touch README.md" in text
    (clash,) = as_json(project, "status")["conflicts"]
    assert (clash["earlier"], clash["later"], clash["files"]) == (
        first.id,
        second.id,
        ["README.md"],
    )
    assert "| conflicts: 1 |" in isollm(project, "status", "--brief").stdout
