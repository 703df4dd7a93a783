"""Imports and clear-done in the SQLite task store, in short transactions: a mixin of
:class:`~isollm.tasks.store.sqlite.store.SqliteTaskStore`.

SQLite has one write lock per database. An import written in one transaction held it
for as long as it took (1.5 s for 10,000 tasks), and every claim and heartbeat waited.
Here bulk work runs in chunks of about :data:`CHUNK_SECONDS`, each its own transaction,
and leaves the lock free for as long again before the next, so claims interleave.

An import stays all or nothing: its tasks are written as status ``staged`` (migration
0006), which no query shows and no claim takes, tagged with the import's id; one short
transaction then turns them all ``open``. An import that fails removes what it staged;
one whose process died (killed mid-import) leaves staged rows that nobody sees, and
the next import or clear-done removes them.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from isollm import liveness
from isollm.tasks.store import errors
from isollm.tasks.store.import_plan import ImportPlan, plan_import
from isollm.tasks.store.model import ImportItem, ImportResult, NewTask, Status, Task, parse_time
from isollm.tasks.store.sqlite.db import Database
from isollm.tasks.store.sqlite.rows import Row, new_task_params

# A chunk's transaction ends once it has held the write lock this long (or written
# CHUNK_ROWS units); the lock then stays free as long as the chunk held it.
CHUNK_SECONDS = 0.008
CHUNK_ROWS = 500

T = TypeVar("T")

# Imports running in this process: their staged rows are not stale.
_running: set[str] = set()
_running_lock = threading.Lock()


def _new_import_id() -> str:
    return f"{os.getpid()}.{secrets.token_hex(6)}"


def import_is_alive(import_id: str) -> bool:
    """Whether the import that staged rows as ``import_id`` may still publish them:
    it runs in this process, or its process is alive."""
    pid_text, _, _ = import_id.partition(".")
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid == os.getpid():
        with _running_lock:
            return import_id in _running
    return liveness.is_alive(pid)


class BulkQueries:
    """Import and clear-done; expects the store's ``_db``, ``_now``, ``_row``,
    ``_spec_row``, ``_audit``, ``_allocate_id``, ``_delete`` and ``_add_dependency``."""

    _db: Database
    _now: Callable[[], str]
    _row: Callable[[sqlite3.Cursor, str], Row]
    _spec_row: Callable[[sqlite3.Cursor, str], Row]
    _audit: Callable[..., None]
    _allocate_id: Callable[[sqlite3.Cursor], str]
    _delete: Callable[[sqlite3.Cursor, str, str, str], list[str]]
    _add_dependency: Callable[..., None]

    def _in_chunks(self, units: Iterable[T], work: Callable[[sqlite3.Cursor, T], None]) -> None:
        """``work`` on every unit, in transactions of about CHUNK_SECONDS each, the
        write lock left free as long again between them."""
        pending = iter(units)
        more = True
        while more:
            start = time.perf_counter()
            with self._db.write() as conn:
                for _ in range(CHUNK_ROWS):
                    unit = next(pending, _END)
                    if unit is _END:
                        more = False
                        break
                    work(conn, unit)  # type: ignore[arg-type]
                    if time.perf_counter() - start > CHUNK_SECONDS:
                        break
            if more:
                time.sleep(time.perf_counter() - start)

    # --- import -----------------------------------------------------------------------

    def import_tasks(self, items: list[ImportItem], actor: str) -> ImportResult:
        self.remove_stale_imports()
        with self._db.read() as conn:
            plan = plan_import(items, lambda tid: self._db.one(conn, "get_task", {"id": tid}))
        import_id = _new_import_id()
        with _running_lock:
            _running.add(import_id)
        try:
            now = self._now()
            ids = self._stage(plan, import_id, actor, now)
            created = parse_time(now)
            tasks = []  # as published: every value is known here
            for index in range(len(items)):
                new = plan.resolved_task(index, ids)
                tasks.append(
                    Task(
                        ids[index],
                        new.title,
                        Status.OPEN,
                        new.priority,
                        created,
                        created,
                        new.description,
                        new.parent_id,
                        new.spec_id,
                    )
                )
            self._publish(import_id, len(items), {t.spec_id for t in tasks if t.spec_id})
            return ImportResult(tasks, {key: ids[i] for key, i in plan.keys.items()})
        except BaseException:
            self._remove_import(import_id)
            raise
        finally:
            with _running_lock:
                _running.discard(import_id)

    def _publish(self, import_id: str, count: int, specs: set[str]) -> None:
        """Turn an import's staged tasks open, all in one short transaction."""
        with self._db.write() as conn:
            for spec_id in specs:  # deleting a spec empties its tasks' spec_id
                self._spec_row(conn, spec_id)
            published = self._db.run(conn, "publish_import", {"import": import_id})
            if published != count:  # pragma: no cover - nothing else touches staged rows
                raise RuntimeError(f"an import staged {count} tasks but published {published}")

    def _stage(self, plan: ImportPlan, import_id: str, actor: str, now: str) -> dict[int, str]:
        """Write the plan's tasks and edges as staged rows; their ids by item index."""
        ids: dict[int, str] = {}
        stage_sql = self._db.sql["stage_task"]

        def stage(conn: sqlite3.Cursor, index: int) -> None:
            new: NewTask = plan.resolved_task(index, ids)
            parent = plan.parents.get(index)
            if parent is not None and parent.local is None:
                self._row(conn, str(parent.task_id))  # still there
            if new.spec_id is not None:
                self._spec_row(conn, new.spec_id)
            task_id = self._allocate_id(conn)
            params = {**new_task_params(task_id, new, now), "import": import_id}
            conn.execute(stage_sql, params)
            ids[index] = task_id
            self._audit(conn, task_id, "create", actor, now)

        self._in_chunks(plan.order, stage)
        cycle = plan.after_cycle()
        if cycle is not None:
            raise errors.CycleDetectedError.of([ids[i] for i in cycle])
        ours = set(ids.values())

        def link(conn: sqlite3.Cursor, edge: tuple[str, str]) -> None:
            child, parent = edge
            if parent not in ours:
                self._row(conn, parent)  # still there
            # New tasks have no dependants yet, so an edge of the import closes a cycle
            # only through other new tasks: checked above, in memory, once.
            self._add_dependency(conn, child, parent, actor, now, checked=True)

        self._in_chunks(list(plan.edges(ids)), link)
        return ids

    def _remove_import(self, import_id: str) -> None:
        """Delete an import's staged tasks and their history, newest first, in chunks."""
        while True:
            start = time.perf_counter()
            with self._db.write() as conn:
                params = {"import": import_id, "limit": CHUNK_ROWS}
                first = self._db.scalar(conn, "staged_tail", params)
                if first is None:
                    return
                params = {"import": import_id, "from": first}
                self._db.run(conn, "delete_staged_audit", params)
                self._db.run(conn, "delete_staged", params)
            time.sleep(time.perf_counter() - start)

    def stale_imports(self) -> list[str]:
        """The imports whose process died with tasks still staged (a quick read)."""
        with self._db.read() as conn:
            found = [r[0] for r in self._db.all(conn, "staged_imports", {})]
        return [i for i in found if not import_is_alive(i)]

    def remove_stale_imports(self) -> list[str]:
        """Remove what imports whose process died left staged; their ids."""
        stale = self.stale_imports()
        for import_id in stale:
            self._remove_import(import_id)
        return stale

    # --- clear-done -------------------------------------------------------------------

    def clear_done(self, actor: str) -> list[str]:
        self.remove_stale_imports()
        with self._db.read() as conn:
            candidates: Sequence[str] = [r[0] for r in self._db.all(conn, "clearable_done", {})]
        cleared: list[str] = []
        gone: set[str] = set()

        def clear(conn: sqlite3.Cursor, task_id: str) -> None:
            # Checked again in the transaction that deletes it: the list is older.
            if task_id in gone or not self._db.scalar(conn, "still_clearable", {"id": task_id}):
                return
            deleted = self._delete(conn, task_id, actor, self._now())
            cleared.extend(deleted)
            gone.update(deleted)

        self._in_chunks(candidates, clear)
        return cleared


_END = object()
