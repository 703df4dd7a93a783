"""`isollm diff`, `isollm merge` and `isollm gc` as a user runs them: real git, the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from isollm import fsutil
from isollm.runner.layout import RunPaths
from isollm.runner.receipts import Receipt, write_receipt
from isollm.sandbox import registry
from isollm.tasks.server import control as service
from tests.conftest import git, skip_or_fail
from tests.e2e.cli import as_json, isollm
from tests.integration.land_support import CliProject, cli_project
from tests.integration.sandbox_support import unmount_under


@pytest.fixture
def project(git_repo: Path) -> Path:
    isollm(git_repo, "init")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "isollm init")
    isollm(git_repo, "sync", "push")
    return git_repo


def hub_of(project: Path) -> str:
    return str(as_json(project, "sync", "status")["hub"])


def push_branch(
    hub: str, work: Path, branch: str, files: dict[str, str], base: str = "main"
) -> str:
    """A commit on ``branch`` (from ``base``) pushed to the hub, as a delivery leaves it."""
    if not work.exists():
        git(work.parent, "clone", "-q", hub, str(work))
    git(work, "fetch", "-q", "origin")
    git(work, "checkout", "-q", "-B", branch, f"origin/{base}")
    for name, text in files.items():
        (work / name).write_text(text)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", f"work on {branch}")
    git(work, "push", "-q", "--force", "origin", f"{branch}:{branch}")
    return git(work, "rev-parse", "HEAD")


def test_diff_shows_the_stat_then_the_patch(project: Path, tmp_path: Path) -> None:
    hub = hub_of(project)
    tip = push_branch(hub, tmp_path / "w", "isollm/t1", {"a.txt": "one\ntwo\n"})
    text = isollm(project, "diff", "t1").stdout
    assert f"task t1: isollm/t1 at {tip[:12]}" in text
    assert " a.txt  +2 -0" in text
    assert "1 file(s) changed, +2 -0" in text
    assert "+++ b/a.txt" in text
    assert "+two" in text
    assert text.index("a.txt  +2") < text.index("+++ b/a.txt")

    stat = isollm(project, "diff", "t1", "--stat").stdout
    assert " a.txt  +2 -0" in stat
    assert "+++" not in stat

    data = as_json(project, "diff", "t1")
    assert (data["task"], data["tip"], data["base_source"]) == ("t1", tip, "merge-base")
    assert data["files"] == [{"path": "a.txt", "added": 2, "deleted": 0}]
    assert "+two" in data["patch"]
    assert "patch" not in as_json(project, "diff", "t1", "--stat")


def test_diff_starts_from_the_base_its_receipt_records(project: Path, tmp_path: Path) -> None:
    hub = hub_of(project)
    started = git(Path(hub), "rev-parse", "main")
    push_branch(hub, tmp_path / "w", "main", {"later.txt": "on main\n"})
    tip = push_branch(hub, tmp_path / "w", "isollm/t1", {"a.txt": "task\n"})
    paths = RunPaths.of(project, "20260101-000000-abc")
    receipt = Receipt(
        "20260101-000000-abc",
        "t1",
        1,
        "done",
        "w1",
        "command",
        "isollm/t1",
        started,
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:01:00Z",
        60.0,
        "logs/t1-1.log",
        head_commit=tip,
    )
    write_receipt(paths, receipt)
    data = as_json(project, "diff", "t1")
    assert (data["base"], data["base_source"]) == (started, "receipt")
    assert sorted(f["path"] for f in data["files"]) == ["a.txt", "later.txt"]


def test_diff_against_now_shows_what_landing_changes(project: Path, tmp_path: Path) -> None:
    hub = hub_of(project)
    push_branch(hub, tmp_path / "w", "isollm/t1", {"a.txt": "task\n"})
    push_branch(hub, tmp_path / "w", "main", {"b.txt": "moved on\n"})
    since = as_json(project, "diff", "t1")
    assert [f["path"] for f in since["files"]] == ["a.txt"]
    now = as_json(project, "diff", "t1", "--against", "now")
    assert [f["path"] for f in now["files"]] == ["a.txt"]
    assert now["base"] == git(Path(hub), "rev-parse", "main")

    push_branch(hub, tmp_path / "w", "main", {"a.txt": "conflicting\n"})
    clash = as_json(project, "diff", "t1", "--against", "now")
    assert clash["conflicts"] == ["a.txt"]


def test_diff_of_a_missing_branch_says_where_to_look(project: Path) -> None:
    failed = isollm(project, "diff", "nope", code=1)
    assert "the hub has no branch isollm/nope for task nope" in failed.stderr
    assert "isollm sync status" in failed.stderr
    assert "Traceback" not in failed.stderr


@pytest.fixture
def landing(git_repo: Path, tmp_path: Path) -> Iterator[CliProject]:
    made = cli_project(git_repo, tmp_path)
    yield made
    service.stop(made.port)
    unmount_under(fsutil.isollm_home())


def test_merge_all_lands_reports_requeues_and_cleans_up(landing: CliProject) -> None:
    reason = registry.available("overlay")
    if reason:
        skip_or_fail(f"overlay backend unavailable: {reason}")
    root = landing.root
    one = landing.deliver("Add one", {"one.txt": "1\n"})
    landing.deliver("Touch the readme", {"README.md": "mine\n"})
    clash = landing.deliver("Touch it too", {"README.md": "theirs\n"})
    broken = landing.deliver("Break it", {"src/app.py": "BROKEN\n"})
    planned = isollm(root, "merge", "--all", "--dry-run", "--json", code=1)  # one conflicts
    plan = json.loads(planned.stdout)["data"]
    statuses = [o["status"] for o in plan["outcomes"]]
    assert statuses == ["would land", "would land", "conflict", "would land"]
    assert plan["new"] == plan["old"]

    result = isollm(root, "merge", "--all", "--requeue", code=1)
    text = result.stdout
    assert f"landed         {one}  isollm/{one}" in text
    assert "files: README.md" in text
    assert "fix task: ar-" in text
    assert "run `isollm sync pull` to bring it to your repository" in text
    assert "Traceback" not in result.stderr
    landed = landing.hub_git("log", "--format=%s", "main")
    assert f"Merge task {one}: Add one" in landed
    branches = landing.hub_git("for-each-ref", "--format=%(refname:short)", "refs/heads/isollm/")
    assert f"isollm/{one}" not in branches.split()  # landed: cleaned up after the merge
    assert f"isollm/{broken}" in branches.split()
    titles = [t["title"] for t in as_json(root, "task", "list")["tasks"]]
    assert f"merge conflict with main in files README.md: task {clash}" in titles
    assert f"merge test failed on main: task {broken}" in titles


def test_gc_dry_run_lists_exactly_what_gc_removes(landing: CliProject) -> None:
    root = landing.root
    merged = landing.deliver("Merged already", {"m.txt": "m\n"})
    kept = landing.deliver("Not landed", {"k.txt": "k\n"})
    landing.hub_git("update-ref", f"refs/heads/isollm/{merged}", "main")
    git(root, "branch", f"isollm/{merged}", "main")
    old_salvage = "refs/isollm/salvage/w1/20200101T000000000000"
    new_salvage = "refs/isollm/salvage/w1/29990101T000000000000"
    for ref in (old_salvage, new_salvage):
        landing.hub_git("update-ref", ref, landing.tips[kept])

    listed = as_json(root, "gc", "--dry-run")
    names = [(i["kind"], i["name"]) for i in listed["removed"]]
    assert ("salvage ref", old_salvage) in names
    assert ("salvage ref", new_salvage) not in names
    assert ("hub branch", f"isollm/{merged}") in names
    assert ("host branch", f"isollm/{merged}") in names
    assert all(kept not in name for _, name in names)
    done = as_json(root, "gc")
    assert [(i["kind"], i["name"]) for i in done["removed"]] == names
    assert as_json(root, "gc", "--dry-run")["removed"] == []
    hub_branches = landing.hub_git("for-each-ref", "--format=%(refname:short)", "refs/heads/")
    assert f"isollm/{kept}" in hub_branches.split()
    assert f"isollm/{merged}" not in hub_branches.split()

    refused = isollm(root, "gc", "--include-unmerged", code=1)  # no terminal to confirm
    assert "no terminal to type it in: nothing was removed" in refused.stderr
    assert "pass --yes" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert f"isollm/{kept}" in landing.hub_git("branch", "--list").split()
    gone = as_json(root, "gc", "--include-unmerged", "--yes")["removed"]
    assert [(i["kind"], i["name"]) for i in gone] == [("hub branch", f"isollm/{kept}")]
