"""What to do with each task when a run resumes: the ledger reconciled with the server and hub.

Pure: :func:`plan_task` takes what the replayed ledger says of a task, what the task
server says of its status, and which commit the hub has on its branch, and returns
one :class:`Step`. The rules keep the two promises of resume:

- a task whose completion was recorded is never executed again;
- a task that was in flight is never lost: it is finished if its work reached the
  hub, else given back and tried again.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from isollm.runner.view import Phase, TaskView


class Step(StrEnum):
    SKIP = "skip"  # completion (done or blocked) is in the ledger: nothing to do
    RECORD_DONE = "record_done"  # the server says done: record it, do not run it
    RECORD_BLOCKED = "record_blocked"  # the server says blocked: record it, do not run it
    COMPLETE = "complete"  # its commit is on the hub: mark it done, do not run it again
    RETRY = "retry"  # it was in flight and its work did not reach the hub: release, rerun
    RUN = "run"  # never started, failed or released: run the next attempt


@dataclass(frozen=True)
class Plan:
    task_id: str
    step: Step
    attempt: int  # the attempt the step belongs to (the next one for RETRY and RUN)
    commit: str | None = None  # for COMPLETE: the commit found on the hub

    @property
    def executes(self) -> bool:
        return self.step in (Step.RETRY, Step.RUN)


def plan_task(
    task_id: str, seen: TaskView | None, server_status: str | None, hub_commit: str | None
) -> Plan:
    """The step for one task. ``server_status`` is open, in_progress, blocked, done or None
    (unknown); ``hub_commit`` is the commit of the task's branch on the hub, or None."""
    attempt = seen.attempt if seen else 0
    if seen is not None and seen.phase in (Phase.DONE, Phase.BLOCKED):
        return Plan(task_id, Step.SKIP, attempt)
    if server_status == "done":
        return Plan(task_id, Step.RECORD_DONE, attempt)
    if server_status == "blocked":
        return Plan(task_id, Step.RECORD_BLOCKED, attempt)
    if seen is None or not seen.in_flight:
        return Plan(task_id, Step.RUN, attempt + 1)
    reached_hub = hub_commit is not None and hub_commit in (seen.pushed, seen.commit)
    if reached_hub:
        return Plan(task_id, Step.COMPLETE, attempt, hub_commit)
    return Plan(task_id, Step.RETRY, attempt + 1)
