"""What the client does against a plain airyra, which lacks isollm's bulk endpoints.

Not atomic the way the server-side versions are: an import creates tasks one by one
and deletes what it created if a later step fails; clearing deletes task by task.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from isollm.tasks.store.import_plan import plan_import
from isollm.tasks.store.model import ImportItem, ImportResult, Status, Task

if TYPE_CHECKING:
    from isollm.tasks.client.http import TaskClient


def import_one_by_one(client: TaskClient, items: list[ImportItem]) -> ImportResult:
    existing = {t.id for t in client.all_tasks()}
    plan = plan_import(items, existing.__contains__)
    ids: dict[int, str] = {}
    try:
        for index in plan.order:
            new = plan.resolved_task(index, ids)
            ids[index] = client.add_task(
                new.title,
                description=new.description,
                priority=new.priority,
                parent_id=new.parent_id,
                spec_id=new.spec_id,
            ).id
        for child, parent in plan.edges(ids):
            client.add_dependency(child, parent)
    except BaseException:
        for task_id in reversed(list(ids.values())):
            client.delete_task(task_id)
        raise
    tasks = [client.get_task(ids[i]) for i in range(len(items))]
    return ImportResult(tasks, {key: ids[i] for key, i in plan.keys.items()})


def clear_done_one_by_one(client: TaskClient) -> list[str]:
    tasks = client.all_tasks()
    keep = _unfinished_lineage(tasks)
    cleared = []
    for task in tasks:
        if task.status is Status.DONE and task.id not in keep:
            client.delete_task(task.id)
            cleared.append(task.id)
    return cleared


def _unfinished_lineage(tasks: list[Task]) -> set[str]:
    """Ids of unfinished tasks and of every ancestor of one (deleting those cascades)."""
    parents = {t.id: t.parent_id for t in tasks}
    keep: set[str] = set()
    for task in tasks:
        node: str | None = task.id if task.status is not Status.DONE else None
        while node is not None and node not in keep:
            keep.add(node)
            node = parents.get(node)
    return keep
