"""`isollm diff`, `isollm merge` and `isollm gc` as a user runs them: real git, the CLI."""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from isollm import fsutil
from isollm.runner.layout import RunPaths
from isollm.runner.receipts import Receipt, write_receipt
from isollm.sandbox import registry
from isollm.tasks.server import control as service
from isollm.tasks.server.control import ensure_server
from tests.conftest import git, skip_or_fail
from tests.e2e.cli import ISOLLM, as_json, isollm, on_a_terminal
from tests.integration.land_support import CliProject, cli_project
from tests.integration.sandbox_support import unmount_under
from tests.integration.tasks_support import free_port


@pytest.fixture
def project(git_repo: Path) -> Iterator[Path]:
    isollm(git_repo, "init")
    port = free_port()  # `isollm diff` asks the queue: a task server of its own
    config = git_repo / "isollm.yaml"
    config.write_text(config.read_text().replace("port: 7432", f"port: {port}"))
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "isollm init")
    isollm(git_repo, "sync", "push")
    yield git_repo
    service.stop(port)


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


def task_branch(
    landing: CliProject,
    title: str,
    files: dict[str, str],
    deps: tuple[str, ...] = (),
    *,
    done: bool = True,
) -> str:
    """A claimed (and ``done``) task depending on ``deps`` whose branch is as the
    runner leaves it: main, each dependency's branch merged (the first a fast-forward),
    then its own commit."""
    with ensure_server(landing.config(), landing.root) as client:
        task = client.add_task(title)
        for dep in deps:
            client.add_dependency(task.id, dep)
        client.claim(task.id)
        if done:
            client.done(task.id)
    work, branch = landing.work, f"isollm/{task.id}"
    git(work, "fetch", "-q", "origin")
    git(work, "checkout", "-q", "-B", branch, "origin/main")
    for dep in deps:
        git(work, "merge", "-q", "--no-edit", f"origin/isollm/{dep}")
    for name, text in files.items():
        (work / name).write_text(text)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", title)
    git(work, "push", "-q", "--force", "origin", f"{branch}:{branch}")
    landing.tips[task.id] = git(work, "rev-parse", "HEAD")
    return task.id


def test_diff_of_a_dependent_task_shows_its_own_change(landing: CliProject) -> None:
    root = landing.root
    one = landing.deliver("First", {"one.txt": "1\n"})
    two = landing.deliver("Second", {"two.txt": "2\n"})
    child = task_branch(landing, "Uses both", {"child.txt": "c\n"}, (one, two))
    started = landing.hub_git("rev-parse", f"isollm/{child}~1")  # the merge of `two`

    data = as_json(root, "diff", child)
    assert [f["path"] for f in data["files"]] == ["child.txt"]
    assert (data["base"], data["base_source"]) == (started, "dependencies merged")
    assert data["dependencies"] == [one, two]
    text = isollm(root, "diff", child).stdout
    assert f"against {started[:12]} (where its branch started: the base with its " in text
    assert f"dependencies {one}, {two} merged)" in text
    assert "+++ b/one.txt" not in text

    now = as_json(root, "diff", child, "--against", "now")  # landing it brings them all
    assert sorted(f["path"] for f in now["files"]) == ["child.txt", "one.txt", "two.txt"]
    assert now["dependencies"] == []
    # A task depending on nothing still reads from its base.
    assert as_json(root, "diff", one)["base_source"] == "merge-base"


def hub_refs(landing: CliProject, prefix: str) -> dict[str, str]:
    text = landing.hub_git("for-each-ref", "--format=%(refname) %(objectname)", prefix)
    return dict(line.split() for line in text.splitlines())


