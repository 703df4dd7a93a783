"""``isollm task unblock --all | --reason TEXT``: after fixing a setup problem, return the
tasks it blocked to the queue in one go (with the host's token)."""

from __future__ import annotations

from dataclasses import dataclass

from isollm.tasks.client.http import TaskClient
from isollm.tasks.store.model import Status, Task


@dataclass(frozen=True)
class Blocked:
    task: Task
    reason: str  # the latest reason it was blocked with ("" if none was given)


def blocked(client: TaskClient) -> list[Blocked]:
    """Every blocked task with the reason of its latest block."""
    out = []
    for task in client.all_tasks(Status.BLOCKED):
        reasons = [
            h.new_value or ""
            for h in client.history(task.id)
            if h.action == "block" and h.field == "reason"
        ]
        out.append(Blocked(task, reasons[-1] if reasons else ""))
    return out


def matching(items: list[Blocked], reason: str | None) -> list[Blocked]:
    """Those whose reason holds ``reason`` (case-insensitive); all when None."""
    if reason is None:
        return items
    wanted = reason.casefold()
    return [b for b in items if wanted in b.reason.casefold()]


def unblock_matching(client: TaskClient, reason: str | None) -> list[Task]:
    """Unblock every blocked task (or those whose reason holds ``reason``)."""
    return [client.unblock(b.task.id) for b in matching(blocked(client), reason)]
