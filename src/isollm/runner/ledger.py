"""The run ledger: every event of a run, appended as one JSON object per line.

A line is ``{"seq": n, "ts": "...Z", "run": "<run id>", "type": "...", ...}`` with
``seq`` counting from 1 without gaps. An event is committed once its line, newline
included, is on disk: :meth:`LedgerWriter.append` returns after ``fdatasync``, and
appenders in several threads share one sync (group commit).

A crash mid-write can only damage the last line: :func:`replay` tolerates a line
without its newline (``truncated``) or an unreadable last line (``corrupt``), folds
everything before it and reports the damage; :meth:`LedgerWriter.open` cuts it off
before appending again. Damage anywhere else is :class:`LedgerCorruptError`.

Event data is redacted as it is encoded: no registered secret (:mod:`isollm.redaction`)
reaches the file, whatever an agent put in a reason.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

import orjson

from isollm import redaction
from isollm.errors import StateError
from isollm.runner.view import BadLine, EventType, RunView

FORMAT = 1
CHUNK_SIZE = 4 << 20
RESERVED = frozenset({"seq", "ts", "run", "type", "task", "attempt", "ik", "end"})


class LedgerCorruptError(StateError):
    """The run ledger is damaged before its last line and cannot be replayed."""


class LedgerBusyError(StateError):
    """Another process is writing this run's ledger."""


@dataclass(frozen=True)
class Damage:
    """A damaged last line: cut short by a crash, or unreadable."""

    kind: Literal["truncated", "corrupt"]
    line: int  # 1-based
    offset: int  # where the line starts; the ledger is intact up to here
    length: int
    reason: str

    def describe(self) -> str:
        return (
            f"last line {self.line} is {self.kind} ({self.reason}; "
            f"{self.length} bytes at offset {self.offset}), ignored"
        )


@dataclass
class Replay:
    """A replayed ledger: the view, where the intact part ends, any tail damage."""

    view: RunView
    end_offset: int
    damage: Damage | None = None


