"""`isollm merge`'s core on real git and real sandboxes: four task branches, two land.

Two branches merge cleanly, one conflicts with a branch landed before it, one breaks the
project's test: `merge --all` lands exactly the two, reports the other two (files and
commits; the test's output tail), and the hub's base holds both merges and passes the
test. `--requeue` makes fix tasks; squash and rebase land once, named after the task.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from isollm.land.build import Strategy
from isollm.land.lock import MergeBusyError
from isollm.land.merge import MergeRequest, Status, merge
from tests.integration.land_support import TEST_COMMAND, Landing, landing
from tests.integration.sandbox_support import Factory, factory_for  # noqa: F401 - fixture


@pytest.fixture
def land(tmp_path: Path, factory_for: Callable[[str], Factory]) -> Landing:  # noqa: F811
    f = factory_for("overlay")
    return landing(tmp_path, f.project, f.repo, f.hub)


def four(land: Landing) -> list[str]:
    return [
        land.deliver("Add one", {"one.txt": "one\n"}),
        land.deliver("Add shared", {"shared.txt": "first version\n"}),
        land.deliver("Add shared too", {"shared.txt": "second version\n"}),
        land.deliver("Break it", {"src/app.py": "print('BROKEN')\n"}),
    ]


def passes_test(land: Landing, commit: str, tmp: Path) -> bool:
    check = tmp / f"check-{commit[:8]}"
    subprocess.run(["git", "clone", "-q", str(land.hub.path), str(check)], check=True)
    subprocess.run(["git", "-C", str(check), "checkout", "-q", commit], check=True)
    result = subprocess.run(TEST_COMMAND, cwd=check, capture_output=True, check=False)
    return result.returncode == 0


def test_merge_all_lands_the_two_good_branches_and_reports_the_others(
    land: Landing, tmp_path: Path
) -> None:
    one, shared, clash, broken = four(land)
    before = land.hub_git("rev-parse", "main")
    report = merge(land.queue(), MergeRequest())
    by_task = {o.task_id: o for o in report.outcomes}
    assert [by_task[t].status for t in (one, shared, clash, broken)] == [
        Status.LANDED,
        Status.LANDED,
        Status.CONFLICT,
        Status.TEST_FAILED,
    ]
    assert by_task[clash].files == ["shared.txt"]
    assert any("Add shared" in c for c in by_task[clash].ours)
    assert any("Add shared too" in c for c in by_task[clash].theirs)
    assert "test: app is BROKEN" in by_task[broken].test_tail
    assert by_task[broken].exit_code == 3

    main = land.hub_git("rev-parse", "main")
    assert (report.old, report.new) == (before, main)
    for task in (one, shared):
        land.hub_git("merge-base", "--is-ancestor", land.tips[task], main)
    for task in (clash, broken):
        assert land.tips[task] not in land.hub_git("rev-list", main).split()
    assert land.hub_git("log", "-1", "--format=%s", main).startswith(f"Merge task {shared}: ")
    assert passes_test(land, main, tmp_path)
    assert land.hub_git("for-each-ref", "refs/isollm/merge/") == ""

    again = merge(land.queue(), MergeRequest())
    assert {o.task_id: o.status for o in again.outcomes}[one] is Status.ALREADY
    assert land.hub_git("rev-parse", "main") == main


def test_requeue_makes_a_fix_task_per_failure(land: Landing) -> None:
    _, _, clash, broken = four(land)
    report = merge(land.queue(), MergeRequest(requeue=True))
    fixes = {o.task_id: o.fix_task for o in report.outcomes if o.fix_task}
    assert set(fixes) == {clash, broken}
    conflict = land.store.get_task(fixes[clash])
    assert conflict.title == f"merge conflict with main in files shared.txt: task {clash}"
    assert f"Branch: isollm/{clash}" in (conflict.description or "")
    red = land.store.get_task(fixes[broken])
    assert "BROKEN" in (red.description or "")
    assert land.store.dependencies(fixes[clash]) == []


def test_dry_run_moves_nothing_and_plans_each_on_the_ones_before(land: Landing) -> None:
    one, shared, clash, _ = four(land)
    before = land.hub_git("rev-parse", "main")
    report = merge(land.queue(), MergeRequest(dry_run=True, tasks=(one, clash)))
    assert [o.status for o in report.outcomes] == [Status.PLANNED, Status.PLANNED]
    report = merge(land.queue(), MergeRequest(dry_run=True, tasks=(shared, clash)))
    assert [o.status for o in report.outcomes] == [Status.PLANNED, Status.CONFLICT]
    assert report.outcomes[1].files == ["shared.txt"]
    assert land.hub_git("rev-parse", "main") == before


@pytest.mark.parametrize("strategy", [Strategy.SQUASH, Strategy.REBASE])
def test_squash_and_rebase_land_once_named_after_the_task(
    land: Landing, strategy: Strategy
) -> None:
    first = land.deliver("Two commits", {"a.txt": "a\n"})
    git_work = land.work
    (git_work / "b.txt").write_text("b\n")
    subprocess.run(["git", "-C", str(git_work), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(git_work), "commit", "-q", "-m", "second"], check=True)
    subprocess.run(
        ["git", "-C", str(git_work), "push", "-q", "origin", f"HEAD:isollm/{first}"], check=True
    )
    request = MergeRequest(tasks=(first,), strategy=strategy)
    report = merge(land.queue(test=False), request)
    assert [o.status for o in report.outcomes] == [Status.LANDED]
    log = land.hub_git("log", "--format=%s%x09%P", f"{report.old}..main").splitlines()
    parents = {len(line.split("\t")[1].split()) for line in log}
    assert parents == {1}
    assert len(log) == (1 if strategy is Strategy.SQUASH else 2)
    body = land.hub_git("log", "-1", "--format=%B", "main")
    assert f"Isollm-Task: {first}" in body
    again = merge(land.queue(test=False), request)
    assert [o.status for o in again.outcomes] == [Status.ALREADY]


def test_dependencies_land_first_and_a_failed_one_holds_back_its_dependents(
    land: Landing,
) -> None:
    base = land.deliver("Base work", {"src/app.py": "BROKEN\n"})
    child = land.deliver("On top", {"top.txt": "x\n"}, after=base)
    report = merge(land.queue(), MergeRequest(tasks=(child, base)))
    assert [(o.task_id, o.status) for o in report.outcomes] == [
        (base, Status.TEST_FAILED),
        (child, Status.SKIPPED),
    ]
    assert "did not land" in report.outcomes[1].reason


HOLD = """
import sys, time
from pathlib import Path
from isollm.git.hub import Hub
from isollm.land.lock import integrator
with integrator(Hub(Path(sys.argv[1]))):
    print("held", flush=True)
    time.sleep(60)
"""


def test_one_integrator_at_a_time_and_a_dead_one_is_taken_over(land: Landing) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", HOLD, str(land.hub.path)], stdout=subprocess.PIPE, text=True
    ) as holder:
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == "held"
            with pytest.raises(MergeBusyError, match=f"pid {holder.pid}"):
                merge(land.queue(test=False), MergeRequest())
        finally:
            holder.kill()
    report = merge(land.queue(test=False), MergeRequest())
    assert report.took_over == holder.pid
