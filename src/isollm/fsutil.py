"""Crash-safe file writes and inter-process locks.

A write goes to a unique temp file in the same directory, is flushed and fsynced,
renamed over the target, and the directory is fsynced: a reader sees the old file or
the new one, never a torn one, even if the writer is killed midway.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FILE_MODE = 0o600
DIR_MODE = 0o700


def ensure_dir(path: Path, mode: int = DIR_MODE) -> Path:
    """Create ``path`` (and parents) if missing; new directories get ``mode``."""
    path.mkdir(mode=mode, parents=True, exist_ok=True)
    return path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_copy(path: Path, data: bytes, mode: int, suffix: str) -> str:
    """A durable temp file holding ``data`` beside ``path``; its name."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return tmp


def atomic_write_bytes(path: Path, data: bytes, mode: int = FILE_MODE) -> None:
    """Replace ``path`` with ``data`` atomically and durably."""
    ensure_dir(path.parent)
    tmp = _temp_copy(path, data, mode, ".tmp")
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str, mode: int = FILE_MODE) -> None:
    atomic_write_bytes(path, text.encode(), mode)


def dumps_json(value: Any) -> str:
    """The JSON form isollm writes for state files: indented, keys in order, newline."""
    return json.dumps(value, indent=2, sort_keys=False) + "\n"


def atomic_write_json(path: Path, value: Any, mode: int = FILE_MODE) -> None:
    atomic_write_text(path, dumps_json(value), mode)


def create_exclusive(path: Path, data: bytes, mode: int = FILE_MODE) -> None:
    """Create ``path`` holding ``data``; FileExistsError if it already exists.

    The content is written to a temp file first and then hard-linked into place, so
    the file appears complete or not at all (``link`` fails if the name exists).
    """
    ensure_dir(path.parent)
    tmp = _temp_copy(path, data, mode, ".new")
    try:
        os.link(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    fsync_dir(path.parent)


@contextlib.contextmanager
def file_lock(path: Path, *, shared: bool = False, blocking: bool = True) -> Iterator[bool]:
    """Hold an ``flock`` on ``path`` (created if missing) for the ``with`` body.

    Yields True when the lock is held; with ``blocking=False`` yields False instead of
    waiting when another process holds it.
    """
    ensure_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        op = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        if not blocking:
            op |= fcntl.LOCK_NB
        try:
            fcntl.flock(fd, op)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def isollm_home() -> Path:
    """Where isollm keeps per-user data (hubs, task databases): ``$ISOLLM_HOME`` or ~/.isollm."""
    env = os.environ.get("ISOLLM_HOME")
    return Path(env).expanduser() if env else Path.home() / ".isollm"
