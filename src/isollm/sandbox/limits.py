"""Resource limits on every command a host-side sandbox (overlay, worktree) starts.

Two layers, both set before the command's first instruction runs:

- **A cgroup per sandbox** (as root, or wherever the cgroup tree is writable):
  ``<hierarchy>/isollm/<project>/<name>-<hash>`` with ``pids.max``, the memory limit
  (swap included) and the CPU quota. Every command of the sandbox joins it, so a fork bomb
  or a memory bomb is stopped at the sandbox's own budget, whatever it spreads over;
  the host and the other sandboxes keep theirs. cgroup v1 (one hierarchy per controller)
  and v2 (one tree) are both handled. The cgroup is removed with the sandbox.
- **rlimits** (always): ``RLIMIT_FSIZE`` at the disk size (no single file larger),
  ``RLIMIT_CORE`` 0, ``RLIMIT_NOFILE`` bounded. Without a cgroup (a normal user without
  delegation) ``RLIMIT_NPROC`` and ``RLIMIT_DATA`` stand in for the process and memory
  limits: they count per user and per process, a weaker guarantee (see :func:`gaps`).
  With a pids cgroup ``RLIMIT_NPROC`` is left alone: it counts every process of the uid,
  so it would let one sandbox's fork bomb starve another sandbox run by the same uid.

The command is started through a wrapper, never a ``preexec_fn`` (the runner is
threaded): ``sh -c JOIN sh PROCS... -- prlimit OPTIONS -- ARGV...`` writes its own pid
into each cgroup's ``cgroup.procs``, then execs ``prlimit``, which sets the rlimits and
execs the command. Values only ever travel as positional parameters.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import resource
import shutil
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from isollm.errors import SandboxError

if TYPE_CHECKING:  # base imports this module
    from isollm.sandbox.base import Limits

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
GROUP = "isollm"
CPU_PERIOD_US = 100_000
NOFILE = 65_536
RELEASE_SECONDS = 5.0  # how long removing a cgroup waits for its last processes to die
# Exit status of the wrapper when it cannot join a cgroup it prepared: it refuses to run
# the command without its limits.
JOIN_FAILED = 125
# sh -c JOIN sh PROCS... -- ARGV...: move this very process into each cgroup, then exec.
JOIN_SCRIPT = (
    'while [ "$1" != -- ]; do echo $$ > "$1" || '
    f'{{ echo "isollm: cannot join cgroup $1" >&2; exit {JOIN_FAILED}; }}; shift; done; '
    'shift; exec "$@"'
)

_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_SIZE = re.compile(r"^([1-9][0-9]*)([KMGTkmgt]?)$")
# Controllers a limit needs, by cgroup v1 hierarchy name.
_V1 = ("memory", "pids", "cpu")


def size_bytes(text: str) -> int:
    """``512M`` / ``2G`` / ``1048576`` as bytes."""
    match = _SIZE.match(text.strip())
    if not match:
        raise SandboxError(f"{text!r} is not a size like 512M or 2G")
    return int(match.group(1)) * _UNITS[match.group(2).upper()]


def cgroup_settings(limits: Limits, *, v2: bool) -> list[tuple[str, str]]:
    """(controller file, value) pairs applying ``limits`` on cgroup v1 or v2, in the order
    they must be written (lxc writes them from a container's config, in this order)."""
    out: list[tuple[str, str]] = []
    if limits.memory:
        key = "memory.max" if v2 else "memory.limit_in_bytes"
        out.append((key, str(size_bytes(limits.memory))))
    if limits.pids:
        out.append(("pids.max", str(limits.pids)))
    if limits.cpus:
        quota = max(1000, round(limits.cpus * CPU_PERIOD_US))
        if v2:
            out.append(("cpu.max", f"{quota} {CPU_PERIOD_US}"))
        else:
            out += [("cpu.cfs_period_us", str(CPU_PERIOD_US)), ("cpu.cfs_quota_us", str(quota))]
    return out


def group_name(directory: Path) -> str:
    """The sandbox's cgroup path below a hierarchy: ``isollm/<project>/<name>-<hash>``.

    ``directory`` is the sandbox's own directory (``.../sandboxes/<project>/<name>``); the
    hash of its path keeps two isollm homes using the same names apart.
    """
    digest = hashlib.sha256(str(directory).encode()).hexdigest()[:10]
    return f"{GROUP}/{directory.parent.name}/{directory.name}-{digest}"


def is_v2(root: Path = CGROUP_ROOT) -> bool:
    """A pure cgroup v2 host (the unified tree mounted at the root)."""
    return (root / "cgroup.controllers").is_file()


def _v1_settings(limits: Limits) -> dict[str, list[tuple[str, str]]]:
    """Files to write per v1 hierarchy; memory first clears the swap limit so the memory
    limit may rise, then sets swap+memory to the same value (no swapping past it)."""
    out: dict[str, list[tuple[str, str]]] = {}
    if limits.memory:
        value = str(size_bytes(limits.memory))
        out["memory"] = [
            ("memory.memsw.limit_in_bytes", "-1"),
            ("memory.limit_in_bytes", value),
            ("memory.memsw.limit_in_bytes", value),
        ]
    if limits.pids:
        out["pids"] = [("pids.max", str(limits.pids))]
    if limits.cpus:
        quota = max(1000, round(limits.cpus * CPU_PERIOD_US))
        out["cpu"] = [("cpu.cfs_period_us", str(CPU_PERIOD_US)), ("cpu.cfs_quota_us", str(quota))]
    return out


def _v2_settings(limits: Limits) -> list[tuple[str, str]]:
    out = cgroup_settings(limits, v2=True)
    if limits.memory:
        out.append(("memory.swap.max", "0"))
    return out


def _write(path: Path, value: str, *, optional: bool = False) -> None:
    try:
        path.write_text(value, encoding="ascii")
    except FileNotFoundError:
        if not optional:  # memory.memsw.* exists only with swap accounting
            raise


def _make(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)


def prepare_cgroups(limits: Limits, directory: Path, root: Path = CGROUP_ROOT) -> dict[str, Path]:
    """Create the sandbox's cgroups and write ``limits`` into them.

    Returns the directories to join, by controller ("memory", "pids", "cpu"); a controller
    whose cgroup cannot be made (not root, no delegation, not mounted) is left out, and its
    limit falls back to an rlimit where one exists.
    """
    name = group_name(directory)
    if is_v2(root):
        return _prepare_v2(limits, root, name)
    joined: dict[str, Path] = {}
    for controller, settings in _v1_settings(limits).items():
        hierarchy = root / controller
        if not (hierarchy / "cgroup.procs").is_file():
            continue
        group = hierarchy / name
        try:
            _make(group)
            for key, value in settings:
                _write(group / key, value, optional=key.startswith("memory.memsw"))
        except OSError as exc:
            log.debug("no %s cgroup for %s: %s", controller, directory.name, exc)
            continue
        joined[controller] = group
    return joined


def _prepare_v2(limits: Limits, root: Path, name: str) -> dict[str, Path]:
    settings = _v2_settings(limits)
    if not settings:
        return {}
    wanted = {key.split(".")[0] for key, _ in settings}
    try:
        available = set((root / "cgroup.controllers").read_text(encoding="ascii").split())
    except OSError:
        return {}
    wanted &= available
    if not wanted:
        return {}
    group = root / name
    try:
        parent = root
        for part in name.split("/"):  # controllers must be enabled all the way down
            _write(parent / "cgroup.subtree_control", " ".join(f"+{c}" for c in sorted(wanted)))
            parent = parent / part
            _make(parent)
        for key, value in settings:
            if key.split(".")[0] in wanted:
                _write(group / key, value, optional=key == "memory.swap.max")
    except OSError as exc:
        log.debug("no cgroup for %s: %s", name, exc)
        return {}
    return dict.fromkeys(sorted(wanted), group)


def release_cgroups(directory: Path, root: Path = CGROUP_ROOT) -> None:
    """Remove the sandbox's cgroups (and its project's, when empty), killing whatever is
    still in them: the sandbox is going away, and a command's last processes may still
    be dying (bubblewrap's children die with it, asynchronously). Never raises."""
    name = group_name(directory)
    bases = [root] if is_v2(root) else [root / c for c in _V1]
    for base in bases:
        group = base / name
        if group.is_dir():
            _empty(group)
        with contextlib.suppress(OSError):
            group.parent.rmdir()


def _empty(group: Path) -> None:
    deadline = time.monotonic() + RELEASE_SECONDS
    while True:
        try:
            group.rmdir()  # cgroup directories go with rmdir, files and all
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                log.warning("cgroup %s is still busy; left in place", group)
                return
            _kill_members(group)
            time.sleep(0.05)
        else:
            return


def _kill_members(group: Path) -> None:
    with contextlib.suppress(OSError):
        for pid in (group / "cgroup.procs").read_text(encoding="ascii").split():
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(pid), signal.SIGKILL)


