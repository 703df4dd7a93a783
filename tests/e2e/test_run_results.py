"""What a run says a task amounts to, end to end (issue #12, "nothing dropped silently"):
a dependency that does not merge, a task that changes nothing, a task the reviewer never
approved. Each is visible in the progress, the receipt, ``run show`` and the exit code.

Real ``isollm run`` with the ``command`` agent, a real hub, task server and sandboxes.
"""

from __future__ import annotations

import pytest

from tests.e2e.run_support import RunProject, events_of

pytestmark = pytest.mark.timeout(240)

# Every task writes its title into the same file: two tasks from the base conflict.
SHARED_FILE_AGENT = 'printf "%s\\n" "$ISOLLM_TASK_TITLE" > shared.txt'


def done_line(stdout: str, task_id: str) -> str:
    """The progress line of ``task_id`` being done: ``... w1 ar-1 done  Title - detail``."""
    [found] = [line for line in stdout.splitlines() if f" {task_id} done " in line]
    return found


def conflicting(project: RunProject) -> tuple[str, str, str]:
    first = project.add("First writer")
    second = project.add("Second writer")
    both = project.add("Builds on both", after=[first, second])
    return first, second, both


def test_a_dependency_that_does_not_merge_fails_naming_it(project: RunProject) -> None:
    project.use_agent(SHARED_FILE_AGENT, max_attempts=1)
    _, second, both = conflicting(project)

    result = project.isollm("run", "--plain", "-n", "1", code=1)

    assert project.task(both).status == "blocked"
    why = f"dependency {second} ({project.branch(second)}) does not merge: conflicts in shared.txt"
    assert why in result.stdout
    [receipt] = [r for r in project.receipts() if r["task_id"] == both]
    assert receipt["outcome"] == "failed"
    assert why in receipt["reason"]
    # no agent run is spent on a workspace missing a dependency
    assert events_of(project.ledger(), "agent.started", both) == []


def test_on_conflict_partial_delivers_and_says_partial(project: RunProject) -> None:
    project.use_agent(SHARED_FILE_AGENT, on_conflict="partial")
    _, second, both = conflicting(project)

    result = project.isollm("run", "--plain", "-n", "1", code=1)

    assert project.task(both).status == "done"  # delivered ...
    assert " - partial: " in done_line(result.stdout, both)  # ... but flagged, in the progress
    assert "3 done (1 partial)" in result.stdout
    assert "delivered but not a success" in result.stderr
    [receipt] = [r for r in project.receipts() if r["task_id"] == both]
    assert (receipt["result"], receipt["flagged"]) == ("partial", True)
    shown = project.json("run", "show")
    task = next(t for t in shown["tasks"] if t["task_id"] == both)
    assert task["status"] == "partial"
    assert any(second in n and "shared.txt" in n for n in task["notes"])
    [done] = events_of(project.ledger(), "task.done", both)
    assert done["result"] == "partial"


def test_a_task_that_changes_nothing_is_shown_as_no_changes(project: RunProject) -> None:
    project.use_agent("echo nothing to do")
    task_id = project.add("Already done")

    result = project.isollm("run", "--plain")

    assert done_line(result.stdout, task_id).endswith(" - no changes")
    assert "1 done (1 no changes)" in result.stdout
    shown = project.json("run", "show")
    assert shown["tasks"][0]["status"] == "done (no changes)"
    assert project.isollm("run", "show").stdout.count("done (no changes)") == 1


def test_empty_fail_fails_a_task_that_changes_nothing(project: RunProject) -> None:
    project.use_agent("echo nothing to do", empty="fail", max_attempts=1)
    task_id = project.add("Already done")

    result = project.isollm("run", "--plain", code=1)

    assert project.task(task_id).status == "blocked"
    assert "changed nothing" in result.stdout


NEVER_APPROVES = """
case "$1" in
  "Review the change"*) echo "VERDICT: CHANGES not good enough" ;;
  *) printf "%s\\n" "$ISOLLM_TASK_TITLE" > "task-$ISOLLM_TASK_ID.txt" ;;
esac
"""


def test_a_task_never_approved_is_delivered_unapproved(project: RunProject) -> None:
    project.use_agent(NEVER_APPROVES, review=True, max_review_rounds=2)
    task_id = project.add("Reviewed")

    result = project.isollm("run", "--plain", code=1)

    assert project.task(task_id).status == "done"
    assert " - unapproved: " in done_line(result.stdout, task_id)
    [receipt] = project.receipts()
    assert (receipt["result"], receipt["flagged"]) == ("unapproved", True)
    assert "not good enough" in receipt["notes"][0]
    assert project.json("run", "show")["tasks"][0]["status"] == "unapproved"


def test_review_not_required_delivers_unapproved_with_exit_0(project: RunProject) -> None:
    project.use_agent(NEVER_APPROVES, review=True, max_review_rounds=1, review_required=False)
    task_id = project.add("Reviewed")

    result = project.isollm("run", "--plain")

    assert " - unapproved: " in done_line(result.stdout, task_id)
