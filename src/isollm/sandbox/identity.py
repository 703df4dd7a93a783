"""The host user a project's sandboxes run as: never root.

Run by a normal user, sandboxes run as that user (its home and isollm's directory are
hidden inside anyway). Run by root, each project gets a dedicated unprivileged uid (and a
gid of the same number) from a range no account uses, recorded in
``$ISOLLM_HOME/sandbox-ids.json`` so it stays the same across runs and reboots: the
workspace files on the host belong to it, and a daemon on a Unix socket or a root-only
file sees a stranger, not root.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from isollm import fsutil, records
from isollm.errors import SandboxError

ID_FIRST = 2_100_000_000  # far above any account, system or subordinate range in use
ID_COUNT = 40_000_000  # ID_FIRST + ID_COUNT stays below 2**31 - 1 (the overflow uid)
IDS_FILE = "sandbox-ids.json"
IDS_VERSION = 1
IDS_SCHEMA = records.Schema("sandbox uid record", IDS_VERSION, {})


@dataclass(frozen=True)
class HostIdentity:
    """Who a sandbox runs as on the host; ``drop`` when isollm must switch to it."""

    uid: int
    gid: int

    @property
    def drop(self) -> bool:
        return self.uid != os.geteuid()


def for_project(project: str) -> HostIdentity:
    """The identity sandboxes of ``project`` run as (allocated once when run as root)."""
    if os.geteuid() != 0:
        return HostIdentity(os.getuid(), os.getgid())
    uid = allocate(project)
    return HostIdentity(uid, uid)


def allocate(project: str) -> int:
    """The recorded uid of ``project``, or a new free one recorded under a lock."""
    path = fsutil.ensure_dir(fsutil.isollm_home()) / IDS_FILE
    with fsutil.file_lock(path.with_suffix(".lock")):
        ids = _read(path)
        if project in ids:
            return ids[project]
        uid = pick_free(_seed(project), set(ids.values()) | used_ids())
        ids[project] = uid
        records.write(path, {"ids": ids}, IDS_SCHEMA)
        return uid


def pick_free(seed: int, taken: set[int]) -> int:
    """The first id of the range at or after ``seed`` that is not ``taken`` (wrapping)."""
    for step in range(ID_COUNT):
        uid = ID_FIRST + (seed + step) % ID_COUNT
        if uid not in taken:
            return uid
    raise SandboxError("no free sandbox uid left", hint=f"remove unused entries of {IDS_FILE}")


def _seed(project: str) -> int:
    """Different isollm homes and projects start far apart, so they rarely share a uid."""
    key = f"{fsutil.isollm_home().resolve()}\0{project}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % ID_COUNT


def _read(path: Path) -> dict[str, int]:
    if not path.is_file():
        return {}
    try:
        data = records.read(path, IDS_SCHEMA)
        ids = {str(k): int(v) for k, v in data["ids"].items()}
    except records.NewerRecordError as exc:
        raise SandboxError(exc.message, hint="upgrade isollm") from None
    except (records.RecordError, ValueError, KeyError, TypeError, AttributeError) as exc:
        reason = exc.reason if isinstance(exc, records.RecordError) else str(exc)
        raise SandboxError(
            f"the sandbox uid record {path} is unreadable: {reason}",
            hint="fix or remove it (sandboxes of existing projects then get new uids)",
        ) from exc
    if any(uid <= 0 for uid in ids.values()):
        raise SandboxError(f"{path} maps a project to root", hint="remove that entry")
    return ids


def used_ids() -> set[int]:
    """Every uid and gid named in /etc/passwd and /etc/group, and subordinate ranges'
    starts (ranges themselves lie far below ID_FIRST on any usual system)."""
    used: set[int] = set()
    for name, column in (("/etc/passwd", 2), ("/etc/group", 2)):
        for line in _lines(name):
            fields = line.split(":")
            if len(fields) > column and fields[column].isdigit():
                used.add(int(fields[column]))
    for name in ("/etc/subuid", "/etc/subgid"):
        for line in _lines(name):
            fields = line.split(":")
            if len(fields) == 3 and fields[1].isdigit() and fields[2].isdigit():
                start, count = int(fields[1]), int(fields[2])
                used.update(range(max(start, ID_FIRST), min(start + count, ID_FIRST + ID_COUNT)))
    return used


def _lines(name: str) -> list[str]:
    try:
        return Path(name).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


def blocked_ancestor(path: Path, user: HostIdentity) -> Path | None:
    """The shallowest directory on the way to ``path`` that ``user`` may not search.

    Everything below it is out of ``user``'s reach anyway, so a sandbox can hide it under
    an empty tmpfs and lose nothing; bubblewrap, run as ``user``, needs that to create
    its mount points below (a 0700 ``mkdtemp`` holding isollm's directory).
    """
    if not user.drop:
        return None
    current = Path("/")
    for part in path.parts[1:]:
        current = current / part
        try:
            st = current.stat()
        except OSError:
            return None
        if not stat.S_ISDIR(st.st_mode):
            return None
        if st.st_uid == user.uid:
            allowed = st.st_mode & stat.S_IXUSR
        elif st.st_gid == user.gid:
            allowed = st.st_mode & stat.S_IXGRP
        else:
            allowed = st.st_mode & stat.S_IXOTH
        if not allowed:
            return current
    return None