def _bounded(limit: int, wanted: int) -> int:
    """``wanted``, but never above a hard limit the process already has."""
    return wanted if limit == resource.RLIM_INFINITY else min(limit, wanted)


def rlimit_options(limits: Limits, joined: Sequence[str]) -> list[str]:
    """``prlimit`` options for ``limits`` given the cgroup controllers ``joined``."""
    options = ["--core=0"]
    _soft, nofile_hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    options.append(f"--nofile={_bounded(nofile_hard, NOFILE)}")
    if limits.disk:
        options.append(f"--fsize={size_bytes(limits.disk)}")
    if limits.pids and "pids" not in joined:  # counted over the whole uid: on top of
        options.append(f"--nproc={limits.pids + user_tasks(os.getuid())}")  # what runs
    if limits.memory and "memory" not in joined:
        options.append(f"--data={size_bytes(limits.memory)}")
    return options


def user_tasks(uid: int, proc: Path = Path("/proc")) -> int:
    """How many tasks (threads included, as RLIMIT_NPROC counts) ``uid`` runs now."""
    total = 0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = dict(
                line.split(":", 1)
                for line in (entry / "status").read_text(encoding="ascii").splitlines()
                if ":" in line
            )
            if int(fields["Uid"].split()[0]) == uid:
                total += int(fields["Threads"])
    return total


