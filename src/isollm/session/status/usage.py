"""CPU and memory of a worker's processes, read from its sandbox's cgroups.

Host-side sandboxes (overlay, worktree) put every command in a cgroup of their own
(:mod:`isollm.sandbox.limits`): its ``cgroup.procs`` lists the sandbox's processes, its
memory controller counts their memory. CPU time comes from ``cpu.stat`` (cgroup v2),
``cpuacct.usage`` (v1, when that controller has the group) or else the sum of the
processes' ``/proc/<pid>/stat`` times; a percentage needs two samples (:func:`cpu_percent`).
Memory is the anonymous memory (what RSS counts, page cache left out): ``anon`` of
``memory.stat`` (v2), ``total_rss`` (v1), or the processes' resident pages.

Without a cgroup (no root, no delegation) or for container backends nothing is known:
the fields stay None and the dashboard shows ``-``. Reads are a few small files.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from isollm.sandbox.limits import CGROUP_ROOT, group_name, is_v2

PROC = Path("/proc")
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")
_V1_CONTROLLERS = ("pids", "memory", "cpu", "cpuacct", "cpu,cpuacct")
_UTIME_FIELD = 14  # /proc/<pid>/stat, 1-based; stime follows


@dataclass(frozen=True)
class Sample:
    """One look at a sandbox's processes."""

    at: float  # time.monotonic()
    pids: tuple[int, ...] | None  # None: no cgroup to ask
    cpu_seconds: float | None
    rss_bytes: int | None


def cpu_percent(before: Sample | None, after: Sample) -> float | None:
    """CPU use between two samples, in percent of one core; None when unknown."""
    if before is None or before.cpu_seconds is None or after.cpu_seconds is None:
        return None
    elapsed = after.at - before.at
    if elapsed <= 0:
        return None
    return round(max(0.0, after.cpu_seconds - before.cpu_seconds) / elapsed * 100, 1)


def groups(directory: Path, root: Path = CGROUP_ROOT) -> dict[str, Path]:
    """The sandbox's cgroup directories that exist, by controller ("" on cgroup v2)."""
    name = group_name(directory)
    if is_v2(root):
        return {"": root / name} if (root / name).is_dir() else {}
    found = {c: root / c / name for c in _V1_CONTROLLERS}
    return {c: path for c, path in found.items() if path.is_dir()}


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None


def stat_value(text: str | None, key: str) -> int | None:
    """The value of ``key`` in a ``memory.stat``/``cpu.stat`` style file."""
    for line in (text or "").splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return None


def _pids(found: dict[str, Path]) -> tuple[int, ...] | None:
    for path in found.values():
        text = _read(path / "cgroup.procs")
        if text is not None:
            return tuple(int(p) for p in text.split() if p.isdigit())
    return None


def proc_cpu_seconds(pid: int, proc: Path = PROC) -> float:
    """User plus system time of ``pid`` (0 when it is gone)."""
    text = _read(proc / str(pid) / "stat")
    if not text:
        return 0.0
    rest = text.rpartition(")")[2].split()  # rest[0] is field 3
    with contextlib.suppress(IndexError, ValueError):
        return (int(rest[_UTIME_FIELD - 3]) + int(rest[_UTIME_FIELD - 2])) / _TICKS
    return 0.0


def proc_rss(pid: int, proc: Path = PROC) -> int:
    text = _read(proc / str(pid) / "statm")
    fields = (text or "").split()
    return int(fields[1]) * _PAGE if len(fields) > 1 and fields[1].isdigit() else 0


def _cpu(found: dict[str, Path], pids: tuple[int, ...] | None, proc: Path) -> float | None:
    if "" in found:
        usec = stat_value(_read(found[""] / "cpu.stat"), "usage_usec")
        return usec / 1e6 if usec is not None else None
    for controller in ("cpuacct", "cpu,cpuacct", "cpu"):
        text = _read(found[controller] / "cpuacct.usage") if controller in found else None
        if text and text.strip().isdigit():
            return int(text) / 1e9
    return sum(proc_cpu_seconds(p, proc) for p in pids) if pids is not None else None


def _rss(found: dict[str, Path], pids: tuple[int, ...] | None, proc: Path) -> int | None:
    if "" in found:
        value = stat_value(_read(found[""] / "memory.stat"), "anon")
    else:
        memory = found.get("memory")
        value = stat_value(_read(memory / "memory.stat"), "total_rss") if memory else None
    if value is not None:
        return value
    return sum(proc_rss(p, proc) for p in pids) if pids is not None else None


def sample(directory: Path, root: Path = CGROUP_ROOT, proc: Path = PROC) -> Sample:
    """What the sandbox whose directory is ``directory`` uses now."""
    found = groups(directory, root)
    pids = _pids(found)
    return Sample(time.monotonic(), pids, _cpu(found, pids, proc), _rss(found, pids, proc))
