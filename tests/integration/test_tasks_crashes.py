"""Crashes: a claimer killed with SIGKILL, and the server itself killed mid-load."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from isollm.tasks.client.http import TaskClient
from isollm.tasks.store import errors
from isollm.tasks.store.model import AuditQuery, ImportItem, NewTask, PageRequest, Status
from isollm.tasks.store.sqlite.store import SqliteTaskStore
from tests.integration.tasks_support import (
    agent_token,
    free_port,
    host_headers,
    host_token,
    server_process,
)

pytestmark = pytest.mark.slow

AIRYRA = [sys.executable, "-m", "isollm.tasks.agent_cli"]


def airyra(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AIRYRA, *args], check=False, env=env, capture_output=True, text=True, timeout=30
    )


def agent_env(url: str, agent: str, state: Path, home: Path) -> dict[str, str]:
    port = url.rsplit(":", 1)[1]
    return {
        "AIRYRA_TOKEN": agent_token(home, "crash", agent),
        **os.environ,
        "AIRYRA_HOST": "127.0.0.1",
        "AIRYRA_PORT": port,
        "AIRYRA_PROJECT": "crash",
        "AIRYRA_AGENT": agent,
        "AIRYRA_STATE_DIR": str(state),
    }


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_a_killed_claimer_loses_its_task_and_cannot_finish_it_late(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with (
        server_process(home) as (_, url),
        TaskClient(url, "crash", token=host_token(home)) as client,
    ):
        task = client.add_task("fragile")
        worker = agent_env(url, "worker-1", tmp_path / "w1", home)
        claimed = airyra(worker, "claim-next", "--lease", "2", "--json")
        assert claimed.returncode == 0, claimed.stderr
        beating = subprocess.Popen(
            [*AIRYRA, "heartbeat", task.id, "--lease", "2", "--every", "0.5"],
            env=worker,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            time.sleep(3)  # longer than the lease: the heartbeats keep it
            assert client.get_task(task.id).status is Status.IN_PROGRESS
        finally:
            beating.send_signal(signal.SIGKILL)
            beating.wait()
            assert beating.stderr is not None
            beating.stderr.close()
        assert wait_for(lambda: client.get_task(task.id).status is Status.OPEN, timeout=6)
        expiry = [h for h in client.history(task.id) if h.action == "expire"]
        assert {h.changed_by for h in expiry} == {"isollm-reaper"}

        other = agent_env(url, "worker-2", tmp_path / "w2", home)
        assert airyra(other, "claim-next").returncode == 0
        late = airyra(worker, "done", task.id)
        assert late.returncode == 6, late.stderr  # conflict: the claim is stale
        assert "no longer current" in late.stderr
        assert client.get_task(task.id).claimed_by == "worker-2"
        assert airyra(other, "done", task.id).returncode == 0


def test_the_server_killed_mid_load_loses_no_acknowledged_write(tmp_path: Path) -> None:
    home, port = tmp_path / "home", free_port()
    acknowledged: list[tuple[str, str]] = []  # (task id, what was acknowledged)
    stop = threading.Event()

    def load(n: int) -> None:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}/v1/projects/crash", headers=host_headers(home)
        ) as http:
            while not stop.is_set():
                try:
                    made = http.post("/tasks", json={"title": f"w{n}"})
                    if made.status_code == 201:
                        acknowledged.append((made.json()["id"], "created"))
                    claim = http.post("/tasks/claim-next", headers={"X-Airyra-Agent": f"a{n}"})
                    if claim.status_code == 200:
                        acknowledged.append((claim.json()["task"]["id"], f"a{n}"))
                except httpx.HTTPError:
                    time.sleep(0.01)

    with server_process(home, port=port) as (proc, _):
        threads = [threading.Thread(target=load, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        stop.set()
        for t in threads:
            t.join()
    assert len(acknowledged) > 50

    db = home / "tasks" / "projects" / "crash.db"
    store = SqliteTaskStore(db)
    try:
        for task_id, what in acknowledged:
            task = store.get_task(task_id)
            if what != "created":
                assert task.claimed_by == what
        with (
            server_process(home, port=port) as (_, url),
            TaskClient(url, "crash", token=host_token(home)) as client,
        ):
            assert client.get_task(acknowledged[-1][0]).id == acknowledged[-1][0]
    finally:
        store.close()
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def _staged(db: Path) -> int:
    """Rows an import wrote and has not published (migration 0006), read beside the server."""
    with closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM tasks WHERE status = 'staged'").fetchone()[0])


def _kill_mid_import(home: Path, port: int, db: Path) -> str:
    """Start a server, add one task, send a 10,000-task import and SIGKILL the server
    while it writes it; the task's id."""
    items = [
        {"key": f"k{i}", "title": f"imported {i}", "after": [f"k{i - 1}"] if i % 100 else []}
        for i in range(10_000)
    ]
    with (
        server_process(home, port=port) as (proc, url),
        TaskClient(url, "crash", token=host_token(home)) as host,
    ):
        seed = host.add_task("seed")

        def send() -> None:
            with contextlib.suppress(httpx.HTTPError):
                httpx.post(
                    f"{url}/v1/projects/crash/tasks/import",
                    json={"tasks": items},
                    headers=host_headers(home),
                    timeout=60,
                )

        importing = threading.Thread(target=send)
        importing.start()
        assert wait_for(lambda: _staged(db) > 1000, 30)  # well into the import
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        importing.join()
    return seed.id


