"""File locks and the context board in the SQLite store: a mixin of SqliteTaskStore.

Each lock and board entry names the claim it lives by (task, agent, fence); the queries
count a row only while that claim is current, so nothing on the claim path changes and
an ended claim ends its locks at once (see :mod:`isollm.tasks.store.coordination`).
Writes first remove the rows whose claim ended.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

from isollm.tasks.store import errors, validate
from isollm.tasks.store.coordination import (
    MAX_AGENT_LOCKS,
    MAX_PATHS,
    BoardStatus,
    ContextEntry,
    FileLock,
    LockRequest,
    check_board,
    lock_requests,
    normalise_path,
    overlaps,
)
from isollm.tasks.store.model import parse_time
from isollm.tasks.store.sqlite.db import Database
from isollm.tasks.store.sqlite.rows import Row

# The row shapes of live_locks and live_board (see rows.py for the convention).
LOCK_COLUMNS = ("path", "glob", "agent", "task_id", "acquired_at")
BOARD_COLUMNS = ("agent", "task_id", "status", "files", "message", "updated_at")


def lock_from_row(row: Row) -> FileLock:
    path, glob, agent, task_id, acquired_at = row
    return FileLock(path, agent, task_id, parse_time(acquired_at), bool(glob))


def entry_from_row(row: Row) -> ContextEntry:
    agent, task_id, status, files, message, updated_at = row
    return ContextEntry(
        agent,
        task_id,
        BoardStatus(status),
        message,
        tuple(json.loads(files)),
        parse_time(updated_at),
    )


class CoordinationQueries:
    """File locks and context entries; expects the store's ``_db`` and ``_now``."""

    _db: Database
    _now: Callable[[], str]

    def _claim_of(
        self, conn: sqlite3.Cursor, agent: str, task_id: str | None, now: str
    ) -> tuple[str, int]:
        """(task, fence) of the claim ``agent`` holds (of ``task_id`` when given)."""
        claims = [
            (t, int(f)) for t, f in self._db.all(conn, "agent_claims", {"agent": agent, "now": now})
        ]
        if task_id is not None:
            claims = [c for c in claims if c[0] == task_id]
        if len(claims) != 1:
            raise errors.NoClaimError.of(agent, task_id, [t for t, _ in claims])
        return claims[0]

    def lock(self, agent: str, paths: list[str], task_id: str | None = None) -> list[FileLock]:
        """Lock every path of ``paths`` for ``agent`` under its claim, or none of them
        (LockHeldError naming who holds what); the locks the agent now holds on them."""
        validate.check_agent(agent)
        wanted = lock_requests(paths)
        with self._db.write() as conn:
            now = self._now()
            task, fence = self._claim_of(conn, agent, task_id, now)
            self._db.run(conn, "prune_locks", {"now": now})
            live = [lock_from_row(r) for r in self._db.all(conn, "live_locks", {"now": now})]
            others = [lock for lock in live if lock.agent != agent]
            held_now = {lock.path for lock in live if lock.agent == agent}
            if len(held_now | {w.path for w in wanted}) > MAX_AGENT_LOCKS:
                raise errors.ValidationFailedError.of(
                    f"an agent holds at most {MAX_AGENT_LOCKS} locks; unlock some first"
                )
            held = _held(wanted, others)
            if held:
                raise errors.LockHeldError.of(held)
            for want in wanted:
                params = {"path": want.path, "glob": int(want.glob), "agent": agent}
                params |= {"task_id": task, "fence": fence, "now": now}
                self._db.run(conn, "put_lock", params)
            mine = {w.path for w in wanted}
            return [
                lock_from_row(r)
                for r in self._db.all(conn, "live_locks", {"now": now})
                if r[0] in mine
            ]

    def unlock(self, agent: str, paths: list[str] | None = None) -> list[str]:
        """Release ``agent``'s locks on ``paths`` (all of them when None); the paths
        released. Another agent's lock is NotOwnerError; a path nobody holds, a no-op."""
        validate.check_agent(agent)
        if paths is not None and len(paths) > MAX_PATHS:  # each costs queries, under the lock
            raise errors.ValidationFailedError.of(f"paths: at most {MAX_PATHS} in one request")
        wanted = None if paths is None else [normalise_path(p) for p in paths]
        with self._db.write() as conn:
            now = self._now()
            self._db.run(conn, "prune_locks", {"now": now})
            if wanted is None:
                rows = self._db.all(conn, "delete_agent_locks", {"agent": agent})
                return sorted(r[0] for r in rows)
            released = []
            for path in wanted:
                holder = self._db.scalar(conn, "lock_holder", {"path": path})
                if holder is not None and holder != agent:
                    raise errors.NotOwnerError(
                        f"{path} is locked by {holder}, not {agent}",
                        context={"path": path, "claimed_by": holder},
                        hint="only the agent holding a lock releases it (or the end of its claim)",
                    )
                if self._db.run(conn, "delete_lock", {"path": path, "agent": agent}):
                    released.append(path)
            return released

    def locks(self) -> list[FileLock]:
        """Every lock held under a current claim, by path."""
        with self._db.read() as conn:
            return [
                lock_from_row(r) for r in self._db.all(conn, "live_locks", {"now": self._now()})
            ]

    def set_context(
        self,
        agent: str,
        status: str,
        message: str,
        files: list[str],
        task_id: str | None = None,
    ) -> ContextEntry:
        """Publish what ``agent`` works on (replacing its entry), under its claim."""
        validate.check_agent(agent)
        board_status, normalised = check_board(status, message, files)
        with self._db.write() as conn:
            now = self._now()
            task, fence = self._claim_of(conn, agent, task_id, now)
            self._db.run(conn, "prune_board", {"now": now})
            params = {"agent": agent, "task_id": task, "fence": fence, "now": now}
            params |= {"status": board_status.value, "message": message}
            self._db.run(conn, "put_board", {**params, "files": json.dumps(normalised)})
            return ContextEntry(
                agent, task, board_status, message, tuple(normalised), parse_time(now)
            )

    def context_board(self) -> list[ContextEntry]:
        """Every agent's entry while its claim is current, by agent."""
        with self._db.read() as conn:
            rows = self._db.all(conn, "live_board", {"now": self._now()})
            return [entry_from_row(r) for r in rows]


def _held(wanted: list[LockRequest], others: list[FileLock]) -> list[dict[str, str]]:
    """What other agents hold that overlaps the request: one item per requested path."""
    held = []
    for want in wanted:
        for lock in others:
            if overlaps(want, lock):
                held.append(
                    {
                        "requested": want.path,
                        "path": lock.path,
                        "agent": lock.agent,
                        "task_id": lock.task_id,
                    }
                )
                break
    return held
