"""`isollm status`'s collector against real parts: a real task server, real state files
in `.isollm/`, a real hub and real overlay sandboxes with real processes in them."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest

from isollm import config as cfg
from isollm.errors import IsollmError
from isollm.sandbox import registry
from isollm.sandbox.workers import Project, add_worker, ensure_hub
from isollm.session import attach, up
from isollm.session.mux.base import PaneSpec, SessionPlan, session_name
from isollm.session.mux.tmux import Tmux
from isollm.session.status import usage
from isollm.session.status.collect import Collector
from isollm.session.status.model import AgentState, Health, Source
from isollm.state import FileState, Session, SessionStatus
from isollm.tasks.client.http import TaskClient
from isollm.tasks.server import control
from isollm.tasks.store.model import Task
from tests.conftest import git, skip_or_fail
from tests.e2e.cli import ISOLLM
from tests.integration.status_support import project

__all__ = ["project"]  # the fixture, for this module's tests


def collector(root: Path) -> Collector:
    loaded = cfg.load_valid(root)
    return Collector(loaded.root, loaded.config)


def server(root: Path) -> TaskClient:
    """A client of the project's task server, started the way a user does (a child
    process of this test would outlive its Popen object)."""
    subprocess.run([ISOLLM, "server", "start"], cwd=root, check=True, capture_output=True)
    loaded = cfg.load_valid(root)
    return control.ensure_server(loaded.config, loaded.root)


def push_task_branch(root: Path, branch: str) -> None:
    """A commit on ``branch`` in the hub: 3 lines added, 1 deleted against main."""
    hub = ensure_hub(Project.load(root))
    git(root, "checkout", "-q", "-b", "work")
    (root / "README.md").write_text("one\ntwo\nthree\n")
    git(root, "commit", "-q", "-am", "work")
    git(root, "push", "-q", str(hub.path), f"HEAD:refs/heads/{branch}")
    git(root, "checkout", "-q", "main")


def fill_queue(project: Path) -> Task:
    """Three tasks: one ready, one done, one held by worker-1 (returned), which also
    has an entry on the context board and a lock."""
    with server(project) as client:
        held = client.add_task("Fix the parser \x1b[31m")
        client.add_task("Later")
        done = client.add_task("Finished")
        client.claim(done.id, agent="someone")
        client.done(done.id, agent="someone")
        client.claim(held.id, agent="worker-1")
        client.set_context("working", "rewriting the parser", ["README.md"], agent="worker-1")
        client.lock(["README.md"], agent="worker-1")
    return held


def wait_for_process(sandbox: Path) -> None:
    """Until a process is in the sandbox's cgroup (a command joins it as it starts)."""
    deadline = time.monotonic() + 10
    while not usage.sample(sandbox).pids and time.monotonic() < deadline:
        time.sleep(0.05)


def test_no_session_and_no_server_shows_what_exists(project: Path) -> None:
    with collector(project) as c:
        snap = c.collect()
    assert snap.workers == ()
    assert not snap.session.recorded
    server_service, mux_service = snap.services
    assert server_service.health is Health.DOWN
    assert mux_service.health is Health.NONE
    assert not snap.tasks.available
    assert not snap.board.available
    assert (snap.sync.available, snap.sync.state, snap.sync.host_branch) == (True, "no-hub", "main")


def test_tasks_workers_board_and_sync(project: Path) -> None:
    if registry.available("overlay"):
        skip_or_fail(f"overlay sandboxes unavailable: {registry.available('overlay')}")
    held = fill_queue(project)
    prefix = cfg.load(project).config.git.branch_prefix
    push_task_branch(project, f"{prefix}{held.id}")
    p = Project.load(project)
    add_worker(p)
    busy = add_worker(p)
    job = busy.spawn(["sleep", "30"])
    wait_for_process(busy.record.directory)
    try:
        with collector(project) as c:
            snap = c.collect()
            with server(project) as client:
                client.set_agent_state("worker-1", "working", "Edit")  # no process runs
                client.set_agent_state("worker-2", "waiting", "Bash")
            again = c.collect()
    finally:
        job.kill()

    counts = snap.tasks
    assert (counts.ready, counts.in_progress, counts.done, counts.blocked) == (1, 1, 1, 0)
    first, second = snap.workers
    assert (first.name, first.task_id, first.task_title) == ("worker-1", held.id, held.title)
    assert (first.branch, first.added, first.deleted) == (f"{prefix}{held.id}", 3, 1)
    # nothing runs in worker-1's sandbox: its agent cannot be running
    assert (first.state, first.source) == (AgentState.EXITED, Source.PROCESS)
    # worker-2 runs a process (no hooks, no pane): unknown, with its usage measured
    assert (second.task_id, second.state) == ("", AgentState.UNKNOWN)
    assert second.rss_bytes is not None
    assert second.rss_bytes > 0
    assert second.cpu_percent is not None
    assert snap.sync.state == "in-sync"
    assert snap.sync.task_branches == 1
    assert snap.board.available
    assert [(e.agent, e.message, e.files) for e in snap.board.context] == [
        ("worker-1", "rewriting the parser", ("README.md",))
    ]
    assert [(e.path, e.agent, e.task_id) for e in snap.board.locks] == [
        ("README.md", "worker-1", held.id)
    ]
    assert snap.services[0].health is Health.UP
    # the hooks' word, unless the agent cannot be running
    first, second = again.workers
    assert (first.state, first.source) == (AgentState.EXITED, Source.PROCESS)
    assert (second.state, second.source, second.detail) == (AgentState.WAITING, Source.HOOK, "Bash")
    assert second.since is not None
    assert (first.added, first.deleted) == (3, 1)


