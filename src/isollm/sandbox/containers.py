"""What the container backends (lxc, podman) share: the job wrapper, limits, the hub.

Killing ``lxc-attach`` or ``podman exec`` on the host leaves the command running in the
container, so commands start through a tiny wrapper that records their process group in
the container's /tmp; ``kill`` then signals that whole group from inside.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from isollm.errors import SandboxError
from isollm.git.facade import Git
from isollm.sandbox.base import DEV_USER, SANDBOX_PATH, Limits

WORKSPACE = "/home/dev/project"
HOME = "/home/dev"
CPU_PERIOD_US = 100_000
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}
_MEMORY = re.compile(r"^([1-9][0-9]*)([KMGkmg]?)$")

# sh -c WRAPPER PIDFILE ARGV...: becomes a session leader, notes its pid, then execs.
JOB_WRAPPER = 'echo $$ > "$0"; exec "$@"'
KILL_SCRIPT = 'pkill -KILL -g "$(cat "$0")"; rm -f "$0"'  # pkill: procps


@dataclass(frozen=True)
class WrappedJob:
    argv: list[str]
    pidfile: str


def wrap_job(argv: list[str], cwd: str) -> WrappedJob:
    """``argv`` run in ``cwd`` as its own process group whose id lands in a pidfile."""
    pidfile = f"/tmp/.isollm-job-{secrets.token_hex(6)}"  # noqa: S108 - the container's /tmp
    inner = ["env", "-C", cwd, "setsid", "-w", "sh", "-c", JOB_WRAPPER, pidfile, *argv]
    return WrappedJob(inner, pidfile)


def kill_argv(pidfile: str) -> list[str]:
    return ["sh", "-c", KILL_SCRIPT, pidfile]


def container_env(name: str, extra: dict[str, str] | None) -> dict[str, str]:
    env = {
        "PATH": SANDBOX_PATH,
        "HOME": HOME,
        "USER": DEV_USER,
        "LOGNAME": DEV_USER,
        "SHELL": "/bin/bash",
        "LANG": "C.UTF-8",
        "ISOLLM_WORKER": name,
        "ISOLLM_WORKSPACE": WORKSPACE,
    }
    env.update(extra or {})
    return env


def memory_bytes(text: str) -> int:
    """``512M`` / ``2G`` / ``1048576`` as bytes."""
    match = _MEMORY.match(text.strip())
    if not match:
        raise SandboxError(f"{text!r} is not a memory size like 512M or 2G")
    return int(match.group(1)) * _UNITS[match.group(2).upper()]


def cgroup_settings(limits: Limits, *, v2: bool) -> list[tuple[str, str]]:
    """(controller file, value) pairs applying ``limits`` on cgroup v1 or v2."""
    out: list[tuple[str, str]] = []
    if limits.memory:
        key = "memory.max" if v2 else "memory.limit_in_bytes"
        out.append((key, str(memory_bytes(limits.memory))))
    if limits.pids:
        out.append(("pids.max", str(limits.pids)))
    if limits.cpus:
        quota = max(1000, round(limits.cpus * CPU_PERIOD_US))
        if v2:
            out.append(("cpu.max", f"{quota} {CPU_PERIOD_US}"))
        else:
            out += [("cpu.cfs_period_us", str(CPU_PERIOD_US)), ("cpu.cfs_quota_us", str(quota))]
    return out


SHARED_MODE = "0666"


def share_hub(hub: Git) -> None:
    """Let the container's ``dev`` user push to the hub (once; the hub's parent is 0700).

    Files git creates from then on are world read-write (directories searchable), and
    what exists is opened up the same way.
    """
    current = hub.run("config", "--get", "core.sharedRepository", check=False).stdout.strip()
    if current == SHARED_MODE:
        return
    hub.run("config", "core.sharedRepository", SHARED_MODE)
    _open_up(hub.cwd)


def _open_up(root: Path) -> None:
    for dirpath, _dirs, filenames in os.walk(root):
        os.chmod(dirpath, 0o777)  # noqa: S103 - on purpose, under the 0700 isollm home
        for name in filenames:
            path = Path(dirpath, name)
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o666)
