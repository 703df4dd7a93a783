"""One SQLite connection set up for the task store: WAL, busy timeout, migrations.

Writes run in ``BEGIN IMMEDIATE`` transactions, so two processes never both read a
row and then both update it: the second waits (up to the busy timeout) for the
first to commit. ``synchronous=NORMAL`` in WAL mode means a committed transaction
survives the process being killed; only an operating-system crash or power loss can
lose the last few commits (never corrupt the file): commits do not fsync, checkpoints
(in a thread of their own, see :class:`Checkpointer`) do.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from isollm import fsutil
from isollm.errors import StateError
from isollm.tasks.store.sqlite.queries import migrations, queries

BUSY_TIMEOUT_MS = 5000
CACHE_KIB = 16384
PAGE_BYTES = 2048
CHECKPOINT_SECONDS = 1.0
# A checkpoint cannot catch up with a writer that never pauses, so under sustained load
# the WAL grows; once the load pauses it starts over, cut back to this size.
WAL_LIMIT_BYTES = 64 * 1024 * 1024

log = logging.getLogger(__name__)

_gates: dict[Path, threading.RLock] = {}
_gates_lock = threading.Lock()


def write_gate(path: Path) -> threading.RLock:
    """The lock every write transaction on ``path`` in this process takes before SQLite's.

    Two connections of one process (the server's, and the one bulk operations run on
    in a thread) then hand the write lock over as soon as it is free, where SQLite's
    busy handler would poll it, sleeping up to 100 ms between tries and never sure to
    get it between two transactions of a busy writer. Other processes still meet at
    SQLite's lock."""
    key = path.resolve()
    with _gates_lock:
        return _gates.setdefault(key, threading.RLock())


Params = Mapping[str, Any]


class Database:
    """A connection plus the named queries; thread-safe (one operation at a time)."""

    def __init__(self, path: Path, *, background_checkpoints: bool = True) -> None:
        self.path = path
        fsutil.ensure_dir(path.parent)
        # The named statements, also for a hot path that runs them on the cursor itself
        # (an attribute, not a property: read on every claim).
        self.sql: Mapping[str, str] = queries()
        self._lock = threading.RLock()
        self._checkpointer: Checkpointer | None = None
        self._conn = _connect(path)
        # Every statement runs on this one cursor (under the lock): a query through
        # Connection.execute makes and drops a cursor each time, measured at 2.5 us more
        # per query, several times per claim.
        cursor = self._conn.cursor()
        self._write = _Transaction(cursor, self._lock, "BEGIN IMMEDIATE", gate=write_gate(path))
        self._read = _Transaction(cursor, self._lock, "BEGIN", gate=None)
        try:
            self._configure()
            self._migrate()
        except BaseException as exc:
            self._conn.close()
            if not isinstance(exc, sqlite3.DatabaseError):
                raise
            raise StateError(
                f"cannot open the task database {path}: {exc}",
                hint="if the file is damaged, move it away; a new one is created on the next use",
            ) from exc
        if background_checkpoints:
            self._conn.execute("PRAGMA wal_autocheckpoint = 0")
            self._checkpointer = Checkpointer(path)

    def _configure(self) -> None:
        for pragma in (
            # Takes effect only on a new file. Every transaction writes each page it
            # changed to the WAL, a claim three; 2 KiB pages measured faster than 4 KiB.
            f"PRAGMA page_size = {PAGE_BYTES}",
            "PRAGMA journal_mode = WAL",
            "PRAGMA synchronous = NORMAL",
            "PRAGMA foreign_keys = ON",
            f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
            f"PRAGMA cache_size = -{CACHE_KIB}",
            "PRAGMA temp_store = MEMORY",
            # Debian's SQLite zeroes deleted content by default; the audit log keeps
            # every value anyway, and the file is private to its owner.
            "PRAGMA secure_delete = OFF",
            f"PRAGMA journal_size_limit = {WAL_LIMIT_BYTES}",
        ):
            self._conn.execute(pragma)

    def _migrate(self) -> None:
        """Bring the schema up to date in one transaction, with foreign keys off while
        it runs (SQLite's way to rebuild a table: dropping the old one would otherwise
        cascade into every table that refers to it) and checked before it commits."""
        known = migrations()
        self._conn.execute("PRAGMA foreign_keys = OFF")  # a no-op inside a transaction
        try:
            with self.write() as conn:
                version = int(conn.execute("PRAGMA user_version").fetchone()[0])
                if version > len(known):
                    raise StateError(
                        f"the task database {self.path} has schema version {version}, newer "
                        f"than this isollm understands ({len(known)})",
                        hint="upgrade isollm, or use another ISOLLM_HOME",
                    )
                for migration in known[version:]:
                    for statement in _statements(migration.sql):
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {migration.version}")
                if version < len(known):
                    broken = conn.execute("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise sqlite3.IntegrityError(
                            f"migration left {len(broken)} broken references: {broken[:5]}"
                        )
        finally:
            self._conn.execute("PRAGMA foreign_keys = ON")

    @property
    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def write(self) -> _Transaction:
        """A ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on error."""
        return self._write

    def read(self) -> _Transaction:
        """A read transaction: several queries see one consistent snapshot."""
        return self._read

    def one(self, conn: sqlite3.Cursor, name: str, params: Params) -> Any:
        return conn.execute(self.sql[name], params).fetchone()

    def all(self, conn: sqlite3.Cursor, name: str, params: Params) -> list[Any]:
        return conn.execute(self.sql[name], params).fetchall()

    def scalar(self, conn: sqlite3.Cursor, name: str, params: Params) -> Any:
        row = conn.execute(self.sql[name], params).fetchone()
        return None if row is None else row[0]

    def run(self, conn: sqlite3.Cursor, name: str, params: Params) -> int:
        """Execute a statement; the number of rows it changed."""
        return conn.execute(self.sql[name], params).rowcount

    def insert(self, conn: sqlite3.Cursor, name: str, params: Params) -> int:
        """Execute an INSERT; the rowid of the row it added."""
        rowid = conn.execute(self.sql[name], params).lastrowid
        if rowid is None:  # pragma: no cover - an INSERT always sets it
            raise RuntimeError(f"query {name} inserted no row")
        return rowid

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        with self._lock:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("PRAGMA optimize")
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.close()


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(
        path,
        isolation_level=None,
        check_same_thread=False,
        timeout=BUSY_TIMEOUT_MS / 1000,
        cached_statements=256,  # every named query stays prepared
    )