def test_a_removed_sandbox_is_dead_and_a_stopped_server_down(project: Path) -> None:
    if registry.available("overlay"):
        skip_or_fail(f"overlay sandboxes unavailable: {registry.available('overlay')}")
    server(project).close()
    sb = add_worker(Project.load(project))
    sb.destroy()  # the record stays: the sandbox vanished under it
    FileState.for_project(project).create_session(
        Session.for_this_process(
            str(project), status=SessionStatus.RUNNING, multiplexer="tmux", multiplexer_session="x"
        )
    )
    with collector(project) as c:
        up = c.collect()
        control.stop(cfg.load(project).config.airyra.port)
        down = c.collect()
    (worker,) = up.workers
    assert (worker.state, worker.source, worker.sandbox) == (
        AgentState.DEAD,
        Source.SANDBOX,
        "missing",
    )
    assert up.session.recorded
    assert up.session.alive
    tmux = up.services[1]
    assert tmux.name == "tmux"
    assert tmux.health in (Health.DOWN, Health.UNAVAILABLE)  # no such tmux session runs
    assert up.services[0].health is Health.UP
    assert up.tasks.available
    assert down.services[0].health is Health.DOWN
    assert not down.tasks.available
    assert down.workers[0].task_id == ""


def test_the_host_repository_ahead_of_the_hub_shows_in_sync(project: Path) -> None:
    ensure_hub(Project.load(project))
    (project / "new.txt").write_text("x\n")
    git(project, "add", "new.txt")
    git(project, "commit", "-q", "-m", "more")
    with collector(project) as c:
        snap = c.collect(cpu=False)
    assert (snap.sync.state, snap.sync.ahead) == ("ahead", 1)


def test_a_worker_whose_pane_is_starting_is_starting_not_exited(project: Path) -> None:
    if registry.available("overlay"):
        skip_or_fail(f"overlay sandboxes unavailable: {registry.available('overlay')}")
    if shutil.which("tmux") is None:
        skip_or_fail("tmux is not installed")
    add_worker(Project.load(project))  # no process runs in it yet
    name = session_name(cfg.load(project).config.project)
    plan = SessionPlan(
        name,
        PaneSpec("dashboard", ("sleep", "60"), project),
        (PaneSpec("worker-1", ("sleep", "60"), project),),
        "auto",
    )
    tmux = Tmux(name)
    tmux.start(plan)
    state = FileState.for_project(project)
    try:
        record = Session.for_this_process(
            str(project), status=SessionStatus.RUNNING, multiplexer="tmux", multiplexer_session=name
        )
        state.create_session(record)
        with collector(project) as c:
            young = c.collect(cpu=False)
        state.save_session(
            dataclasses.replace(record, started_at=record.started_at - timedelta(minutes=1))
        )
        with collector(project) as c:
            old = c.collect(cpu=False)
    finally:
        tmux.stop()
    assert (young.workers[0].state, young.workers[0].since) == (
        AgentState.STARTING,
        record.started_at,
    )
    assert (old.workers[0].state, old.workers[0].source) == (AgentState.EXITED, Source.PROCESS)


def test_a_session_without_panes_lives_while_a_worker_runs(project: Path) -> None:
    """`--mux none` records `isollm up`'s own process, which exits at once: the session
    is live while a worker's sandbox runs, for `status`, a second `up` and `attach`."""
    if registry.available("overlay"):
        skip_or_fail(f"overlay sandboxes unavailable: {registry.available('overlay')}")
    p = Project.load(project)
    sb = add_worker(p)
    gone = Session(pid=2**22 + 7, project_root=str(project), multiplexer="none")
    p.state.create_session(dataclasses.replace(gone, status=SessionStatus.RUNNING))
    with collector(project) as c:
        running = c.collect(cpu=False)
    with pytest.raises(up.SessionRunningError):
        up.refuse_running(p)
    with pytest.raises(IsollmError, match="has no panes"):
        attach.join_argv(p)
    sb.stop()
    with collector(project) as c:
        stopped = c.collect(cpu=False)
    assert (running.session.alive, stopped.session.alive) == (True, False)
    assert up.refuse_running(p) is not None  # over: a new `up` takes it over
    with pytest.raises(IsollmError, match="no isollm session is running"):
        attach.join_argv(p)


def test_running_tasks_touching_the_same_file_are_a_conflict(project: Path) -> None:
    ensure_hub(Project.load(project))
    with server(project) as client:
        first = client.add_task("Rewrite the readme")
        second = client.add_task("Fix the readme's typos")
        client.claim(first.id, agent="worker-1")
        client.claim(second.id, agent="worker-2")
        client.lock(["README.md"], agent="worker-2")
    prefix = cfg.load(project).config.git.branch_prefix
    with collector(project) as c:
        before = c.collect(cpu=False)  # worker-1 has pushed nothing yet
        push_task_branch(project, f"{prefix}{first.id}")  # changes README.md
        after = c.collect(cpu=False)
        control.stop(cfg.load(project).config.airyra.port)
        down = c.collect(cpu=False)
    assert (before.conflicts, before.conflicts_note) == ((), "")
    (clash,) = after.conflicts
    assert (clash.earlier, clash.earlier_agent, clash.later, clash.later_agent) == (
        first.id,
        "worker-1",
        second.id,
        "worker-2",
    )
    assert clash.files == ("README.md",)
    assert (down.conflicts, down.conflicts_note) == ((), "the task server cannot be asked")
