"""Claims, leases and transitions in the SQLite task store: a mixin of SqliteTaskStore.

Every change first returns expired leases to the queue (recorded as ``expire`` by
``isollm-reaper``), then compare-and-sets the row on its status and fence.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import lru_cache

from isollm.tasks.store import errors, validate
from isollm.tasks.store.model import Claim, Clock, Status, Task, as_utc, format_time, parse_time
from isollm.tasks.store.protocol import REAPER
from isollm.tasks.store.sqlite.db import Database
from isollm.tasks.store.sqlite.rows import (
    READY_EXPIRED,
    READY_ID,
    READY_LAST_AUDIT,
    READY_ROWID,
    TASK_CLAIMED_AT,
    TASK_CLAIMED_BY,
    TASK_STATUS,
    Row,
    fence_of,
    task_from_row,
)

REAP_BATCH = 1000


@lru_cache(maxsize=64)
def lease_length(seconds: float) -> timedelta:
    """A lease's length: agents ask for the same few on every claim, and making the
    timedelta from a float costs more than looking it up."""
    return timedelta(seconds=seconds)


def _claim(found: Row, agent: str, now: datetime, expires: datetime) -> Claim:
    """The claim ``claim_row`` makes of a task ``next_ready`` found (a ready row): every
    value it sets is known here, so the row is not read back. (Task's fields in order,
    positionally: measurably cheaper than by keyword on this path.)"""
    _rowid, task_id, title, priority, created, description, parent, spec, fence, _, _ = found
    task = Task(
        task_id,
        title,
        Status.IN_PROGRESS,
        priority,
        parse_time(created),
        now,
        description,
        parent,
        spec,
        agent,
        now,
        expires,
    )
    return Claim(task, fence + 1, expires)


class ClaimQueries:
    """Claim operations; expects the store's ``_db``, ``_clock``, ``_now``, ``_expiry``,
    ``_row`` and ``_audit``."""

    _db: Database
    _clock: Clock
    _now: Callable[[], str]
    _expiry: Callable[[float], str]
    _row: Callable[[sqlite3.Cursor, str], Row]
    _audit: Callable[..., None]

    def _reap(self, conn: sqlite3.Cursor, now: str) -> list[str]:
        """Return tasks whose lease ran out to the queue; their ids."""
        reaped = []
        for task_id, agent in self._db.all(
            conn, "expired_leases", {"now": now, "limit": REAP_BATCH}
        ):
            if self._db.run(conn, "expire_lease", {"id": task_id, "now": now}):
                self._audit(
                    conn,
                    task_id,
                    "expire",
                    REAPER,
                    now,
                    field="status",
                    old="in_progress",
                    new="open",
                )
                self._audit(
                    conn, task_id, "expire", REAPER, now, field="claimed_by", old=agent, new=None
                )
                reaped.append(task_id)
        return reaped

    def _reap_if_due(self) -> None:
        with self._db.read() as conn:
            due = self._db.scalar(conn, "any_lease_expired", {"now": self._now()})
        if due:
            self.reap_expired()

    def claim(self, task_id: str, agent: str, lease_seconds: float) -> Claim:
        validate.check_agent(agent)
        expires = self._expiry(lease_seconds)
        with self._db.write() as conn:
            now = self._now()
            self._reap(conn, now)
            row = self._row(conn, task_id)
            status = Status(row[TASK_STATUS])
            if status is Status.IN_PROGRESS:
                raise errors.AlreadyClaimedError.of(row[TASK_CLAIMED_BY], row[TASK_CLAIMED_AT])
            if status is not Status.OPEN:
                raise errors.InvalidTransitionError.of(status, Status.IN_PROGRESS)
            waiting = [r[0] for r in self._db.all(conn, "waiting_for", {"id": task_id})]
            if waiting:
                raise errors.NotReadyError.of(task_id, waiting)
            params = {"id": task_id, "agent": agent, "now": now, "expires": expires}
            row = self._db.one(conn, "claim_task", params)
            self._audit(
                conn, task_id, "claim", agent, now, field="status", old="open", new="in_progress"
            )
            return Claim(task_from_row(row), fence_of(row), parse_time(expires))

    def claim_next(self, agent: str, lease_seconds: float) -> Claim | None:
        # claim_next_many for one request, written out: every claim takes this path,
        # and in a loop of claims each line of Python here costs several times what it
        # does alone.
        validate.check_agent(agent)
        validate.check_lease(lease_seconds)
        with self._db.write() as conn:
            now = as_utc(self._clock())
            stamp = format_time(now)
            found = self._next_ready(conn, stamp, 1)
            if not found:
                return None
            return self._claim_found(conn, found[0], agent, now, stamp, lease_seconds)

    def claim_next_many(self, requests: Sequence[tuple[str, float]]) -> list[Claim | None]:
        for agent, lease_seconds in requests:
            validate.check_agent(agent)
            validate.check_lease(lease_seconds)
        with self._db.write() as conn:
            now = as_utc(self._clock())
            stamp = format_time(now)
            # Claiming a task makes no other task ready or unready, so the first n ready
            # tasks are what n claims in a row would take.
            found = self._next_ready(conn, stamp, len(requests))
            claims: list[Claim | None] = [
                self._claim_found(conn, row, agent, now, stamp, lease)
                for row, (agent, lease) in zip(found, requests, strict=False)
            ]
        return [*claims, *[None] * (len(requests) - len(claims))]

    def _next_ready(self, conn: sqlite3.Cursor, stamp: str, limit: int) -> list[Row]:
        """The ``limit`` most urgent ready tasks, once every lease run out by ``stamp``
        is returned to the queue (which may put a more urgent task first)."""
        query, params = self._db.sql["next_ready"], (limit, stamp)
        found = conn.execute(query, params).fetchall()
        if (not found or found[0][READY_EXPIRED]) and self._reap(conn, stamp):
            found = conn.execute(query, params).fetchall()
        return found

    def _claim_found(
        self,
        conn: sqlite3.Cursor,
        row: Row,
        agent: str,
        now: datetime,
        stamp: str,
        lease_seconds: float,
    ) -> Claim:
        """Claim the task ``next_ready`` found (``row``): its audit row, then the task."""
        sql = self._db.sql
        expires = now + lease_length(lease_seconds)
        task_id, last_audit = row[READY_ID], row[READY_LAST_AUDIT]
        audit = conn.execute(sql["audit_claim"], (task_id, stamp, agent, last_audit)).lastrowid
        params = (agent, stamp, format_time(expires), audit, row[READY_ROWID])
        if conn.execute(sql["claim_row"], params).rowcount != 1:
            raise RuntimeError("a ready task changed inside a write transaction")
        return _claim(row, agent, now, expires)

    def _current_claim(
        self,
        conn: sqlite3.Cursor,
        task_id: str,
        agent: str,
        fence: int | None,
        target: str,
        *,
        owner: bool = True,
    ) -> Row:
        """The task's row if ``agent`` (holding ``fence``, when given) may act on its claim."""
        row = self._row(conn, task_id)
        status, holder = row[TASK_STATUS], row[TASK_CLAIMED_BY]
        if fence is not None and (status != Status.IN_PROGRESS or fence_of(row) != fence):
            raise errors.StaleClaimError.of(task_id, fence, status, holder)
        if status != Status.IN_PROGRESS:
            raise errors.InvalidTransitionError.of(status, target)
        if owner and holder != agent:
            raise errors.NotOwnerError.of(holder)
        return row

    def heartbeat(self, task_id: str, agent: str, fence: int | None, lease_seconds: float) -> Claim:
        expires = self._expiry(lease_seconds)
        with self._db.write() as conn:
            self._reap(conn, self._now())
            row = self._current_claim(conn, task_id, agent, fence, Status.IN_PROGRESS)
            row = self._db.one(
                conn, "renew_lease", {"id": task_id, "fence": fence_of(row), "expires": expires}
            )
            return Claim(task_from_row(row), fence_of(row), parse_time(expires))

    def done(self, task_id: str, agent: str, fence: int | None) -> Task:
        return self._finish(
            task_id, agent, fence, query="complete_task", action="done", target=Status.DONE
        )

    def release(self, task_id: str, agent: str, fence: int | None, force: bool) -> Task:
        return self._finish(
            task_id,
            agent,
            fence,
            query="release_task",
            action="release",
            target=Status.OPEN,
            owner=not force,
        )

    def _finish(
        self,
        task_id: str,
        agent: str,
        fence: int | None,
        *,
        query: str,
        action: str,
        target: Status,
        owner: bool = True,
    ) -> Task:
        with self._db.write() as conn:
            now = self._now()
            self._reap(conn, now)
            row = self._current_claim(conn, task_id, agent, fence, target, owner=owner)
            row = self._db.one(conn, query, {"id": task_id, "fence": fence_of(row), "now": now})
            self._audit(
                conn, task_id, action, agent, now, field="status", old="in_progress", new=target
            )
            return task_from_row(row)

    def block(
        self,
        task_id: str,
        actor: str,
        reason: str | None,
        *,
        holder: bool = False,
        fence: int | None = None,
    ) -> Task:
        with self._db.write() as conn:
            now = self._now()
            self._reap(conn, now)
            if holder:  # only the agent holding the claim (and, with a fence, that claim)
                row = self._current_claim(conn, task_id, actor, fence, Status.BLOCKED)
            else:
                row = self._row(conn, task_id)
            before = row[TASK_STATUS]
            if before == Status.BLOCKED:
                return task_from_row(row)
            params = {"id": task_id, "from_status": before, "now": now}
            row = self._db.one(conn, "block_task", params)
            self._audit(
                conn, task_id, "block", actor, now, field="status", old=before, new="blocked"
            )
            if reason:
                self._audit(conn, task_id, "block", actor, now, field="reason", new=reason)
            return task_from_row(row)

    def unblock(self, task_id: str, actor: str) -> Task:
        with self._db.write() as conn:
            now = self._now()
            row = self._row(conn, task_id)
            if row[TASK_STATUS] != Status.BLOCKED:
                raise errors.InvalidTransitionError.of(row[TASK_STATUS], Status.OPEN)
            row = self._db.one(conn, "unblock_task", {"id": task_id, "now": now})
            self._audit(
                conn, task_id, "unblock", actor, now, field="status", old="blocked", new="open"
            )
            return task_from_row(row)

    def reap_expired(self) -> list[str]:
        with self._db.write() as conn:
            return self._reap(conn, self._now())
