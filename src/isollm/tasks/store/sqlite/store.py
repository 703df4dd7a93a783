"""The SQLite task store: one database file per project under the isollm home.

Every change is one ``BEGIN IMMEDIATE`` transaction that first returns expired leases
to the queue, then compare-and-sets the row (``UPDATE … WHERE status = 'open'``,
``… AND fence = :fence``) and appends to the audit log. Claims never delete a task.
Imports and clear-done run in many short transactions instead (``sqlite_bulk``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from isollm.tasks.store import errors, validate
from isollm.tasks.store.graph import find_path
from isollm.tasks.store.ids import MIN_WIDTH, TASK_PREFIX, IdAllocator
from isollm.tasks.store.model import (
    AuditEntry,
    AuditQuery,
    Clock,
    Dependency,
    NewTask,
    Page,
    PageRequest,
    Status,
    Task,
    TaskPatch,
    format_time,
    utcnow,
)
from isollm.tasks.store.sqlite.bulk import BulkQueries
from isollm.tasks.store.sqlite.claims import ClaimQueries, lease_length
from isollm.tasks.store.sqlite.coordination import CoordinationQueries
from isollm.tasks.store.sqlite.db import Database
from isollm.tasks.store.sqlite.rows import Row, audit_from_row, new_task_params, task_from_row
from isollm.tasks.store.sqlite.specs import SpecQueries


class SqliteTaskStore(ClaimQueries, BulkQueries, SpecQueries, CoordinationQueries):
    """A :class:`~isollm.tasks.store.protocol.TaskStore` on one SQLite file."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Clock = utcnow,
        id_width: int = MIN_WIDTH,
        background_checkpoints: bool = True,
    ) -> None:
        self._db = Database(path, background_checkpoints=background_checkpoints)
        self._clock = clock
        self._task_ids = IdAllocator(TASK_PREFIX, id_width)
        super().__init__(id_width=id_width)

    @property
    def path(self) -> Path:
        return self._db.path

    def close(self) -> None:
        self._db.close()

    # --- helpers ------------------------------------------------------------------

    def _now(self) -> str:
        return format_time(self._clock())

    def _expiry(self, lease_seconds: float) -> str:
        validate.check_lease(lease_seconds)
        return format_time(self._clock() + lease_length(lease_seconds))

    def _audit(
        self,
        conn: sqlite3.Cursor,
        task_id: str,
        action: str,
        by: str,
        now: str,
        *,
        field: str | None = None,
        old: str | None = None,
        new: str | None = None,
    ) -> None:
        audit = self._db.insert(
            conn,
            "insert_audit",
            {
                "task_id": task_id,
                "action": action,
                "field": field,
                "old_value": old,
                "new_value": new,
                "now": now,
                "by": by,
            },
        )
        self._db.run(conn, "chain_audit", {"audit": audit, "task_id": task_id})

    def _row(self, conn: sqlite3.Cursor, task_id: str) -> Row:
        row = self._db.one(conn, "get_task", {"id": task_id})
        if row is None:
            raise errors.TaskNotFoundError.of(task_id)
        return row  # type: ignore[no-any-return]

    def _page(
        self, count: str, query: str, page: PageRequest, params: dict[str, Any]
    ) -> tuple[int, list[Row]]:
        with self._db.read() as conn:
            total = int(self._db.scalar(conn, count, params))
            rows = self._db.all(
                conn, query, {**params, "limit": page.per_page, "offset": page.offset}
            )
        return total, rows

    def _taken(self, conn: sqlite3.Cursor) -> Any:
        return lambda candidate: self._db.scalar(conn, "id_taken", {"id": candidate}) is not None

    def _allocate_id(self, conn: sqlite3.Cursor) -> str:
        return self._task_ids.allocate(self._taken(conn))

    # --- tasks --------------------------------------------------------------------

    def add_task(self, new: NewTask, actor: str) -> Task:
        validate.check_new_task(new)
        with self._db.write() as conn:
            now = self._now()
            task_id = self._insert(conn, new, now)
            self._audit(conn, task_id, "create", actor, now)
            return task_from_row(self._row(conn, task_id))

    def _insert(self, conn: sqlite3.Cursor, new: NewTask, now: str) -> str:
        if new.parent_id is not None:
            self._row(conn, new.parent_id)
        if new.spec_id is not None:
            self._spec_row(conn, new.spec_id)
        task_id = self._allocate_id(conn)
        self._db.run(conn, "insert_task", new_task_params(task_id, new, now))
        return task_id

    def get_task(self, task_id: str) -> Task:
        self._reap_if_due()
        with self._db.read() as conn:
            return task_from_row(self._row(conn, task_id))

    def list_tasks(self, status: Status | None, page: PageRequest) -> Page[Task]:
        self._reap_if_due()
        if status is None:
            total, rows = self._page("count_tasks", "list_tasks", page, {})
        else:
            query = (
                "list_tasks_in_progress" if status is Status.IN_PROGRESS else "list_tasks_by_status"
            )
            params = {"status": status.value}
            total, rows = self._page("count_tasks_by_status", query, page, params)
        return Page([task_from_row(r) for r in rows], page.page, page.per_page, total)

    def ready(self, page: PageRequest) -> Page[Task]:
        self._reap_if_due()
        total, rows = self._page("count_ready", "list_ready", page, {})
        return Page([task_from_row(r) for r in rows], page.page, page.per_page, total)

    def update_task(self, task_id: str, patch: TaskPatch, actor: str) -> Task:
        validate.check_patch(patch)
        with self._db.write() as conn:
            now = self._now()
            old = task_from_row(self._row(conn, task_id))
            if patch.parent_id is not None and patch.parent_id != old.parent_id:
                self._check_new_parent(conn, task_id, patch.parent_id)
            changes = _changes(old, patch)
            for field, (before, after) in changes.items():
                self._audit(conn, task_id, "update", actor, now, field=field, old=before, new=after)
            row = self._db.one(
                conn,
                "update_task",
                {
                    "id": task_id,
                    "title": patch.title if patch.title is not None else old.title,
                    "description": _pick(patch.description, old.description),
                    "priority": _pick(patch.priority, old.priority),
                    "parent_id": _pick(patch.parent_id, old.parent_id),
                    "now": now,
                },
            )
            return task_from_row(row)

    def _check_new_parent(self, conn: sqlite3.Cursor, task_id: str, parent_id: str) -> None:
        self._row(conn, parent_id)
        lineage = {r[0] for r in self._db.all(conn, "ancestors", {"id": parent_id})}
        if parent_id == task_id or task_id in lineage:
            raise errors.ValidationFailedError.of(
                f"{parent_id} cannot be the parent of {task_id}: that makes a loop"
            )

    def delete_task(self, task_id: str, actor: str) -> list[str]:
        with self._db.write() as conn:
            now = self._now()
            self._row(conn, task_id)
            return self._delete(conn, task_id, actor, now)

    def _delete(self, conn: sqlite3.Cursor, task_id: str, actor: str, now: str) -> list[str]:
        below = self._db.all(conn, "descendants", {"id": task_id})
        if any(status == "staged" for _, status in below):
            raise errors.ValidationFailedError.of(
                f"an import is adding subtasks to {task_id} right now; delete it once the "
                "import is done"
            )
        gone = [task_id, *(child for child, _ in below)]
        for each in gone:
            self._audit(conn, each, "delete", actor, now)
        self._db.run(conn, "delete_task", {"id": task_id})
        return gone

    # --- dependencies and audit -----------------------------------------------------

    def dependencies(self, task_id: str) -> list[Dependency]:
        with self._db.read() as conn:
            self._row(conn, task_id)
            return [Dependency(c, p) for c, p in self._db.all(conn, "list_deps", {"id": task_id})]

    def add_dependency(self, child_id: str, parent_id: str, actor: str) -> Dependency:
        with self._db.write() as conn:
            self._row(conn, child_id)
            self._row(conn, parent_id)
            self._add_dependency(conn, child_id, parent_id, actor, self._now())
            return Dependency(child_id, parent_id)

    def _add_dependency(
        self,
        conn: sqlite3.Cursor,
        child_id: str,
        parent_id: str,
        actor: str,
        now: str,
        *,
        checked: bool = False,
    ) -> None:
        if child_id == parent_id:
            raise errors.ValidationFailedError.of("Cannot add self-dependency")
        edge = {"child_id": child_id, "parent_id": parent_id}
        if self._db.one(conn, "dep_exists", edge):
            return
        path = None
        if not checked:
            path = find_path(parent_id, child_id, lambda n: self._parents(conn, "parents_of", n))
        if path:
            raise errors.CycleDetectedError.of([child_id, *path])
        self._db.run(conn, "insert_dep", edge)
        self._audit(conn, child_id, "add_dependency", actor, now, new=parent_id)

    def _parents(self, conn: sqlite3.Cursor, query: str, node: str) -> Iterator[str]:
        return (r[0] for r in self._db.all(conn, query, {"id": node}))

    def remove_dependency(self, child_id: str, parent_id: str, actor: str) -> None:
        with self._db.write() as conn:
            edge = {"child_id": child_id, "parent_id": parent_id}
            if not self._db.run(conn, "delete_dep", edge):
                raise errors.DependencyNotFoundError.of(child_id, parent_id)
            self._audit(conn, child_id, "remove_dependency", actor, self._now(), old=parent_id)

    def history(self, task_id: str) -> list[AuditEntry]:
        with self._db.read() as conn:
            rows = self._db.all(conn, "history", {"id": task_id})
            if not rows:
                self._row(conn, task_id)
            return [audit_from_row(r) for r in rows]

    def audit(self, query: AuditQuery, page: PageRequest) -> Page[AuditEntry]:
        params = {
            "action": query.action,
            "agent": query.agent,
            "start": query.start and format_time(query.start),
            "end": query.end and format_time(query.end),
        }
        total, rows = self._page("count_audit", "query_audit", page, params)
        return Page([audit_from_row(r) for r in rows], page.page, page.per_page, total)


