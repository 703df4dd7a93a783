"""Specs (epics) in the SQLite task store: a mixin of :class:`SqliteTaskStore`.

A spec groups tasks; its status is computed (cancelled, draft with no tasks, done
when every task is done, active otherwise), exactly as airyra computes it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator

from isollm.tasks.store import errors, validate
from isollm.tasks.store.graph import find_path
from isollm.tasks.store.ids import SPEC_PREFIX, IdAllocator
from isollm.tasks.store.model import (
    Clock,
    Dependency,
    Page,
    PageRequest,
    Spec,
    SpecPatch,
    SpecStatus,
    Task,
)
from isollm.tasks.store.sqlite.db import Database
from isollm.tasks.store.sqlite.rows import Row, spec_from_row, task_from_row

_ALL = {"limit": -1, "offset": 0}


class SpecQueries:
    """Spec operations; expects the store's ``_db``, ``_clock`` and ``_now``."""

    _db: Database
    _clock: Clock
    _now: Callable[[], str]

    def __init__(self, *, id_width: int) -> None:
        self._spec_ids = IdAllocator(SPEC_PREFIX, id_width)

    def _spec_row(self, conn: sqlite3.Cursor, spec_id: str) -> Row:
        row = self._db.one(conn, "spec_rows", {"id": spec_id, "status": None, **_ALL})
        if row is None:
            raise errors.SpecNotFoundError.of(spec_id)
        return row  # type: ignore[no-any-return]

    def add_spec(self, title: str, description: str | None, actor: str) -> Spec:
        validate.check_spec(title, description, new=True)
        with self._db.write() as conn:
            taken = lambda c: self._db.one(conn, "spec_id_taken", {"id": c}) is not None  # noqa: E731
            spec_id = self._spec_ids.allocate(taken)
            params = {"id": spec_id, "title": title, "description": description, "now": self._now()}
            self._db.run(conn, "insert_spec", params)
            return spec_from_row(self._spec_row(conn, spec_id))

    def get_spec(self, spec_id: str) -> Spec:
        with self._db.read() as conn:
            return spec_from_row(self._spec_row(conn, spec_id))

    def list_specs(self, status: SpecStatus | None, page: PageRequest) -> Page[Spec]:
        status_value = status.value if status else None
        with self._db.read() as conn:
            total = int(self._db.scalar(conn, "count_specs", {"status": status_value}))
            rows = self._db.all(
                conn,
                "spec_rows",
                {"id": None, "status": status_value, "limit": page.per_page, "offset": page.offset},
            )
        return Page([spec_from_row(r) for r in rows], page.page, page.per_page, total)

    def ready_specs(self, page: PageRequest) -> Page[Spec]:
        with self._db.read() as conn:
            ids = [r[0] for r in self._db.all(conn, "ready_spec_ids", {})]
            chosen = ids[page.offset : page.offset + page.per_page]
            specs = [spec_from_row(self._spec_row(conn, i)) for i in chosen]
        return Page(specs, page.page, page.per_page, len(ids))

    def update_spec(self, spec_id: str, patch: SpecPatch, actor: str) -> Spec:
        validate.check_spec_patch(patch)
        with self._db.write() as conn:
            old = spec_from_row(self._spec_row(conn, spec_id))
            params = {
                "id": spec_id,
                "title": old.title if patch.title is None else patch.title,
                "description": old.description if patch.description is None else patch.description,
                "now": self._now(),
            }
            self._db.run(conn, "update_spec", params)
            return spec_from_row(self._spec_row(conn, spec_id))

    def delete_spec(self, spec_id: str, actor: str) -> None:
        with self._db.write() as conn:
            self._spec_row(conn, spec_id)
            self._db.run(conn, "delete_spec", {"id": spec_id})

    def cancel_spec(self, spec_id: str, actor: str) -> Spec:
        return self._set_cancelled(spec_id, cancelled=True)

    def reopen_spec(self, spec_id: str, actor: str) -> Spec:
        return self._set_cancelled(spec_id, cancelled=False)

    def _set_cancelled(self, spec_id: str, *, cancelled: bool) -> Spec:
        with self._db.write() as conn:
            old = spec_from_row(self._spec_row(conn, spec_id))
            if cancelled and old.cancelled:
                raise errors.SpecAlreadyCancelledError.of(spec_id)
            if not cancelled and not old.cancelled:
                raise errors.SpecNotCancelledError.of(spec_id)
            params = {
                "id": spec_id,
                "manual_status": "cancelled" if cancelled else None,
                "now": self._now(),
            }
            self._db.run(conn, "set_spec_cancelled", params)
            return spec_from_row(self._spec_row(conn, spec_id))

    def spec_tasks(self, spec_id: str, page: PageRequest) -> Page[Task]:
        with self._db.read() as conn:
            self._spec_row(conn, spec_id)
            total = int(self._db.scalar(conn, "count_spec_tasks", {"id": spec_id}))
            rows = self._db.all(
                conn,
                "list_spec_tasks",
                {"id": spec_id, "limit": page.per_page, "offset": page.offset},
            )
        return Page([task_from_row(r) for r in rows], page.page, page.per_page, total)

    def spec_dependencies(self, spec_id: str) -> list[Dependency]:
        with self._db.read() as conn:
            self._spec_row(conn, spec_id)
            rows = self._db.all(conn, "list_spec_deps", {"id": spec_id})
            return [Dependency(c, p) for c, p in rows]

    def add_spec_dependency(self, child_id: str, parent_id: str, actor: str) -> Dependency:
        with self._db.write() as conn:
            self._spec_row(conn, child_id)
            self._spec_row(conn, parent_id)
            if child_id == parent_id:
                raise errors.ValidationFailedError.of("Cannot add self-dependency")
            edge = {"child_id": child_id, "parent_id": parent_id}
            if not self._db.one(conn, "spec_dep_exists", edge):
                path = find_path(parent_id, child_id, lambda n: self._spec_parents(conn, n))
                if path:
                    raise errors.CycleDetectedError.of([child_id, *path])
                self._db.run(conn, "insert_spec_dep", edge)
            return Dependency(child_id, parent_id)

    def _spec_parents(self, conn: sqlite3.Cursor, node: str) -> Iterator[str]:
        return (r[0] for r in self._db.all(conn, "spec_parents_of", {"id": node}))

    def remove_spec_dependency(self, child_id: str, parent_id: str, actor: str) -> None:
        with self._db.write() as conn:
            edge = {"child_id": child_id, "parent_id": parent_id}
            if not self._db.run(conn, "delete_spec_dep", edge):
                raise errors.SpecDependencyNotFoundError.of(child_id, parent_id)
