"""``isollm task`` / ``serve`` / ``server`` as a user runs them: real processes, real server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from isollm import config as cfg
from isollm.tasks.server import control as service
from tests.integration.tasks_support import free_port, server_process, wait_healthy

ISOLLM = [str(Path(sys.executable).parent / "isollm")]


def run(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*ISOLLM, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def data(result: subprocess.CompletedProcess[str]) -> Any:
    document = json.loads(result.stdout)
    assert document["schema"] == 1
    return document["data"]


@pytest.fixture
def project(git_repo: Path) -> Iterator[Path]:
    """An isollm project whose task server port is free; its server is stopped after."""
    run(git_repo, "init")
    port = free_port()
    config = git_repo / "isollm.yaml"
    config.write_text(config.read_text().replace("port: 7432", f"port: {port}"))
    assert _port(git_repo) == port
    yield git_repo
    service.stop(port)


def first_id(repo: Path, status: str | None = None) -> str:
    args = ["task", "list", "--json", *(["--status", status] if status else [])]
    return str(data(run(repo, *args))["tasks"][0]["id"])


def test_task_add_starts_the_server_once_and_lists_by_status(project: Path) -> None:
    first = run(project, "task", "add", "Set up the database", "-p", "high")
    assert first.stdout.startswith("Added ar-")
    assert "started the task server" in first.stderr
    second = run(project, "task", "add", "Users API", "-d", "REST", "--after", first_id(project))
    assert "started" not in second.stderr
    listing = run(project, "task", "list").stdout
    assert listing.splitlines()[0] == "Open (2)"
    assert "(waiting)" in listing.splitlines()[2]
    board = data(run(project, "task", "list", "--json"))
    assert board["counts"] == {"in_progress": 0, "open": 2, "blocked": 0, "done": 0}
    assert [t["ready"] for t in board["tasks"]] == [True, False]
    status = run(project, "server", "status")
    assert "Task server running at" in status.stdout


def test_show_release_block_unblock_clear(project: Path) -> None:
    run(project, "task", "add", "Only task")
    task_id = first_id(project)
    env = {
        **os.environ,
        "AIRYRA_PORT": str(_port(project)),
        "AIRYRA_PROJECT": _project_name(project),
        "AIRYRA_AGENT": "worker-1",
        "AIRYRA_STATE_DIR": str(project / ".airyra"),
    }
    refused = subprocess.run(
        [sys.executable, "-m", "isollm.tasks.agent_cli", "claim-next"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 5, refused.stderr  # tokens are on by default
    assert "hint:" in refused.stderr
    env["AIRYRA_TOKEN"] = run(project, "server", "token", "worker-1").stdout.strip()
    claimed = subprocess.run(
        [sys.executable, "-m", "isollm.tasks.agent_cli", "claim-next"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert claimed.returncode == 0, claimed.stderr
    detail = data(run(project, "task", "show", task_id, "--json"))
    assert detail["task"]["claimed_by"] == "worker-1"
    assert "Claimed by:  worker-1" in run(project, "task", "show", task_id).stdout
    assert "now open" in run(project, "task", "release", task_id).stdout
    assert "now blocked" in run(project, "task", "block", task_id, "--reason", "no key").stdout
    history = data(run(project, "task", "show", task_id, "--json"))["history"]
    assert {"field": "reason", "new_value": "no key"}.items() <= history[0].items()
    assert "now open" in run(project, "task", "unblock", task_id).stdout
    missing = run(project, "task", "show", "ar-none", check=False)
    assert (missing.returncode, missing.stderr.strip()) == (1, "error: Task ar-none not found")
    assert run(project, "task", "clear").stdout.strip() == "Removed 0 done tasks"


def test_import_is_all_or_nothing(project: Path) -> None:
    bad = project / "bad.yaml"
    bad.write_text("- {key: a, title: A}\n- {title: B, after: [nowhere]}\n")
    failed = run(project, "task", "import", str(bad), check=False)
    assert failed.returncode == 1
    assert "'nowhere' is neither a key" in failed.stderr
    assert data(run(project, "task", "list", "--json"))["tasks"] == []
    good = project / "good.yaml"
    good.write_text("- {key: a, title: A, priority: critical}\n- {title: B, after: [a]}\n")
    imported = data(run(project, "task", "import", str(good), "--json"))
    a, b = imported["data"]
    assert imported["keys"] == {"a": a["id"]}
    deps = data(run(project, "task", "show", b["id"], "--json"))["dependencies"]
    assert deps == [{"child_id": b["id"], "parent_id": a["id"]}]


def test_external_server_is_never_started(project: Path) -> None:
    config = project / "isollm.yaml"
    config.write_text(config.read_text().replace("external: false", "external: true"))
    result = run(project, "task", "add", "x", check=False)
    assert result.returncode == 1
    assert "is not reachable" in result.stderr
    assert run(project, "server", "status", check=False).returncode == 1


def test_server_start_stop_status(project: Path) -> None:
    assert run(project, "server", "status", check=False).returncode == 1
    started = run(project, "server", "start")
    assert started.stdout.startswith("Started task server at http://127.0.0.1:")
    assert run(project, "server", "start").stdout.startswith("Already running:")
    status = data(run(project, "server", "status", "--json"))
    assert status["running"]
    assert status["healthy"]
    assert Path(status["state"]["log"]).exists()
    assert run(project, "server", "stop").stdout.startswith("Stopped the task server")
    assert run(project, "server", "stop").stdout.startswith("No task server was running")


def test_a_server_of_another_home_on_the_port_is_reported_never_used(
    project: Path, tmp_path: Path
) -> None:
    """Another isollm home's task server (without tokens, so nothing else would stop
    it) on this project's port: commands say so and touch neither it nor its queue."""
    port, other = _port(project), tmp_path / "other-home"
    with server_process(other, port=port, auth=False) as (server, url):
        added = run(project, "task", "add", "would land in the other home", check=False)
        assert added.returncode == 1
        assert "belongs to another isollm home" in added.stderr
        started = run(project, "server", "start", check=False)
        assert started.returncode == 1
        assert "another isollm home" in started.stderr
        stopped = run(project, "server", "stop", check=False)
        assert stopped.returncode == 1
        assert "another isollm home" in stopped.stderr
        assert "No task server was running" not in stopped.stdout
        assert "belongs to another isollm home" in run(project, "server", "status").stdout
        assert server.poll() is None  # still running: not stopped from here
        assert httpx.get(f"{url}/v1/projects").json() == []  # nothing written to its queue


def test_serve_in_the_foreground_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [*ISOLLM, "serve", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}")
        assert service.read_state(port) is not None
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert f"Task server listening on http://127.0.0.1:{port}" in err
    assert service.read_state(port) is None


@pytest.mark.parametrize(
    "command",
    [["task"], ["task", "add"], ["task", "import"], ["serve"], ["server"], ["server", "token"]],
)
def test_help(tmp_path: Path, command: list[str]) -> None:
    result = run(tmp_path, *command, "--help")
    assert "Usage:" in result.stdout
    assert len(result.stdout.splitlines()) > 3


def _port(repo: Path) -> int:
    return cfg.load(repo).config.airyra.port


def _project_name(repo: Path) -> str:
    return cfg.load(repo).config.project
