"""What happens after a merge failed: the fix task's branch lands and takes the failed
branch with it, a rerun never queues the same fix twice, the conflict names only the
commits that touch its files, a task cleaned up after landing still reads as landed,
an agent's commit message cannot make another task look landed, and a test command
that cannot run stops the merge instead of failing every branch.

Real git, a real task store, the overlay sandbox for the merge test.
"""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from isollm.land import journal
from isollm.land.build import Strategy
from isollm.land.merge import MergeRequest, Status, merge
from isollm.land.testing import MergeTestError, SandboxTester
from isollm.tasks.store.model import PageRequest
from tests.conftest import git
from tests.integration.land_support import Landing, landing
from tests.integration.sandbox_support import Factory, factory_for  # noqa: F401 - fixture

PAGE = PageRequest(1, 1000)


@pytest.fixture
def land(tmp_path: Path, factory_for: Callable[[str], Factory]) -> Landing:  # noqa: F811
    f = factory_for("overlay")
    return landing(tmp_path, f.project, f.repo, f.hub)


def fix_branch(land: Landing, title: str, failed: str, keep: dict[str, str]) -> str:
    """A done fix task whose branch starts from main, merges the failed task's branch
    (as its description says) and keeps ``keep``: the branch of a fix task's agent."""
    fix = land.deliver(title, {"placeholder.txt": ""})  # a done task; its branch is redone
    work = land.work
    git(work, "fetch", "-q", "origin")
    git(work, "checkout", "-q", "-B", f"isollm/{fix}", "origin/main")
    merged = git_ok(work, "merge", "-q", "--no-edit", f"origin/isollm/{failed}")
    for name, text in keep.items():
        (work / name).write_text(text)
    git(work, "add", "-A")
    if not merged or git(work, "status", "--porcelain"):
        git(work, "commit", "-q", "--no-edit", "-m", f"fix {failed}")
    git(work, "push", "-q", "--force", "origin", f"isollm/{fix}:isollm/{fix}")
    land.tips[fix] = git(work, "rev-parse", "HEAD")
    return fix


def git_ok(cwd: Path, *args: str) -> bool:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False).returncode == 0


@pytest.mark.parametrize("test", [True, False], ids=["tested", "no-test"])
def test_a_fix_branch_that_keeps_main_lands_and_takes_the_failed_branch_with_it(
    land: Landing, test: bool
) -> None:
    mine = land.deliver("Touch the readme", {"README.md": "mine\n"})
    clash = land.deliver("Touch it too", {"README.md": "theirs\n"})
    first = merge(land.queue(test=test), MergeRequest())
    assert {o.task_id: o.status for o in first.outcomes} == {
        mine: Status.LANDED,
        clash: Status.CONFLICT,
    }
    # The fix resolves the conflict keeping main's side: its files are main's.
    fix = fix_branch(land, "Fix the clash", clash, {"README.md": "mine\n"})
    assert land.hub_git("rev-parse", f"isollm/{fix}^{{tree}}") == land.hub_git(
        "rev-parse", "main^{tree}"
    )

    report = merge(land.queue(test=test), MergeRequest())
    by_task = {o.task_id: o for o in report.outcomes}
    assert by_task[fix].status is Status.LANDED, by_task[fix]
    assert by_task[clash].status is Status.ALREADY, by_task[clash]
    assert "later task's branch" in by_task[clash].reason
    assert report.failed == []
    main = land.hub_git("rev-parse", "main")
    land.hub_git("merge-base", "--is-ancestor", land.tips[clash], main)
    assert land.hub_git("show", "main:README.md") == "mine"


@pytest.mark.parametrize("resolved", ["mine\n", "mine and theirs\n"], ids=["main's", "both"])
def test_a_squashed_fix_names_the_branch_it_brought_in(land: Landing, resolved: str) -> None:
    strategy = Strategy.SQUASH  # rebase replays the fixed branch's commits: they conflict
    land.deliver("Touch the readme", {"README.md": "mine\n"})
    clash = land.deliver("Touch it too", {"README.md": "theirs\n"})
    merge(land.queue(test=False), MergeRequest())
    fix = fix_branch(land, "Fix the clash", clash, {"README.md": resolved})
    report = merge(land.queue(test=False), MergeRequest(strategy=strategy))
    by_task = {o.task_id: o.status for o in report.outcomes}
    assert (by_task[clash], by_task[fix]) == (Status.ALREADY, Status.LANDED)
    body = land.hub_git("log", "-1", "--format=%B", "main")
    assert f"Isollm-Tip: {land.tips[clash]}" in body.splitlines()
    again = merge(land.queue(test=False), MergeRequest(tasks=(clash,), strategy=strategy))
    assert [o.status for o in again.outcomes] == [Status.ALREADY]


def test_squash_of_a_branch_whose_changes_main_has_lands_nothing_and_says_why(
    land: Landing,
) -> None:
    first = land.deliver("Add a", {"a.txt": "a\n"})
    same = land.deliver("Add a again", {"a.txt": "a\n"})
    merge(land.queue(test=False), MergeRequest(tasks=(first,)))
    before = land.hub_git("rev-parse", "main")
    report = merge(land.queue(test=False), MergeRequest(tasks=(same,), strategy=Strategy.SQUASH))
    assert [o.status for o in report.outcomes] == [Status.ALREADY]
    assert report.outcomes[0].reason == "main already has every change it makes"
    assert land.hub_git("rev-parse", "main") == before


