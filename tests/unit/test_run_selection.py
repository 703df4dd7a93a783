"""``isollm run --task ID``: the scheduler claims only the tasks selected."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from isollm.errors import RunError
from isollm.runner import selection
from isollm.tasks.store import errors
from isollm.tasks.store.model import Claim, Task


def task(task_id: str) -> Task:
    now = "2026-01-01T00:00:00Z"
    return Task.from_json(
        {"id": task_id, "title": task_id, "status": "open", "created_at": now, "updated_at": now}
    )


@dataclass
class Queue:
    ready: list[str]
    taken_meanwhile: set[str] = field(default_factory=set)
    claimed: list[str] = field(default_factory=list)

    def all_ready(self) -> list[Task]:
        return [task(t) for t in self.ready]

    def claim_next(self, agent: str, lease: float) -> Claim | None:
        self.claimed.append("next")
        return None

    def claim(self, task_id: str, agent: str, lease: float) -> Claim:
        if task_id in self.taken_meanwhile:
            raise errors.AlreadyClaimedError("taken")
        self.claimed.append(task_id)
        return Claim(task(task_id), 1, None)  # type: ignore[arg-type]

    def get_task(self, task_id: str) -> Task:
        if task_id not in self.ready:
            raise errors.TaskNotFoundError("no")
        return task(task_id)


def test_without_a_selection_the_queue_picks() -> None:
    q = Queue(["a", "b"])
    assert selection.claim_next(q, "w1", 60) is None  # type: ignore[arg-type]
    assert q.claimed == ["next"]


def test_only_selected_tasks_are_claimed_in_queue_order() -> None:
    q = Queue(["a", "b", "c"], taken_meanwhile={"b"})
    claim = selection.claim_next(q, "w1", 60, ("c", "b"))  # type: ignore[arg-type]
    assert claim is not None
    assert claim.task.id == "c"
    assert selection.claim_next(Queue(["a"]), "w1", 60, ("z",)) is None  # type: ignore[arg-type]


def test_an_unknown_selected_task_is_named() -> None:
    with pytest.raises(RunError, match="no task zz"):
        selection.check_selection(Queue(["a"]), ["a", "zz"])  # type: ignore[arg-type]
