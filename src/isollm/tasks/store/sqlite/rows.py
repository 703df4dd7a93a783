"""The rows the SQLite store reads, by name: one place ties each column to its position.

Every query of ``sql/queries.sql`` returns one of these shapes (a test runs them all
and compares their column names with the tuples here):

- a **task row** (:data:`TASK_COLUMNS`): every task query, ``SELECT`` or ``RETURNING``;
- a **ready row** (:data:`READY_COLUMNS`): ``next_ready``, what claim-next reads;
- a **spec row** (:data:`SPEC_COLUMNS`) and an **audit row** (:data:`AUDIT_COLUMNS`).

Rows stay plain tuples (sqlite3's default): a row factory building named rows would
cost every query, most on the claim path. Fields are read through the constants below
(``row[TASK_STATUS]``: a module global, as cheap as a literal index) or by unpacking
the whole row into named locals, which also checks its length.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from isollm.tasks.store.model import AuditEntry, NewTask, Spec, Status, Task, parse_time

Row = Sequence[Any]

TASK_COLUMNS = (
    "id",
    "title",
    "status",
    "priority",
    "created_at",
    "updated_at",
    "description",
    "parent_id",
    "spec_id",
    "claimed_by",
    "claimed_at",
    "lease_expires_at",
    "fence",
)
TASK_ID = TASK_COLUMNS.index("id")
TASK_STATUS = TASK_COLUMNS.index("status")
TASK_CLAIMED_BY = TASK_COLUMNS.index("claimed_by")
TASK_CLAIMED_AT = TASK_COLUMNS.index("claimed_at")
TASK_FENCE = TASK_COLUMNS.index("fence")

READY_COLUMNS = (
    "rowid",
    "id",
    "title",
    "priority",
    "created_at",
    "description",
    "parent_id",
    "spec_id",
    "fence",
    "last_audit",
    "expired",  # whether any lease ran out by now (anywhere in the project)
)
READY_ROWID = READY_COLUMNS.index("rowid")
READY_ID = READY_COLUMNS.index("id")
READY_LAST_AUDIT = READY_COLUMNS.index("last_audit")
READY_EXPIRED = READY_COLUMNS.index("expired")

SPEC_COLUMNS = (
    "id",
    "title",
    "created_at",
    "updated_at",
    "description",
    "manual_status",  # 'cancelled' or NULL; the status proper is computed
    "task_count",
    "done_count",
)
AUDIT_COLUMNS = (
    "id",
    "task_id",
    "action",
    "changed_at",
    "changed_by",
    "field",
    "old_value",
    "new_value",
)

_STATUSES = {status.value: status for status in Status}


def new_task_params(task_id: str, new: NewTask, now: str) -> dict[str, Any]:
    """The parameters that write ``new`` as task ``task_id`` (``insert_task``, and
    ``stage_task`` with the import's id added)."""
    return {
        "id": task_id,
        "title": new.title,
        "priority": new.priority,
        "now": now,
        "description": new.description,
        "parent_id": new.parent_id,
        "spec_id": new.spec_id,
    }


def task_from_row(row: Row) -> Task:
    """A Task from a task row."""
    (
        task_id,
        title,
        status,
        priority,
        created_at,
        updated_at,
        description,
        parent_id,
        spec_id,
        claimed_by,
        claimed_at,
        lease_expires_at,
        _fence,
    ) = row
    return Task(
        id=task_id,
        title=title,
        status=_STATUSES[status],
        priority=priority,
        created_at=parse_time(created_at),
        updated_at=parse_time(updated_at),
        description=description,
        parent_id=parent_id,
        spec_id=spec_id,
        claimed_by=claimed_by,
        claimed_at=parse_time(claimed_at) if claimed_at else None,
        lease_expires_at=parse_time(lease_expires_at) if lease_expires_at else None,
    )


def fence_of(row: Row) -> int:
    """The fencing token of a task row."""
    return int(row[TASK_FENCE])


def spec_from_row(row: Row) -> Spec:
    """A Spec from a spec row."""
    spec_id, title, created_at, updated_at, description, manual_status, tasks, done = row
    return Spec(
        id=spec_id,
        title=title,
        created_at=parse_time(created_at),
        updated_at=parse_time(updated_at),
        description=description,
        cancelled=manual_status == "cancelled",
        task_count=tasks,
        done_count=done,
    )


def audit_from_row(row: Row) -> AuditEntry:
    """An AuditEntry from an audit row."""
    entry_id, task_id, action, changed_at, changed_by, field, old_value, new_value = row
    return AuditEntry(
        id=entry_id,
        task_id=task_id,
        action=action,
        changed_at=parse_time(changed_at),
        changed_by=changed_by,
        field=field,
        old_value=old_value,
        new_value=new_value,
    )
