"""Crash-safe file writes, inter-process locks and bounded reads.

A write goes to a unique temp file in the same directory, is flushed and fsynced,
renamed over the target, and the directory is fsynced: a reader sees the old file or
the new one, never a torn one, even if the writer is killed midway.

A file an agent could have written is read with :func:`read_bounded`: a regular file
inside a given root, reached without following any symlink, and at most so many bytes
(``AGENTS.md -> /dev/zero``, a FIFO or a 2 GB sparse file are refused, not read).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from isollm.errors import IsollmError

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
    import tempfile  # noqa: PLC0415 - only writes need it, not `isollm status --brief`

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


def home_tag() -> str:
    """What tells this isollm home's machine-wide names (tmux servers, containers) from
    another's with the same project name: nothing for the default home (~/.isollm), else
    a hyphen and 6 hex digits of the home's path."""
    home = isollm_home()
    if home == Path.home() / ".isollm":
        return ""
    return "-" + hashlib.sha256(os.fsencode(home.resolve())).hexdigest()[:6]


# -- reading files an agent could have written ------------------------------------------------

MAX_AGENT_FILE = 1 << 20  # an instruction or settings file larger than this is refused
_NOFOLLOW = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafeFileError(IsollmError):
    """A file an agent could have written is not a small regular file inside its root."""


def read_bounded(
    root: Path, rel: str | Path, *, limit: int = MAX_AGENT_FILE, head: bool = False
) -> bytes | None:
    """The bytes of ``root/rel``, or None if it does not exist; with ``head``, its first
    ``limit`` bytes however large it is (a log whose first line is all a reader needs).

    Every component is opened relative to the previous one without following symlinks,
    so the file is inside ``root`` whatever the agent did; it must be a regular file of
    at most ``limit`` bytes (checked on the open file, and the read stops at the limit
    in case it grows). Anything else is an :class:`UnsafeFileError`.
    """
    parts = Path(rel).parts
    if not parts or Path(rel).is_absolute() or ".." in parts:
        raise UnsafeFileError(f"{rel} is not a path inside {root}")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            inner = _open_at(fd, part, os.O_NONBLOCK if last else os.O_DIRECTORY, root / rel)
            os.close(fd)
            fd = inner
            if fd < 0:
                return None
        return _read_regular(fd, root / rel, limit, head=head)
    finally:
        if fd >= 0:
            os.close(fd)


def _open_at(dir_fd: int, name: str, flags: int, path: Path) -> int:
    """Open ``name`` in ``dir_fd`` without following a symlink; -1 if it is missing."""
    try:
        return os.open(name, _NOFOLLOW | flags, dir_fd=dir_fd)
    except FileNotFoundError:
        return -1
    except OSError as exc:  # ELOOP: a symlink; ENOTDIR: a symlink or a file as a directory
        raise UnsafeFileError(
            f"{path} is not a regular file reached without symlinks",
            hint="isollm reads only regular files an agent left, never what a symlink names",
        ) from exc


def _read_regular(fd: int, path: Path, limit: int, *, head: bool = False) -> bytes:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeFileError(f"{path} is not a regular file", hint="it was not read")
    if info.st_size > limit and not head:
        raise UnsafeFileError(
            f"{path} is {info.st_size} bytes, more than the {limit} isollm reads",
            hint="it was not read",
        )
    chunks, size = [], 0
    while size <= limit:
        chunk = os.read(fd, limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    data = b"".join(chunks)
    if head:
        return data[:limit]
    if size > limit:
        raise UnsafeFileError(f"{path} grew past {limit} bytes while read", hint="it was not read")
    return data


def read_tail(path: Path, limit: int) -> bytes:
    """The last ``limit`` bytes of the regular file ``path`` (b"" if it is missing)."""
    try:
        fd = os.open(path, _NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return b""
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafeFileError(f"{path} is not a regular file", hint="it was not read")
        size = f.seek(0, os.SEEK_END)
        f.seek(max(0, size - limit))
        return f.read(limit)
