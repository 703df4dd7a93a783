"""`isollm runs show|list` as a user runs them, on a run written by the runner's own parts."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from isollm.runner import idempotency, receipts, runstate
from isollm.runner.layout import RunPaths
from isollm.runner.ledger import LedgerWriter
from isollm.runner.receipts import Receipt
from tests.e2e.cli import as_json, isollm
from tests.runner_helpers import make_receipt


@pytest.fixture
def project(git_repo: Path) -> Path:
    isollm(git_repo, "init")
    return git_repo


def record_run(root: Path) -> runstate.RunState:
    """A run where ar-0001 was done, ar-0002 failed once and is running again."""
    state = runstate.create_run(root, workers=2, agent="claude", config_digest="sha256:x")
    paths = RunPaths.of(root, state.id)
    writer, _ = LedgerWriter.open(paths.ledger, state.id)
    with writer:
        writer.append("run.started", workers=2, agent="claude")
        key = idempotency.execute_key(state.id, "ar-0001", 1)
        writer.append("task.claimed", task="ar-0001", attempt=1, ik=key, worker="w1")
        writer.append(
            "task.pushed", task="ar-0001", attempt=1, ik=key, sha="c" * 40, branch="isollm/ar-0001"
        )
        writer.append("task.done", task="ar-0001", attempt=1, ik=key, end=True)
        receipts.write_receipt(paths, receipt(paths, "ar-0001", 1))
        writer.append("task.claimed", task="ar-0002", attempt=1, worker="w2")
        writer.append("task.failed", task="ar-0002", attempt=1, reason="agent exited 1")
        writer.append("task.claimed", task="ar-0002", attempt=2, worker="w2")
    with paths.ledger.open("ab") as f:
        f.write(b'{"seq": 9, "ts": "2026')  # the runner was killed mid-write
    runner = subprocess.Popen([sys.executable, "-c", "pass"])
    runner.wait()
    state = replace(state, pid=runner.pid)  # ... and is gone
    runstate.save_run(root, state)
    return state


def receipt(paths: RunPaths, task: str, attempt: int) -> Receipt:
    return make_receipt(
        task,
        attempt,
        run_id=paths.run_id,
        head_commit="c" * 40,
        files_changed=["src/app.py"],
        exit_code=0,
        log_path=receipts.log_path(paths, task, attempt),
        tokens_in=1000,
        tokens_out=234,
        cost_usd=0.12,
    )


def test_show_summarises_the_latest_run(project: Path) -> None:
    state = record_run(project)

    data = as_json(project, "run", "show")

    assert data["run_id"] == state.id
    assert (data["status"], data["stale"], data["events"]) == ("running", True, 8)
    done, again = data["tasks"]
    assert (done["task_id"], done["status"], done["head_commit"], done["tokens"]) == (
        "ar-0001",
        "done",
        "c" * 40,
        1234,
    )
    assert (again["task_id"], again["status"], again["attempts"]) == ("ar-0002", "claimed", 2)
    assert data["totals"]["in_flight"] == 1
    assert "truncated" in data["problems"][0]

    text = isollm(project, "run", "show", state.id)
    assert f"run {state.id}: running (stale)" in text.stdout
    assert f"resume it with `isollm run --resume {state.id}`" in text.stdout
    assert "ar-0001" in text.stdout
    assert "1,234 tokens $0.1200" in text.stdout
    assert "1m30s" in text.stdout
    assert "2 tasks: 1 done, 0 failed, 0 blocked, 1 in flight" in text.stdout
    assert "truncated" in text.stderr


def test_list_shows_every_run_oldest_first(project: Path) -> None:
    first = record_run(project)
    later = replace(first, id="99991231-235959-0000", agent="codex", status="completed")
    runstate.save_run(project, later)

    rows = as_json(project, "run", "list")

    assert [(r["id"], r["status"], r["stale"]) for r in rows] == [
        (first.id, "running", True),
        (later.id, "completed", False),
    ]
    text = isollm(project, "run", "list").stdout
    assert text.index(first.id) < text.index(later.id)
    assert "codex" in text


def test_no_runs_yet(project: Path) -> None:
    assert "no runs yet" in isollm(project, "run", "list").stdout
    failed = isollm(project, "run", "show", code=1)
    assert "this project has no runs yet" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_an_unknown_or_unsafe_run_id_is_a_user_error(project: Path) -> None:
    assert "there is no run nope" in isollm(project, "run", "show", "nope", code=1).stderr
    assert "cannot be used" in isollm(project, "run", "show", "../x", code=1).stderr


def test_outside_a_project(tmp_path: Path) -> None:
    assert "isollm init" in isollm(tmp_path, "run", "list", code=1).stderr
