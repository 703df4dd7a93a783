"""What the host's ``isollm task`` commands do, as functions over a TaskClient.

Pure of printing and argv: each returns a value the CLI renders as text or JSON.
``read_import_file`` checks a whole YAML file and reports every problem at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from isollm.tasks.client.http import TaskClient
from isollm.tasks.store.errors import ValidationFailedError
from isollm.tasks.store.model import (
    AuditEntry,
    Dependency,
    ImportItem,
    ImportResult,
    NewTask,
    Status,
    Task,
    parse_priority,
)

STATUS_ORDER = (Status.IN_PROGRESS, Status.OPEN, Status.BLOCKED, Status.DONE)
IMPORT_KEYS = frozenset({"title", "key", "description", "priority", "parent", "spec", "after"})


@dataclass(frozen=True)
class TaskBoard:
    """Every task, grouped by status; ``waiting`` are open tasks whose dependencies are not done."""

    groups: dict[Status, list[Task]]
    waiting: frozenset[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "tasks": [
                {**t.to_json(), "ready": t.status is Status.OPEN and t.id not in self.waiting}
                for status in STATUS_ORDER
                for t in self.groups.get(status, [])
            ],
            "counts": {s.value: len(self.groups.get(s, [])) for s in STATUS_ORDER},
        }


@dataclass(frozen=True)
class TaskDetail:
    task: Task
    dependencies: list[Dependency]
    history: list[AuditEntry]

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task.to_json(),
            "dependencies": [d.to_json() for d in self.dependencies],
            "history": [h.to_json() for h in self.history],
        }


def add_task(
    client: TaskClient,
    title: str,
    *,
    description: str | None = None,
    priority: int = 2,
    parent: str | None = None,
    after: tuple[str, ...] = (),
) -> Task:
    """Create a task; with ``after`` it and its dependencies appear together or not at all."""
    if not after:
        return client.add_task(title, description=description, priority=priority, parent_id=parent)
    new = NewTask(title, description=description, priority=priority, parent_id=parent)
    return client.import_tasks([ImportItem(new, after=after)]).tasks[0]


def board(client: TaskClient, status: Status | None = None) -> TaskBoard:
    tasks = client.all_tasks(status)
    groups: dict[Status, list[Task]] = {}
    for task in tasks:
        groups.setdefault(task.status, []).append(task)
    opened = {t.id for t in groups.get(Status.OPEN, [])}
    ready = {t.id for t in client.all_ready()} if opened else set()
    return TaskBoard(groups, frozenset(opened - ready))


def detail(client: TaskClient, task_id: str) -> TaskDetail:
    return TaskDetail(
        client.get_task(task_id), client.dependencies(task_id), client.history(task_id)
    )


def import_file(client: TaskClient, path: Path) -> ImportResult:
    return client.import_tasks(read_import_file(path))


def read_import_file(path: Path) -> list[ImportItem]:
    """The tasks of a YAML import file; ValidationFailedError lists every problem.

    The file is a list of tasks (or ``tasks:`` holding one); each has a ``title`` and
    may have ``key``, ``description``, ``priority`` (0-4 or a name), ``parent``,
    ``spec`` and ``after`` (keys of this file or existing task ids).
    """
    data = _load_yaml(path)
    if isinstance(data, dict) and set(data) == {"tasks"}:
        data = data["tasks"]
    if not isinstance(data, list):
        raise ValidationFailedError.of(f"{path}: expected a list of tasks")
    items, problems = [], []
    for index, raw in enumerate(data):
        item, found = _import_item(index, raw)
        problems += found
        if item is not None:
            items.append(item)
    if problems:
        raise ValidationFailedError.of(*problems)
    return items


def _load_yaml(path: Path) -> Any:
    try:
        return YAML(typ="safe").load(path.read_text("utf-8"))
    except OSError as exc:
        raise ValidationFailedError.of(f"cannot read {path}: {exc.strerror}") from exc
    except (YAMLError, UnicodeDecodeError) as exc:
        raise ValidationFailedError.of(f"{path} is not valid YAML: {exc}") from exc


def _text(raw: dict[str, Any], name: str, where: str, problems: list[str]) -> str | None:
    value = raw.get(name)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    problems.append(f"{where}: {name} must be text")
    return None


def _import_item(index: int, raw: Any) -> tuple[ImportItem | None, list[str]]:
    where = f"task {index + 1}"
    if not isinstance(raw, dict):
        return None, [f"{where}: expected a mapping with at least a title"]
    problems = [f"{where}: unknown key {k!r}" for k in raw if k not in IMPORT_KEYS]
    title = _text(raw, "title", where, problems)
    if not title:
        problems.append(f"{where}: title is required")
    priority = 2
    if raw.get("priority") is not None:
        try:
            priority = parse_priority(raw["priority"])
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
    after = raw.get("after") or []
    if isinstance(after, str):
        after = [after]
    if not isinstance(after, list) or not all(isinstance(a, str) for a in after):
        problems.append(f"{where}: after must be a list of keys or task ids")
        after = []
    task = NewTask(
        title or "",
        description=_text(raw, "description", where, problems),
        priority=priority,
        parent_id=_text(raw, "parent", where, problems),
        spec_id=_text(raw, "spec", where, problems),
    )
    key = _text(raw, "key", where, problems)
    return ImportItem(task, key=key, after=tuple(after)), problems
