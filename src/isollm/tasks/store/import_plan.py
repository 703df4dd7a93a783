"""Planning an all-or-nothing import: check every item, resolve references, order them.

Pure: the store passes ``exists(task_id)`` and applies the plan (staged in short
transactions, then published in one: see ``sqlite_bulk``).
Items refer to each other by ``key`` (in ``after`` and ``parent``) or to tasks that
already exist by id. Every problem is reported at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from isollm.tasks.store import validate
from isollm.tasks.store.errors import ValidationFailedError
from isollm.tasks.store.model import ImportItem, NewTask

MAX_ITEMS = 10_000


@dataclass(frozen=True)
class Ref:
    """A reference to another item of the import (``local``) or to an existing task."""

    local: int | None = None
    task_id: str | None = None

    def resolve(self, ids: dict[int, str]) -> str:
        return ids[self.local] if self.local is not None else str(self.task_id)


@dataclass
class ImportPlan:
    items: list[ImportItem]
    keys: dict[str, int] = field(default_factory=dict)
    parents: dict[int, Ref] = field(default_factory=dict)
    after: dict[int, list[Ref]] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)

    def resolved_task(self, index: int, ids: dict[int, str]) -> NewTask:
        parent = self.parents.get(index)
        task = self.items[index].task
        return replace(task, parent_id=parent.resolve(ids) if parent else None)

    def after_cycle(self) -> list[int] | None:
        """A loop of ``after`` references between items of this import, as the item
        indexes around it (first repeated at the end), or None. Iterative: a chain of
        ten thousand items is fine."""
        state: dict[int, int] = {}  # 1: on the current path, 2: done
        for start in range(len(self.items)):
            if start in state:
                continue
            path = [start]
            stack = [iter(self._local_after(start))]
            state[start] = 1
            while stack:
                nxt = next(stack[-1], None)
                if nxt is None:
                    state[path.pop()] = 2
                    stack.pop()
                elif state.get(nxt) == 1:
                    return [*path[path.index(nxt) :], nxt]
                elif nxt not in state:
                    state[nxt] = 1
                    path.append(nxt)
                    stack.append(iter(self._local_after(nxt)))
        return None

    def _local_after(self, index: int) -> list[int]:
        return [r.local for r in self.after.get(index, []) if r.local is not None]

    def edges(self, ids: dict[int, str]) -> Iterator[tuple[str, str]]:
        for index in range(len(self.items)):
            for ref in self.after.get(index, []):
                yield ids[index], ref.resolve(ids)


def plan_import(items: list[ImportItem], exists: Callable[[str], bool]) -> ImportPlan:
    """Check ``items`` and plan their creation; ValidationFailedError lists every problem."""
    plan = ImportPlan(list(items))
    problems: list[str] = []
    if not items:
        problems.append("nothing to import")
    if len(items) > MAX_ITEMS:
        problems.append(f"at most {MAX_ITEMS} tasks can be imported at once")
    _collect_keys(plan, problems)
    for index, item in enumerate(items):
        problems += _item_problems(plan, index, item, exists)
    plan.order = _parents_first(plan, problems)
    if problems:
        raise ValidationFailedError.of(*problems)
    return plan


def _label(index: int, item: ImportItem) -> str:
    return f"task {index + 1}" + (f" ({item.key})" if item.key else "")


def _collect_keys(plan: ImportPlan, problems: list[str]) -> None:
    for index, item in enumerate(plan.items):
        if item.key is None:
            continue
        if not item.key.strip():
            problems.append(f"{_label(index, item)}: key cannot be empty")
        elif item.key in plan.keys:
            problems.append(f"{_label(index, item)}: key {item.key!r} is used twice")
        else:
            plan.keys[item.key] = index


def _item_problems(
    plan: ImportPlan, index: int, item: ImportItem, exists: Callable[[str], bool]
) -> list[str]:
    label = _label(index, item)
    try:
        validate.check_new_task(replace(item.task, parent_id=None))
    except ValidationFailedError as exc:
        return [f"{label}: {detail}" for detail in exc.details]
    problems = []
    if item.task.parent_id is not None:
        ref = _resolve(plan, index, item.task.parent_id, exists)
        if isinstance(ref, str):
            problems.append(f"{label}: parent {ref}")
        else:
            plan.parents[index] = ref
    refs = []
    for name in item.after:
        ref = _resolve(plan, index, name, exists)
        if isinstance(ref, str):
            problems.append(f"{label}: after {ref}")
        else:
            refs.append(ref)
    plan.after[index] = refs
    return problems


def _resolve(plan: ImportPlan, index: int, name: str, exists: Callable[[str], bool]) -> Ref | str:
    """A Ref for ``name``, or the reason it cannot be one."""
    if name in plan.keys:
        if plan.keys[name] == index:
            return f"{name!r} refers to the task itself"
        return Ref(local=plan.keys[name])
    if exists(name):
        return Ref(task_id=name)
    return f"{name!r} is neither a key in this import nor an existing task"


def _parents_first(plan: ImportPlan, problems: list[str]) -> list[int]:
    """Item indexes with every local parent before its children."""
    order: list[int] = []
    done: set[int] = set()
    for start in range(len(plan.items)):
        trail: list[int] = []  # iterative: a chain of ten thousand parents is fine
        index: int | None = start
        while index is not None and index not in done:
            if index in trail:
                loop = " -> ".join(_label(i, plan.items[i]) for i in [*trail, index])
                problems.append(f"parents form a loop: {loop}")
                break
            trail.append(index)
            parent = plan.parents.get(index)
            index = parent.local if parent is not None else None
        for item in reversed(trail):
            done.add(item)
            order.append(item)
    return order