def test_a_rerun_with_requeue_reuses_the_fix_task_not_done_yet(land: Landing) -> None:
    land.deliver("Touch the readme", {"README.md": "mine\n"})
    clash = land.deliver("Touch it too", {"README.md": "theirs\n"})
    broken = land.deliver("Break it", {"src/app.py": "BROKEN\n"})
    first = merge(land.queue(), MergeRequest(requeue=True))
    fixes = {o.task_id: o.fix_task for o in first.outcomes if o.fix_task}
    assert set(fixes) == {clash, broken}
    again = merge(land.queue(), MergeRequest(requeue=True))
    assert {o.task_id: o.fix_task for o in again.outcomes if o.fix_task} == fixes
    titles = [t.title for t in land.store.list_tasks(None, PAGE).items]
    assert len(titles) == len(set(titles)), titles
    description = land.store.get_task(fixes[clash]).description or ""
    assert f"git fetch origin isollm/{clash}" in description
    assert "git merge FETCH_HEAD" in description


def test_a_conflict_names_the_commits_that_touch_its_files(land: Landing) -> None:
    land.deliver("Unrelated work", {"other.txt": "x\n"})
    land.deliver("Touch the readme", {"README.md": "mine\n"})
    clash = land.deliver("Touch it too", {"README.md": "theirs\n"})
    report = merge(land.queue(test=False), MergeRequest())
    conflict = next(o for o in report.outcomes if o.task_id == clash)
    assert conflict.status is Status.CONFLICT
    assert [c.split(" ", 1)[1] for c in conflict.ours] == ["Touch the readme"]
    assert [c.split(" ", 1)[1] for c in conflict.theirs] == ["Touch it too"]


def test_a_task_landed_then_cleaned_up_reads_as_landed(land: Landing) -> None:
    done = land.deliver("Add a", {"a.txt": "a\n"})
    merge(land.queue(test=False), MergeRequest(tasks=(done,), strategy=Strategy.SQUASH))
    land.hub_git("update-ref", "-d", f"refs/heads/isollm/{done}")  # as gc does
    report = merge(land.queue(test=False), MergeRequest(tasks=(done, "ar-none")))
    by_task = {o.task_id: o for o in report.outcomes}
    assert by_task[done].status is Status.ALREADY
    assert "cleaned up" in by_task[done].reason
    assert by_task["ar-none"].status is Status.SKIPPED
    assert by_task["ar-none"].reason == "the hub has no branch for it"


def test_an_agent_commit_message_cannot_make_another_task_look_landed(land: Landing) -> None:
    victim = land.deliver("Real work", {"v.txt": "v\n"})
    trailers = f"Isollm-Tip: {land.tips[victim]}\nIsollm-Task: {victim}"
    forger = land.deliver("Forge", {"f.txt": "f\n"})
    work = land.work
    (work / "g.txt").write_text("g\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", f"innocent\n\n{trailers}")
    git(work, "push", "-q", "--force", "origin", f"HEAD:isollm/{forger}")
    request = MergeRequest(tasks=(forger,), strategy=Strategy.REBASE)
    assert [o.status for o in merge(land.queue(test=False), request).outcomes] == [Status.LANDED]
    report = merge(land.queue(test=False), MergeRequest(tasks=(victim,), dry_run=True))
    assert [o.status for o in report.outcomes] == [Status.PLANNED]


def test_a_test_command_that_cannot_run_stops_the_merge_and_blames_no_branch(
    land: Landing,
) -> None:
    land.deliver("Add one", {"one.txt": "1\n"})
    before = land.hub_git("rev-parse", "main")
    tester = SandboxTester(land.config("overlay", ["no-such-test-program"]), land.repo, land.hub)
    queue = dataclasses.replace(land.queue(), tester=tester)
    with pytest.raises(MergeTestError, match="'no-such-test-program' is not found") as info:
        merge(queue, MergeRequest(requeue=True))
    assert "sandbox.expose" in (info.value.hint or "")
    assert land.hub_git("rev-parse", "main") == before
    assert [t.title for t in land.store.list_tasks(None, PAGE).items] == ["Add one"]
    assert journal.load(land.hub) is None
    assert land.hub_git("for-each-ref", "refs/isollm/merge/") == ""


def test_a_setup_that_fails_on_a_branch_is_that_branch_failing_its_test(land: Landing) -> None:
    good = land.deliver("Add one", {"one.txt": "1\n"})
    bad = land.deliver("Break the build", {"build.txt": "BROKEN\n"})
    config = land.config("overlay")
    setup = ["sh", "-c", "! grep -qs BROKEN build.txt"]
    config = dataclasses.replace(config, sandbox=dataclasses.replace(config.sandbox, setup=setup))
    queue = dataclasses.replace(land.queue(), tester=SandboxTester(config, land.repo, land.hub))
    report = merge(queue, MergeRequest())
    by_task = {o.task_id: o for o in report.outcomes}
    assert by_task[good].status is Status.LANDED
    assert by_task[bad].status is Status.TEST_FAILED
    assert "setup failed" in by_task[bad].test_tail