def _pick(new: Any, old: Any) -> Any:
    return old if new is None else new


def _changes(old: Task, patch: TaskPatch) -> dict[str, tuple[str | None, str | None]]:
    """Changed fields as audit text (old, new)."""
    pairs = {
        "title": (old.title, patch.title),
        "description": (old.description, patch.description),
        "priority": (old.priority, patch.priority),
        "parent_id": (old.parent_id, patch.parent_id),
    }
    return {
        field: (None if before is None else str(before), str(after))
        for field, (before, after) in pairs.items()
        if after is not None and after != before
    }


class SqliteBackend:
    """One SQLite file per project in ``root`` (``<root>/<project>.db``), opened lazily."""

    def __init__(
        self, root: Path, *, clock: Clock = utcnow, background_checkpoints: bool = True
    ) -> None:
        self.root = root
        self._clock = clock
        self._background_checkpoints = background_checkpoints

    def path(self, project: str) -> Path:
        validate.check_project(project)
        return self.root / f"{project}.db"

    def open(self, project: str) -> SqliteTaskStore:
        return SqliteTaskStore(
            self.path(project),
            clock=self._clock,
            background_checkpoints=self._background_checkpoints,
        )

    def exists(self, project: str) -> bool:
        return self.path(project).is_file()

    def projects(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.stem for p in self.root.glob("*.db") if p.is_file())