def wrap(argv: Sequence[str], limits: Limits, directory: Path) -> tuple[str, ...]:
    """``argv`` started in the sandbox's cgroups with its rlimits (see the module doc)."""
    joined = prepare_cgroups(limits, directory)
    command = list(argv)
    prlimit = shutil.which("prlimit")
    if prlimit:
        command = [prlimit, *rlimit_options(limits, list(joined)), "--", *command]
    else:
        log.warning("prlimit (util-linux) is not installed: no rlimits on sandbox commands")
    procs = sorted({str(group / "cgroup.procs") for group in joined.values()})
    if procs:
        command = ["sh", "-c", JOIN_SCRIPT, "sh", *procs, "--", *command]
    return tuple(command)


def usable_controllers(root: Path = CGROUP_ROOT) -> set[str]:
    """Controllers whose cgroups isollm can make here (without making any)."""
    if is_v2(root):
        if not os.access(root, os.W_OK):
            return set()
        with contextlib.suppress(OSError):
            return set((root / "cgroup.controllers").read_text(encoding="ascii").split())
        return set()
    return {
        c for c in _V1 if (root / c / "cgroup.procs").is_file() and os.access(root / c, os.W_OK)
    }


def gaps(limits: Limits, root: Path = CGROUP_ROOT) -> list[str]:
    """Notes on limits that apply only in a weaker form here (no cgroup for them)."""
    usable = usable_controllers(root)
    missing = []
    if limits.pids and "pids" not in usable:
        missing.append(f"pids ({limits.pids}) as RLIMIT_NPROC, counted per user")
    if limits.memory and "memory" not in usable:
        missing.append(f"memory ({limits.memory}) as RLIMIT_DATA, per process")
    if limits.cpus and "cpu" not in usable:
        missing.append("cpus not at all")
    if not missing:
        return []
    why = "not root" if os.geteuid() else "the cgroup tree is not writable"
    return [
        f"limits without a cgroup ({why}): " + "; ".join(missing) + ". Run as root, or with "
        "a writable cgroup tree, for per-sandbox limits."
    ]


def container_cgroup_settings(
    limits: Limits, *, v2: bool, root: Path = CGROUP_ROOT
) -> list[tuple[str, str]]:
    """:func:`cgroup_settings` plus the swap limit (none beyond the memory limit) for a
    container's own cgroup, where the host has swap accounting."""
    out = cgroup_settings(limits, v2=v2)
    if limits.memory:
        if v2:
            out.append(("memory.swap.max", "0"))
        elif (root / "memory" / "memory.memsw.limit_in_bytes").is_file():
            out.append(("memory.memsw.limit_in_bytes", str(size_bytes(limits.memory))))
    return out


def container_rlimits(limits: Limits) -> list[tuple[str, int]]:
    """(rlimit name as in ``prlimit``/``ulimit``, value) for every process of a container:
    the same file size, core and open file bounds as host-side sandboxes."""
    _soft, nofile_hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    out = [("core", 0), ("nofile", _bounded(nofile_hard, NOFILE))]
    if limits.disk:
        out.append(("fsize", size_bytes(limits.disk)))
    return out
