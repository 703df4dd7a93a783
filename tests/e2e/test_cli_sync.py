"""`isollm sync push|pull|status` as a user runs them: the installed command, real git."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import git
from tests.e2e.cli import as_json, isollm


@pytest.fixture
def project(git_repo: Path) -> Path:
    isollm(git_repo, "init")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "isollm init")
    return git_repo


def worker_pushes(hub: str, dest: Path, branch: str, message: str, base: str = "main") -> str:
    if not dest.exists():
        git(dest.parent, "clone", "-q", hub, str(dest))
    git(dest, "checkout", "-q", "-B", branch, f"origin/{base}")
    (dest / f"{message}.txt").write_text(message)
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", message)
    git(dest, "push", "-q", "--force", "origin", f"{branch}:{branch}")
    return git(dest, "rev-parse", "HEAD")


def test_a_whole_round_trip(project: Path, tmp_path: Path) -> None:
    assert "no hub yet" in isollm(project, "sync", "status").stdout
    pushed = isollm(project, "sync", "push").stdout
    assert "to the new hub" in pushed
    status = as_json(project, "sync", "status")
    hub = status["hub"]
    assert (status["state"], status["stale"], status["task_branches"]) == ("in-sync", False, [])

    sha = worker_pushes(hub, tmp_path / "w", "isollm/ar-1", "add feature")
    text = isollm(project, "sync", "status").stdout
    assert "isollm/ar-1" in text
    assert "1 ahead" in text
    assert "add feature  (not pulled)" in text

    pulled = as_json(project, "sync", "pull")
    assert [(b["branch"], b["task_id"], b["outcome"]) for b in pulled["branches"]] == [
        ("isollm/ar-1", "ar-1", "created")
    ]
    assert git(project, "rev-parse", "isollm/ar-1") == sha
    assert git(project, "symbolic-ref", "--short", "HEAD") == "main"
    assert "1 up to date" in isollm(project, "sync", "pull").stdout

    git(project, "merge", "-q", "--ff-only", "isollm/ar-1")
    (task,) = as_json(project, "sync", "status")["task_branches"]
    assert (task["merged"], task["pulled"]) == (True, True)
    assert "yours is 1 commit(s) ahead" in isollm(project, "sync", "status").stdout
    assert "Pushed main" in isollm(project, "sync", "push").stdout


def test_a_diverged_hub_is_refused_then_forced(project: Path, tmp_path: Path) -> None:
    hub = as_json(project, "sync", "push")["hub"]
    worker_pushes(hub, tmp_path / "w", "main", "hub side")
    (project / "host.txt").write_text("host side")
    git(project, "add", "host.txt")
    git(project, "commit", "-q", "-m", "host side")
    refused = isollm(project, "sync", "push", code=1)
    assert "error: the hub's main has 1 commit(s) your main does not" in refused.stderr
    assert "git merge isollm/main" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert as_json(project, "sync", "status")["state"] == "diverged"
    forced = as_json(project, "sync", "push", "--force")
    assert (forced["outcome"], forced["dropped"]) == ("forced", 1)
    assert as_json(project, "sync", "status")["state"] == "in-sync"


def test_pull_reports_a_diverged_task_branch_and_keeps_it(project: Path, tmp_path: Path) -> None:
    hub = as_json(project, "sync", "push")["hub"]
    worker_pushes(hub, tmp_path / "w", "isollm/t1", "worker one")
    isollm(project, "sync", "pull")
    git(project, "checkout", "-q", "isollm/t1")
    (project / "fix.txt").write_text("fix")
    git(project, "add", "fix.txt")
    git(project, "commit", "-q", "-m", "host fix")
    mine = git(project, "rev-parse", "HEAD")
    git(project, "checkout", "-q", "main")
    git(tmp_path / "w", "checkout", "-q", "isollm/t1")
    (tmp_path / "w" / "more.txt").write_text("more")
    git(tmp_path / "w", "add", "more.txt")
    git(tmp_path / "w", "commit", "-q", "-m", "worker two")
    git(tmp_path / "w", "push", "-q", "origin", "isollm/t1")
    out = isollm(project, "sync", "pull").stdout
    assert "1 left alone" in out
    assert "diverged (1 yours, 1 the hub's)" in out
    assert "`git merge isollm/isollm/t1`" in out
    assert git(project, "rev-parse", "isollm/t1") == mine


def test_pull_before_any_push_says_what_to_do(project: Path) -> None:
    result = isollm(project, "sync", "pull", code=1)
    assert "there is no hub" in result.stderr
    assert "isollm sync push" in result.stderr


def test_sync_outside_a_project(tmp_path: Path) -> None:
    result = isollm(tmp_path, "sync", "status", code=1)
    assert "isollm init" in result.stderr


def test_a_custom_prefix_and_base_from_isollm_yaml(project: Path, tmp_path: Path) -> None:
    config = project / "isollm.yaml"
    config.write_text(
        config.read_text()
        .replace("base_branch: main", "base_branch: develop")
        .replace("branch_prefix: isollm/", "branch_prefix: agents/")
    )
    git(project, "commit", "-q", "-am", "configure")
    git(project, "branch", "develop")
    hub = as_json(project, "sync", "push")["hub"]
    assert git(Path(hub), "symbolic-ref", "HEAD") == "refs/heads/develop"
    worker_pushes(hub, tmp_path / "w", "agents/x-9", "task", base="develop")
    worker_pushes(hub, tmp_path / "w", "isollm/other", "ignored", base="develop")
    (task,) = as_json(project, "sync", "status")["task_branches"]
    assert (task["branch"], task["task_id"]) == ("agents/x-9", "x-9")


def test_every_sync_command_has_help(tmp_path: Path) -> None:
    group = isollm(tmp_path, "sync", "--help").stdout
    for name in ("push", "pull", "status"):
        assert name in group
        assert "--json" in isollm(tmp_path, "sync", name, "--help").stdout