def test_gc_task_drops_one_tasks_work_and_keeps_a_way_back(landing: CliProject) -> None:
    root = landing.root
    gone = landing.deliver("Abandoned", {"gone.txt": "g\n"})
    mine = landing.deliver("Also dropped", {"mine.txt": "m\n"})
    kept = landing.deliver("Kept", {"kept.txt": "k\n"})
    hub = hub_of(root)
    for task in (gone, mine):
        git(root, "fetch", "-q", hub, f"refs/heads/isollm/{task}:refs/heads/isollm/{task}")
    git(root, "checkout", "-q", f"isollm/{mine}")
    (root / "local.txt").write_text("my own commit\n")
    git(root, "add", "local.txt")
    git(root, "commit", "-q", "-m", "a commit of the user's")
    local_mine = git(root, "rev-parse", "HEAD")
    git(root, "checkout", "-q", "main")
    tasks = ["--task", gone, "--task", mine]

    refused = isollm(root, "gc", *tasks, code=1)  # no terminal to confirm
    assert "no terminal to type it in: nothing was removed" in refused.stderr
    assert "Traceback" not in refused.stderr
    listed = as_json(root, "gc", *tasks, "--dry-run")
    assert [(t["task"], t["tip"], t["ahead"]) for t in listed["tasks"]] == [
        (gone, landing.tips[gone], 1),
        (mine, landing.tips[mine], 1),
    ]
    assert listed["tasks"][0]["subjects"] == ["Abandoned"]
    assert listed["tasks"][0]["local"] == landing.tips[gone]
    assert "may hold your work" in listed["tasks"][1]["local_kept"]
    assert set(hub_refs(landing, "refs/heads/isollm/")) == {
        f"refs/heads/isollm/{t}" for t in (gone, mine, kept)
    }

    done = isollm(root, "gc", *tasks, "--yes")
    text = done.stdout
    assert f"dropped task {gone}'s work: isollm/{gone} was at {landing.tips[gone]}" in text
    assert f"removed your local isollm/{gone}" in text
    assert f"removed your local isollm/{mine}" not in text
    assert set(hub_refs(landing, "refs/heads/isollm/")) == {f"refs/heads/isollm/{kept}"}
    backups = hub_refs(landing, "refs/isollm/backup/")
    assert sorted(backups.values()) == sorted([landing.tips[gone], landing.tips[mine]])
    assert git(root, "branch", "--list", f"isollm/{gone}") == ""
    assert git(root, "rev-parse", f"isollm/{mine}") == local_mine  # the user's: kept
    # `merge --all` no longer has it as a candidate.
    plan = as_json(root, "merge", "--all", "--dry-run")
    assert [o["task_id"] for o in plan["outcomes"]] == [kept]
    # The printed command brings it back.
    back = next(line for line in text.splitlines() if "bring it back with" in line)
    command = back.split("`")[-2]
    subprocess.run(shlex.split(command), check=True, capture_output=True)
    assert landing.hub_git("rev-parse", f"isollm/{gone}") == landing.tips[gone]

    missing = isollm(root, "gc", "--task", kept, "--task", "nope", "--yes", code=1)
    assert "the hub has no branch isollm/nope for task nope: nothing was removed" in missing.stderr
    for bad in ("../main", "-x"):
        wrong = isollm(root, "gc", f"--task={bad}", "--yes", code=1)
        assert "is not a task id: nothing was removed" in wrong.stderr
    assert f"refs/heads/isollm/{kept}" in hub_refs(landing, "refs/heads/isollm/")


def test_gc_task_leaves_a_task_in_progress_unless_forced(landing: CliProject) -> None:
    root = landing.root
    busy = task_branch(landing, "In progress", {"busy.txt": "b\n"}, done=False)
    assert as_json(root, "task", "show", busy)["task"]["status"] == "in_progress"
    refused = isollm(root, "gc", "--task", busy, "--yes", code=1)
    assert f"task {busy} is in progress" in refused.stderr
    assert "--force" in refused.stderr
    assert landing.hub_git("rev-parse", f"isollm/{busy}") == landing.tips[busy]
    isollm(root, "gc", "--task", busy, "--yes", "--force")
    assert not hub_refs(landing, f"refs/heads/isollm/{busy}")


TYPE_NO = (b"Type 'delete'", "no\n")
TYPE_DELETE = (b"Type 'delete'", "delete\n")


def test_gc_task_asks_to_type_delete_on_a_terminal(landing: CliProject) -> None:
    root = landing.root
    task = landing.deliver("Typed away", {"t.txt": "t\n"})
    no, shown_no = on_a_terminal(root, [ISOLLM, "gc", "--task", task], answer=TYPE_NO)
    assert no == 1, shown_no
    assert "nothing was removed: you did not type 'delete'" in shown_no
    assert landing.hub_git("rev-parse", f"isollm/{task}") == landing.tips[task]
    code, shown = on_a_terminal(root, [ISOLLM, "gc", "--task", task], answer=TYPE_DELETE)
    assert code == 0, shown
    assert "1 commit(s) not on the base branch" in shown
    assert "Type 'delete' to drop the work of 1 task(s)" in shown
    assert not hub_refs(landing, f"refs/heads/isollm/{task}")
