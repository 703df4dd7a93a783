"""``isollm run`` with an agent that goes silent (the ``command`` agent in a real
sandbox, sleeping as one stuck on an unreachable model API would): the stall shows in
the plain output and the ledger within ``runner.stall_after``, and with
``stall_action: stop`` the attempt ends then, not at the agent's timeout."""

from __future__ import annotations

import time

import pytest

from tests.e2e.run_support import (
    WRITE_TASK_FILE,
    RunProject,
    agents_running,
    events_of,
)

pytestmark = pytest.mark.timeout(240)


def test_a_silent_agent_is_flagged_and_finishes_its_task(project: RunProject) -> None:
    project.use_agent(
        f"echo working; sleep 3; {WRITE_TASK_FILE}; echo wrote it", timeout=120, stall_after=1
    )
    task = project.add("slow but alive")

    result = project.isollm("run", "--plain")

    assert f"{task} stalled  slow but alive - no activity for 1 s (last: working)" in (
        result.stdout
    )
    assert project.task(task).status == "done"
    [stall] = events_of(project.ledger(), "agent.stalled", task)
    assert (stall["idle"], stall["last"], stall["action"]) == (1, "working", "flag")


def test_stall_action_stop_ends_the_attempt_long_before_the_timeout(
    project: RunProject,
) -> None:
    project.use_agent(
        "echo working; exec sleep 300",
        timeout=600,
        stall_after=2,
        stall_action="stop",
        max_attempts=2,
    )
    stuck = project.add("stuck task")

    started = time.monotonic()
    result = project.isollm("run", "--plain", code=1)

    assert time.monotonic() - started < 60
    assert "no activity for 2 s (last: working); stopping it" in result.stdout
    assert project.task(stuck).status == "blocked"
    reasons = [r["reason"] for r in project.receipts()]
    assert reasons == ["the agent was stopped: no activity for 2 s"] * 2
    assert len(events_of(project.ledger(), "agent.stalled", stuck)) == 2
    assert not agents_running([stuck])