class Checkpointer:
    """Copies the WAL into the database from a thread of its own.

    A checkpoint fsyncs; done by the committing connection (SQLite's default) it
    stalls whoever committed, for a server every request in flight. Here the writer
    never checkpoints and this thread does, every ``interval`` seconds, without
    blocking writers (PASSIVE). (A RESTART after it, so that commits overwrite the WAL
    from its start instead of extending it, was measured: no faster claims in process,
    and it doubled the HTTP p99 at 64 clients, since writers wait while it runs.)

    Once a second: a checkpoint copies each page changed since the last one, and under
    load the same few pages (the queue's, the audit log's tail) change all the time, so
    four checkpoints a second copied them four times over. Measured on a 2-core VM,
    claims one per transaction in process: 19,000/s with a checkpoint every 0.25 s,
    25,000/s every second (machine CPU 40 instead of 52 µs a claim); no change over
    HTTP (p99 at 64 clients about 10 ms both). An operating-system crash can lose the
    commits since the last checkpoint, a second's at most.
    """

    def __init__(self, path: Path, interval: float = CHECKPOINT_SECONDS) -> None:
        self._path = path
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"checkpoint {path.name}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        conn = _connect(self._path)
        try:
            while not self._stopped.wait(self._interval):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error:
                    log.exception("checkpoint of %s failed", self._path)
        finally:
            conn.close()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()


class _Transaction:
    """``with`` block holding the connection's lock around one transaction; gives the
    cursor every statement of it runs on (results are fetched before the next).

    A write commits on success and rolls back on error; a read (a consistent snapshot)
    always ends with ``COMMIT``. A plain class rather than ``contextlib.contextmanager``:
    it is entered on every claim, and a generator costs several times as much.
    """

    __slots__ = ("_begin", "_conn", "_cursor", "_gate", "_lock", "_writes")

    def __init__(
        self,
        cursor: sqlite3.Cursor,
        lock: threading.RLock,
        begin: str,
        *,
        gate: threading.RLock | None,
    ) -> None:
        self._cursor = cursor
        self._conn = cursor.connection
        self._lock = lock
        self._begin = begin
        self._gate = gate  # writes only: see write_gate
        self._writes = gate is not None

    def __enter__(self) -> sqlite3.Cursor:
        self._lock.acquire()
        gate = self._gate
        if gate is not None:
            gate.acquire()
        try:
            self._cursor.execute(self._begin)
        except BaseException:
            if gate is not None:
                gate.release()
            self._lock.release()
            raise
        return self._cursor

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        cursor, conn = self._cursor, self._conn
        try:
            if kind is None and (self._writes or conn.in_transaction):
                cursor.execute("COMMIT")
            elif conn.in_transaction:
                cursor.execute("ROLLBACK")
        except BaseException:
            if conn.in_transaction:
                cursor.execute("ROLLBACK")
            raise
        finally:
            if self._gate is not None:
                self._gate.release()
            self._lock.release()


def _statements(script: str) -> list[str]:
    """Split a migration into statements (sqlite3 runs one per execute)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        if line.lstrip().startswith("--") and not current.strip():
            continue
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip():
        raise ValueError(f"incomplete SQL statement in a migration: {current.strip()[:80]}")
    return statements
