"""The summary of a run (pure): per task from the view and receipts, then totals."""

from __future__ import annotations

from isollm.runner.runstate import RunState
from isollm.runner.summary import Totals, summarize
from isollm.runner.view import RunView
from tests.runner_helpers import RUN, fold, make_receipt

STATE = RunState(
    id=RUN,
    status="running",
    started="2026-11-21T19:05:12Z",
    workers=2,
    agent="claude",
    config_digest="sha256:x",
    pid=1,
    base_branch="main",
)


def test_tasks_combine_the_ledger_and_their_receipts() -> None:
    view = fold(
        ("task.claimed", {"task": "ar-1", "attempt": 1, "worker": "w1"}),
        ("task.failed", {"task": "ar-1", "attempt": 1, "reason": "exit 1"}),
        ("task.claimed", {"task": "ar-1", "attempt": 2, "worker": "w2"}),
        ("task.pushed", {"task": "ar-1", "attempt": 2, "sha": "c2", "branch": "isollm/ar-1"}),
        ("task.done", {"task": "ar-1", "attempt": 2}),
        ("task.claimed", {"task": "ar-2", "attempt": 1, "worker": "w1"}),
    )
    receipts = [
        make_receipt(
            "ar-1",
            2,
            head_commit="c2",
            files_changed=["a.py", "b.py"],
            tokens_in=100,
            cost_usd=0.5,
            duration_s=10.0,
        ),
        make_receipt("ar-1", 1, outcome="failed", exit_code=1, tokens_out=20, duration_s=5.0),
    ]

    summary = summarize(RUN, view, receipts, state=STATE)

    first, second = summary.tasks
    assert (first.task_id, first.status, first.attempts, first.worker) == ("ar-1", "done", 2, "w2")
    assert (first.branch, first.head_commit, first.files_changed) == (
        "isollm/ar-1",
        "c2",
        ["a.py", "b.py"],
    )
    assert (first.duration_s, first.tokens, first.cost_usd) == (15.0, 120, 0.5)
    assert (second.task_id, second.status, second.duration_s, second.tokens) == (
        "ar-2",
        "claimed",
        None,
        None,
    )
    assert summary.totals == Totals(
        tasks=2,
        done=1,
        failed=0,
        blocked=0,
        in_flight=1,
        attempts=3,
        duration_s=15.0,
        tokens=120,
        cost_usd=0.5,
    )
    assert (summary.status, summary.workers, summary.base_branch) == ("running", 2, "main")


def test_a_task_only_a_receipt_knows_is_still_shown() -> None:
    summary = summarize(RUN, RunView(), [make_receipt("ar-9", 1, outcome="failed", reason="boom")])
    (task,) = summary.tasks
    assert (task.task_id, task.status, task.attempts, task.reason) == ("ar-9", "failed", 1, "boom")
    assert summary.totals.failed == 1


def test_without_run_state_the_ledger_gives_the_status() -> None:
    view = fold(("run.finished", {"status": "completed"}))
    assert summarize(RUN, view).status == "completed"
    assert summarize(RUN, RunView()).status == "unknown"


def test_the_summary_is_plain_data() -> None:
    data = summarize(RUN, fold(("task.claimed", {"task": "a"})), problems=["x"]).to_dict()
    assert data["tasks"][0]["task_id"] == "a"
    assert data["totals"]["in_flight"] == 1
    assert data["problems"] == ["x"]
