"""Every query of the SQLite store returns one of the row shapes ``rows`` names."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from isollm.tasks.store.sqlite import rows
from isollm.tasks.store.sqlite.queries import queries
from isollm.tasks.store.sqlite.store import SqliteTaskStore

SHAPES = {
    rows.TASK_COLUMNS: "task",
    rows.READY_COLUMNS: "ready",
    rows.SPEC_COLUMNS: "spec",
    rows.AUDIT_COLUMNS: "audit",
}


def result_columns(conn: sqlite3.Connection, sql: str) -> tuple[str, ...] | None:
    """The column names ``sql`` returns (every parameter 0, rolled back)."""
    numbered = {int(n) for n in re.findall(r"\?(\d+)", sql)}
    params: object = (
        tuple([0] * max(numbered)) if numbered else dict.fromkeys(re.findall(r":(\w+)", sql), 0)
    )
    conn.execute("BEGIN")
    try:
        cursor = conn.execute(sql, params)  # type: ignore[arg-type]
        return None if cursor.description is None else tuple(d[0] for d in cursor.description)
    except sqlite3.IntegrityError:  # an INSERT that breaks a constraint: returns nothing anyway
        return None
    finally:
        conn.execute("ROLLBACK")


def test_queries_return_the_named_shapes(tmp_path: Path) -> None:
    SqliteTaskStore(tmp_path / "p.db", background_checkpoints=False).close()
    conn = sqlite3.connect(tmp_path / "p.db", isolation_level=None)
    seen: dict[str, set[str]] = {}
    for name, sql in queries().items():
        columns = result_columns(conn, sql)
        if columns is None or len(columns) < len(rows.AUDIT_COLUMNS):
            continue  # scalars and id lists, read where they are asked for
        assert columns in SHAPES, f"{name} returns {columns}: not a shape of rows.py"
        seen.setdefault(SHAPES[columns], set()).add(name)
    conn.close()
    assert seen["ready"] == {"next_ready"}
    assert {"get_task", "claim_task", "renew_lease", "complete_task"} <= seen["task"]
    assert {"spec_rows"} <= seen["spec"]
    assert {"history", "query_audit"} <= seen["audit"]


def test_the_named_positions_are_the_columns() -> None:
    assert rows.TASK_COLUMNS[rows.TASK_STATUS] == "status"
    assert rows.TASK_COLUMNS[rows.TASK_FENCE] == "fence"
    assert rows.READY_COLUMNS[rows.READY_EXPIRED] == "expired"
    assert rows.READY_COLUMNS[rows.READY_LAST_AUDIT] == "last_audit"
