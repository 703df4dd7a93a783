"""The ``airyra`` agent CLI as agents run it: a separate process, configured by environment."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from isollm.tasks.agent_cli import bundle
from isollm.tasks.server.run import EmbeddedServer
from tests.integration.tasks_support import free_port

AIRYRA = [sys.executable, "-m", "isollm.tasks.agent_cli"]  # what the `airyra` command runs


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    with EmbeddedServer(tmp_path_factory.mktemp("tasks")) as running:
        yield running


@pytest.fixture
def env(server: EmbeddedServer, request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "AIRYRA_HOST": "127.0.0.1",
        "AIRYRA_PORT": str(server.port),
        "AIRYRA_PROJECT": "p" + str(abs(hash(request.node.nodeid)))[:12],
        "AIRYRA_AGENT": "worker-1",
        "AIRYRA_STATE_DIR": str(tmp_path / "state"),
    }


def airyra(
    env: dict[str, str], *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AIRYRA, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def ok(env: dict[str, str], *args: str, **kw: Any) -> Any:
    result = airyra(env, *args, "--json", **kw)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_create_list_show_edit_delete(env: dict[str, str]) -> None:
    task = ok(env, "create", "Write docs", "-p", "high", "-d", "all of them")
    assert (task["title"], task["priority"], task["description"]) == (
        "Write docs",
        1,
        "all of them",
    )
    listing = ok(env, "list")
    assert listing["pagination"]["total"] == 1
    assert ok(env, "show", task["id"])["id"] == task["id"]
    assert ok(env, "edit", task["id"], "-t", "Write more docs", "-p", "0")["priority"] == 0
    text = airyra(env, "list").stdout
    assert text.splitlines()[0].split() == ["ID", "TITLE", "STATUS", "PRIORITY"]
    assert ok(env, "delete", task["id"]) == {"message": f"Task {task['id']} deleted"}


def test_claim_next_remembers_the_fence_whatever_the_directory(
    env: dict[str, str], tmp_path: Path
) -> None:
    task = ok(env, "create", "fenced")
    claim = ok(env, "claim-next", cwd=tmp_path)
    assert (claim["id"], claim["claimed_by"], claim["fence"]) == (task["id"], "worker-1", 1)
    elsewhere = tmp_path / "deep" / "sub"
    elsewhere.mkdir(parents=True)
    renewed = ok(env, "heartbeat", task["id"], "--lease", "120", cwd=elsewhere)
    assert renewed["fence"] == 1
    assert ok(env, "done", task["id"], cwd=elsewhere)["status"] == "done"
    assert ok(env, "claim-next") == {"message": "No ready tasks"}


def test_exit_codes(env: dict[str, str], tmp_path: Path) -> None:
    task = ok(env, "create", "contested")
    assert airyra(env, "show", "ar-none").returncode == 4
    assert airyra(env, "dep", "rm", task["id"], "ar-none").returncode == 4
    ok(env, "claim", task["id"])
    other = {**env, "AIRYRA_AGENT": "worker-2", "AIRYRA_STATE_DIR": str(tmp_path / "other")}
    assert airyra(other, "claim", task["id"]).returncode == 6
    assert airyra(other, "done", task["id"]).returncode == 5
    stale = airyra(env, "done", task["id"], "--fence", "99", "--json")
    assert stale.returncode == 6
    assert json.loads(stale.stderr)["error"]["code"] == "STALE_CLAIM"
    assert airyra({**env, "AIRYRA_PROJECT": ""}, "list").returncode == 3
    assert airyra({**env, "AIRYRA_PORT": str(free_port())}, "list").returncode == 2
    bad = airyra(env, "create", "x", "-p", "urgent")
    assert (bad.returncode, bad.stderr.startswith("Error: invalid priority")) == (1, True)


def test_dependencies_ready_next_history_log(env: dict[str, str]) -> None:
    first, second = ok(env, "create", "first"), ok(env, "create", "second", "-p", "0")
    assert ok(env, "dep", "add", second["id"], first["id"])["message"].startswith("Added")
    assert ok(env, "dep", "list", second["id"]) == [
        {"child_id": second["id"], "parent_id": first["id"]}
    ]
    cycle = airyra(env, "dep", "add", first["id"], second["id"])
    assert (cycle.returncode, "cycle" in cycle.stderr) == (1, True)
    assert [t["id"] for t in ok(env, "ready")["data"]] == [first["id"]]
    assert ok(env, "next")["id"] == first["id"]
    assert [h["action"] for h in ok(env, "history", second["id"])] == ["add_dependency", "create"]
    assert ok(env, "log")["pagination"]["total"] == 3
    assert ok(env, "dep", "rm", second["id"], first["id"])["message"].startswith("Removed")


def test_release_block_unblock(env: dict[str, str]) -> None:
    task = ok(env, "create", "t")
    ok(env, "claim", task["id"])
    assert ok(env, "release", task["id"])["status"] == "open"
    assert ok(env, "block", task["id"], "--reason", "waiting")["status"] == "blocked"
    assert ok(env, "unblock", task["id"])["status"] == "open"


def test_specs(env: dict[str, str]) -> None:
    spec = ok(env, "spec", "new", "Epic", "-d", "big")
    other = ok(env, "spec", "new", "Later")
    assert spec["status"] == "draft"
    assert ok(env, "spec", "list")["pagination"]["total"] == 2
    assert ok(env, "spec", "edit", spec["id"], "-t", "Renamed")["title"] == "Renamed"
    assert ok(env, "spec", "dep", "add", other["id"], spec["id"])["message"].startswith("Added")
    assert ok(env, "spec", "dep", "list", other["id"])[0]["parent_id"] == spec["id"]
    assert ok(env, "spec", "cancel", spec["id"])["status"] == "cancelled"
    assert airyra(env, "spec", "cancel", spec["id"]).returncode == 6
    assert ok(env, "spec", "reopen", spec["id"])["status"] == "draft"
    shown = airyra(env, "spec", "show", spec["id"], "--tasks")
    assert "Tasks:" in shown.stdout
    assert ok(env, "spec", "delete", other["id"])["message"] == f"Spec {other['id']} deleted"


def test_runs_as_one_file_with_the_standard_library_only(
    env: dict[str, str], tmp_path: Path
) -> None:
    alone = tmp_path / "airyra"
    shutil.copy(bundle.write(tmp_path / "bundled.py"), alone)
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(alone), "create", "from a container", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["title"] == "from a container"


def test_token_is_sent(tmp_path: Path) -> None:
    with EmbeddedServer(tmp_path, auth=True) as secured:
        env = {
            **os.environ,
            "AIRYRA_PORT": str(secured.port),
            "AIRYRA_PROJECT": "demo",
            "AIRYRA_AGENT": "worker-1",
        }
        with secured.client("demo", token=secured.token()) as host:
            host.add_task("x")
        assert airyra(env, "list").returncode == 5
        own = secured.token("worker-1", "demo")
        assert airyra({**env, "AIRYRA_TOKEN": own}, "list").returncode == 0
        posing = {**env, "AIRYRA_TOKEN": secured.token("worker-2", "demo")}
        assert airyra(posing, "list").returncode == 5
