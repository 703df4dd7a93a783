"""Which task branches a merge lands, in which order, and what the queue says of them.

Candidates come in order of completion (when the task was done, else when its branch
last moved), a task's dependencies before it. The queue is read through
:class:`TaskBook`: the task server's client in the CLI, anything alike in tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from isollm.git.parse import BranchRef
from isollm.tasks.client.http import TaskClient
from isollm.tasks.store.errors import TaskNotFoundError
from isollm.tasks.store.model import Status

DONE = str(Status.DONE)


@dataclass(frozen=True)
class TaskFacts:
    """What the merge needs to know of a task from the queue."""

    id: str
    title: str
    status: str
    done_at: datetime | None = None
    after: tuple[str, ...] = ()  # the tasks it depends on


class TaskBook(Protocol):
    def facts(self, task_id: str) -> TaskFacts | None: ...  # None: not in the queue
    def add_fix_task(self, title: str, description: str) -> str: ...  # the new task's id
    def unfinished(self, title: str) -> str | None: ...  # a task not done with this title


class ClientBook:
    """The task server seen as a :class:`TaskBook`."""

    def __init__(self, client: TaskClient) -> None:
        self.client = client

    def facts(self, task_id: str) -> TaskFacts | None:
        try:
            task = self.client.get_task(task_id)
        except TaskNotFoundError:
            return None
        deps = tuple(
            d.parent_id for d in self.client.dependencies(task_id) if d.child_id == task_id
        )
        done_at = task.updated_at if task.status is Status.DONE else None
        return TaskFacts(task.id, task.title, str(task.status), done_at, deps)

    def add_fix_task(self, title: str, description: str) -> str:
        return self.client.add_task(title, description=description, priority=1).id

    def unfinished(self, title: str) -> str | None:
        for status in (Status.OPEN, Status.IN_PROGRESS, Status.BLOCKED):
            for task in self.client.all_tasks(status):
                if task.title == title:
                    return task.id
        return None


@dataclass(frozen=True)
class Candidate:
    task_id: str
    branch: str
    tip: str
    title: str
    completed: datetime
    after: tuple[str, ...] = ()


@dataclass(frozen=True)
class Skipped:
    task_id: str
    branch: str
    reason: str
    missing: bool = False  # the hub has no branch for it


def select(
    branches: Sequence[BranchRef], prefix: str, book: TaskBook, wanted: Sequence[str] | None
) -> tuple[list[Candidate], list[Skipped]]:
    """The candidates among the hub's task branches (``wanted``: those tasks only, in
    any state; None: every branch whose task is done or no longer in the queue)."""
    by_task = {b.name.removeprefix(prefix): b for b in branches}
    chosen: list[Candidate] = []
    skipped: list[Skipped] = []
    for task_id in wanted if wanted is not None else sorted(by_task):
        ref = by_task.get(task_id)
        if ref is None:
            reason = "the hub has no branch for it"
            skipped.append(Skipped(task_id, f"{prefix}{task_id}", reason, missing=True))
            continue
        facts = book.facts(task_id)
        if wanted is None and facts is not None and facts.status != DONE:
            skipped.append(Skipped(task_id, ref.name, f"the task is {facts.status}, not done"))
            continue
        when = (facts.done_at if facts else None) or ref.time
        title = facts.title if facts else ref.subject
        chosen.append(
            Candidate(task_id, ref.name, ref.sha, title, when, facts.after if facts else ())
        )
    return order(chosen), skipped


def order(candidates: Sequence[Candidate]) -> list[Candidate]:
    """By completion, each after the candidates it depends on (a cycle: by completion)."""
    pending = sorted(candidates, key=lambda c: (c.completed, c.task_id))
    ids = {c.task_id for c in pending}
    out: list[Candidate] = []
    placed: set[str] = set()
    while pending:
        ready = next(
            (c for c in pending if all(d in placed or d not in ids for d in c.after)), pending[0]
        )
        pending.remove(ready)
        out.append(ready)
        placed.add(ready.task_id)
    return out
