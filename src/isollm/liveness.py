"""Is a recorded process still the one that is running? (Linux ``/proc``.)

The one liveness check of isollm: every record that names a process (a session, a run,
the task server) keeps its pid *and* its start time, and asks :func:`is_alive`.

A pid alone is not an identity: after a crash the kernel can hand the same pid to an
unrelated process. The start time in ``/proc/<pid>/stat`` (field 22, clock ticks since
boot) tells the two apart, so a record stores both (:func:`start_time`) and compares both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
_STARTTIME_FIELD = 22
_STATE_FIELD = 3


@dataclass(frozen=True)
class ProcStat:
    state: str  # R, S, D, Z (zombie), ...
    start_time: int


def parse_stat(text: str) -> ProcStat:
    """Fields of a ``/proc/<pid>/stat`` line; the command name may hold spaces and parens."""
    head, sep, tail = text.rpartition(")")
    if not sep or "(" not in head:
        raise ValueError("not a /proc stat line")
    rest = tail.split()  # rest[0] is field 3
    return ProcStat(state=rest[_STATE_FIELD - 3], start_time=int(rest[_STARTTIME_FIELD - 3]))


def read_stat(pid: int) -> ProcStat | None:
    """The stat of ``pid``, or None if there is no such process (or no /proc)."""
    try:
        return parse_stat((PROC / str(pid) / "stat").read_text())
    except (OSError, ValueError, IndexError):
        return None


def start_time(pid: int) -> int | None:
    stat = read_stat(pid)
    return stat.start_time if stat else None


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it is just not ours
    return True


def is_alive(pid: int, recorded_start_time: int | None = None) -> bool:
    """Whether ``pid`` runs and, when a start time was recorded, is the same process.

    A zombie (exited, not yet reaped) counts as dead.
    """
    if pid <= 0 or not _exists(pid):
        return False
    stat = read_stat(pid)
    if stat is None:
        # gone since the signal check, unless this system has no /proc to look in
        return not (PROC / "self").exists()
    if stat.state == "Z":
        return False
    return recorded_start_time is None or stat.start_time == recorded_start_time