def _assert_only(store: SqliteTaskStore, db: Path, seed: str) -> None:
    """Nothing but ``seed`` is visible or claimable in ``store``."""
    page = PageRequest(1, 100)
    assert [t.id for t in store.list_tasks(None, page).items] == [seed]
    assert [t.id for t in store.ready(page).items] == [seed]
    assert {e.task_id for e in store.audit(AuditQuery(), page).items} == {seed}
    with closing(sqlite3.connect(db)) as conn:
        hidden = conn.execute("SELECT id FROM tasks WHERE status = 'staged' LIMIT 1").fetchone()
    with pytest.raises(errors.TaskNotFoundError):
        store.get_task(hidden[0])
    with pytest.raises(errors.TaskNotFoundError):
        store.history(hidden[0])
    with pytest.raises(errors.TaskNotFoundError):
        store.claim(hidden[0], "a1", 60)
    claim = store.claim_next("a1", 60)
    assert claim is not None
    assert claim.task.id == seed
    assert store.claim_next("a2", 60) is None
    store.release(seed, "a1", claim.fence, force=False)


@pytest.mark.parametrize("cleanup", ["startup", "next import"])
def test_the_server_killed_mid_import_leaves_nothing_visible(tmp_path: Path, cleanup: str) -> None:
    home, port = tmp_path / "home", free_port()
    db = home / "tasks" / "projects" / "crash.db"
    seed = _kill_mid_import(home, port, db)
    assert 0 < _staged(db) <= 10_000  # killed mid-import: its rows are there, staged

    store = SqliteTaskStore(db)
    try:
        _assert_only(store, db, seed)  # whoever opens the database
        if cleanup == "next import":
            store.import_tasks([ImportItem(NewTask("next"))], "human")
            assert _staged(db) == 0
    finally:
        store.close()

    with (
        server_process(home, port=port) as (_, url),
        TaskClient(url, "crash", token=host_token(home)) as client,
    ):
        titles = sorted(t.title for t in client.all_tasks())  # the first request opens it
        assert titles == (["next", "seed"] if cleanup == "next import" else ["seed"])
        assert wait_for(lambda: _staged(db) == 0, 30)  # startup removed them
        client.import_tasks([ImportItem(NewTask(f"after {i}")) for i in range(3)])
        assert len(client.all_tasks()) == len(titles) + 3
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        # The killed import's history went with its rows; its ids were never retired.
        orphans = conn.execute(
            "SELECT COUNT(*) FROM audit_log WHERE task_id NOT IN (SELECT id FROM tasks)"
        ).fetchone()
        assert orphans == (0,)
        assert conn.execute("SELECT COUNT(*) FROM retired_tasks").fetchone() == (0,)
        assert conn.execute("SELECT COUNT(*) FROM dependencies").fetchone() == (0,)