def now() -> str:
    """The current time as RFC 3339 UTC with microseconds: ``2026-11-21T19:05:12.123456Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def encode(
    seq: int,
    run_id: str,
    type: str,
    *,
    ts: str | None = None,
    task: str | None = None,
    attempt: int | None = None,
    ik: str | None = None,
    end: bool = False,
    **data: Any,
) -> bytes:
    """One ledger line, newline included. ``data`` may not use a reserved field name."""
    clash = RESERVED.intersection(data)
    if clash:
        raise ValueError(f"event data may not set reserved fields: {sorted(clash)}")
    event: dict[str, Any] = {"seq": seq, "ts": ts or now(), "run": run_id, "type": type}
    if task is not None:
        event["task"] = task
    if attempt is not None:
        event["attempt"] = attempt
    if ik is not None:
        event["ik"] = ik
    if end:
        event["end"] = True
    event.update({k: redaction.redact_value(v) for k, v in data.items()})
    return orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE)


# -- reading ---------------------------------------------------------------------------------


def replay(path: Path, *, chunk_size: int = CHUNK_SIZE) -> Replay:
    """Fold the ledger at ``path``; tolerate and report a damaged last line."""
    try:
        with path.open("rb") as stream:
            return replay_stream(stream, chunk_size=chunk_size, name=str(path))
    except FileNotFoundError:
        raise StateError(
            f"run ledger {path} does not exist",
            hint="the run was never started or its directory was removed",
        ) from None
    except OSError as exc:
        raise StateError(f"cannot read the run ledger {path}: {exc.strerror}") from exc


def replay_stream(
    stream: IO[bytes], *, chunk_size: int = CHUNK_SIZE, name: str = "ledger"
) -> Replay:
    """Fold a ledger byte stream read in chunks of ``chunk_size`` bytes."""
    with _gc_paused():
        return _replay(stream, chunk_size, name)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: replay allocates a dict per event and keeps
    few, so collections would only slow it down (by a quarter, measured)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _replay(stream: IO[bytes], chunk_size: int, name: str) -> Replay:
    view = RunView()
    offset = lineno = 0  # of the first byte / line not yet folded
    carry = b""
    while chunk := stream.read(chunk_size):
        data = carry + chunk
        lines = data.split(b"\n")
        carry = lines.pop()
        try:
            view.fold_lines(lines)
        except BadLine as bad:
            index = _index_of(lines, bad.line)
            start = offset + sum(len(line) + 1 for line in lines[:index])
            damage = Damage("corrupt", lineno + index + 1, start, len(bad.line) + 1, bad.reason)
            if index < len(lines) - 1 or carry or stream.read(1):
                raise _corrupt_error(name, damage) from None
            _check_format(view, name)
            return Replay(view, start, damage)
        offset += len(data) - len(carry)
        lineno += len(lines)
    _check_format(view, name)
    if carry:
        damage = Damage("truncated", lineno + 1, offset, len(carry), "no newline at the end")
        return Replay(view, offset, damage)
    return Replay(view, offset)


def _index_of(lines: list[bytes], line: bytes) -> int:
    return next(i for i, candidate in enumerate(lines) if candidate is line)


def _check_format(view: RunView, name: str) -> None:
    for event in view.run_events:
        version = event.get("format") if event["type"] == EventType.LEDGER_OPENED else None
        if isinstance(version, int) and version > FORMAT:
            raise StateError(
                f"{name} was written by a newer isollm (ledger format {version}; "
                f"this isollm reads up to {FORMAT})",
                hint="upgrade isollm to read this run",
            )


def _corrupt_error(name: str, damage: Damage) -> LedgerCorruptError:
    return LedgerCorruptError(
        f"{name}: line {damage.line} (byte {damage.offset}) is damaged and is not the last "
        f"line: {damage.reason}",
        hint="the ledger was edited or the disk is failing; keep a copy, then either "
        "restore it from a backup or cut it before that line to resume from there",
    )


# -- writing ---------------------------------------------------------------------------------


class LedgerWriter:
    """The one appender of a run's ledger (an exclusive ``flock`` for its lifetime).

    Use :meth:`open`, which replays what is there, cuts off a damaged last line and
    records a ``ledger.opened`` event; ``with`` closes it.
    """

    def __init__(self, fd: int, run_id: str, next_seq: int, size: int) -> None:
        self.run_id = run_id
        self._fd = fd
        self._next = next_seq
        self._size = size
        self._written = self._synced = next_seq - 1
        self._write_lock = threading.Lock()
        self._sync_lock = threading.Lock()

    @classmethod
    def open(cls, path: Path, run_id: str) -> tuple[LedgerWriter, Replay]:
        """Lock and replay the ledger at ``path`` (created if missing), ready to append."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            _lock(fd, path)
            with os.fdopen(os.dup(fd), "rb") as stream:
                replayed = replay_stream(stream, name=str(path))
            _check_run(replayed.view, run_id, path)
            if replayed.damage is not None:
                os.ftruncate(fd, replayed.end_offset)
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        writer = cls(fd, run_id, replayed.view.last_seq + 1, replayed.end_offset)
        damage = replayed.damage.describe() if replayed.damage else None
        writer.append(EventType.LEDGER_OPENED, format=FORMAT, pid=os.getpid(), repaired=damage)
        return writer, replayed

    @property
    def next_seq(self) -> int:
        return self._next

    def append(
        self,
        type: str,
        *,
        task: str | None = None,
        attempt: int | None = None,
        ik: str | None = None,
        end: bool = False,
        sync: bool = True,
        **data: Any,
    ) -> int:
        """Append one event and return its ``seq``; durable on return unless ``sync=False``."""
        stamp = now()
        if self._fd < 0:
            raise ValueError("append to a closed ledger")
        with self._write_lock:
            seq = self._next
            line = encode(
                seq, self.run_id, type, ts=stamp, task=task, attempt=attempt, ik=ik, end=end, **data
            )
            self._write(line)
            self._written = seq
            self._next = seq + 1
        if sync:
            self._sync_through(seq)
        return seq

    def sync(self) -> None:
        """Make every event appended so far durable (after ``append(..., sync=False)``)."""
        self._sync_through(self._written)

    def _write(self, line: bytes) -> None:
        view = memoryview(line)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            os.ftruncate(self._fd, self._size)  # never leave a torn line before the next one
            raise StateError(f"cannot append to the run ledger: {exc.strerror}") from exc
        self._size += len(line)

    def _sync_through(self, seq: int) -> None:
        with self._sync_lock:
            if self._synced >= seq:
                return  # another thread's sync covered it
            target = self._written
            try:
                os.fdatasync(self._fd)
            except OSError as exc:
                raise StateError(f"cannot sync the run ledger to disk: {exc.strerror}") from exc
            self._synced = target

    def close(self) -> None:
        if self._fd >= 0:
            self.sync()
            os.close(self._fd)  # releases the flock
            self._fd = -1

    def __enter__(self) -> LedgerWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _lock(fd: int, path: Path) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise LedgerBusyError(
            f"another process is writing the run ledger {path}",
            hint="wait for that run to finish, or stop it before resuming",
        ) from None


def _check_run(view: RunView, run_id: str, path: Path) -> None:
    if view.run_id is not None and view.run_id != run_id:
        raise StateError(f"{path} is the ledger of run {view.run_id}, not of run {run_id}")
