"""Resume planning: recorded completions never rerun, in-flight work never lost."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isollm.runner.resume import Plan, Step, plan_task
from isollm.runner.view import Phase, TaskView
from tests.runner_helpers import fold

A = "a" * 40
B = "b" * 40


def seen(*events: tuple[str, dict[str, Any]]) -> TaskView:
    return fold(*((kind, {"task": "ar-1", **fields}) for kind, fields in events)).tasks["ar-1"]


CLAIMED = ("task.claimed", {"attempt": 1})
COMMITTED = ("task.committed", {"sha": A})
PUSHED = ("task.pushed", {"sha": A, "branch": "isollm/ar-1"})


@pytest.mark.parametrize(
    ("events", "server", "hub", "expected"),
    [
        ([], None, None, Plan("ar-1", Step.RUN, 1)),
        ([], "done", None, Plan("ar-1", Step.RECORD_DONE, 0)),
        ([CLAIMED, ("task.done", {})], "open", None, Plan("ar-1", Step.SKIP, 1)),
        ([CLAIMED, ("task.blocked", {})], None, None, Plan("ar-1", Step.SKIP, 1)),
        ([CLAIMED], "blocked", None, Plan("ar-1", Step.RECORD_BLOCKED, 1)),
        ([CLAIMED], "in_progress", None, Plan("ar-1", Step.RETRY, 2)),
        ([CLAIMED, COMMITTED], "in_progress", None, Plan("ar-1", Step.RETRY, 2)),
        ([CLAIMED, COMMITTED], "in_progress", A, Plan("ar-1", Step.COMPLETE, 1, A)),
        ([CLAIMED, COMMITTED, PUSHED], "in_progress", A, Plan("ar-1", Step.COMPLETE, 1, A)),
        ([CLAIMED, COMMITTED, PUSHED], "in_progress", B, Plan("ar-1", Step.RETRY, 2)),
        ([CLAIMED, ("task.failed", {"reason": "x"})], "open", None, Plan("ar-1", Step.RUN, 2)),
        ([CLAIMED, ("task.released", {})], "open", A, Plan("ar-1", Step.RUN, 2)),
    ],
)
def test_the_plan_for_each_situation(
    events: list[tuple[str, dict[str, Any]]], server: str | None, hub: str | None, expected: Plan
) -> None:
    view = seen(*events) if events else None
    assert plan_task("ar-1", view, server, hub) == expected


PHASE_EVENTS = [
    CLAIMED,
    ("sandbox.ready", {}),
    ("agent.started", {}),
    ("agent.finished", {"exit": 0}),
    COMMITTED,
    PUSHED,
    ("task.done", {}),
    ("task.failed", {"reason": "x"}),
    ("task.blocked", {}),
    ("task.released", {}),
]


@given(
    st.lists(st.sampled_from(PHASE_EVENTS), min_size=1, max_size=8),
    st.sampled_from([None, "open", "in_progress", "blocked", "done"]),
    st.sampled_from([None, A, B]),
)
def test_the_two_promises(
    events: list[tuple[str, dict[str, Any]]], server: str | None, hub: str | None
) -> None:
    task = seen(CLAIMED, *events)
    plan = plan_task("ar-1", task, server, hub)
    if task.phase in (Phase.DONE, Phase.BLOCKED):
        assert plan.step is Step.SKIP  # a recorded completion is never executed again
    if task.in_flight:
        assert plan.step is not Step.SKIP  # in-flight work is finished, recorded or retried
        assert plan.executes or plan.step in (Step.COMPLETE, Step.RECORD_DONE, Step.RECORD_BLOCKED)
    if plan.executes:
        assert plan.attempt == task.attempt + 1  # a new attempt, so a new idempotency key
