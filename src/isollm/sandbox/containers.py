"""What the container backends (lxc, podman) share: the job wrapper, limits, the hub.

Killing ``lxc-attach`` or ``podman exec`` on the host leaves the command running in the
container, so commands start through a tiny wrapper that records their process group in
the container's /tmp; ``kill`` then signals that whole group from inside.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from isollm import proc
from isollm.errors import SandboxError
from isollm.git.facade import Git
from isollm.sandbox import meta
from isollm.sandbox.base import (
    DEV_UID,
    HostCommand,
    Job,
    Limits,
    Sandbox,
    SandboxCommandError,
    SandboxInfo,
    SandboxRecord,
    SandboxStatus,
    kill_group,
    sandbox_env,
)
from isollm.sandbox.workspace import OverlayWorkspace, prune_lowers

WORKSPACE = "/home/dev/project"
HOME = "/home/dev"
CPU_PERIOD_US = 100_000
KILL_TIMEOUT = 30.0
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}
_MEMORY = re.compile(r"^([1-9][0-9]*)([KMGkmg]?)$")

# sh -c WRAPPER PIDFILE ARGV...: becomes a session leader, notes its pid, then execs.
JOB_WRAPPER = 'echo $$ > "$0"; exec "$@"'
# kill(2) of the whole group at once: pkill -g read the group's members first and
# signalled them one by one, so a child forked meanwhile (a loop's next command, or a
# server the agent started) outlived the kill.
KILL_SCRIPT = 'kill -9 -"$(cat "$0")"; rm -f "$0"'


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


RUNNING, STOPPED, MISSING = "running", "stopped", "missing"
ROOT_PATH = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}


def container_name(project: str, name: str) -> str:
    return f"isollm-{project}-{name}"


class ContainerSandbox(Sandbox):
    """A worker in a container: the overlay workspace mounted in, commands run as dev.

    Backends say how to make, start, stop, remove and enter a container; the lifecycle
    around that (workspace, hub sharing, killable jobs) is the same for all of them.
    """

    owner_uid = DEV_UID

    def __init__(self, record: SandboxRecord) -> None:
        super().__init__(record)
        self.ws = OverlayWorkspace(record, uid=DEV_UID)

    # --- what a container backend implements ------------------------------------------
    @abstractmethod
    def state(self) -> str:
        """RUNNING, STOPPED or MISSING."""

    @abstractmethod
    def create_container(self) -> None:
        """Make the container (it may start it too)."""

    @abstractmethod
    def start_container(self) -> None: ...

    @abstractmethod
    def stop_container(self) -> None: ...

    @abstractmethod
    def remove_container(self) -> None: ...

    @abstractmethod
    def enter(
        self, inner: Sequence[str], env: Mapping[str, str], *, root: bool = False, tty: bool = False
    ) -> HostCommand:
        """The host command running ``inner`` in the container as dev (or root)."""

    # --- shared ---------------------------------------------------------------------
    @property
    def container(self) -> str:
        return container_name(self.spec.project, self.spec.name)

    @property
    def workspace(self) -> str:
        return WORKSPACE

    @property
    def host_workspace(self) -> Path:
        return self.ws.merged

    def _running(self) -> None:
        if self.state() == MISSING:
            self.create_container()
        if self.state() != RUNNING:
            self.start_container()

    def build(self) -> None:
        share_hub(Git(self.spec.hub))
        self.ws.build()
        self._running()
        self.record.log(f"built container {self.container} at {self.record.base_commit[:12]}")

    def rebuild(self) -> None:
        if self.state() != MISSING:
            self.remove_container()
        self.ws.discard()
        self.build()
        prune_lowers(self.spec.project)

    def ensure_workspace(self) -> None:
        self.ws.start()

    def start(self) -> None:
        self.ws.start()
        self._running()

    def stop(self) -> None:
        if self.state() == RUNNING:
            self.stop_container()
        self.ws.unmount()

    def destroy(self) -> None:
        if self.state() != MISSING:
            self.remove_container()
        if self.record.directory.exists():
            self.ws.discard()
            meta.remove_directory(self.record.directory)
        prune_lowers(self.spec.project)

    def status(self) -> SandboxStatus:
        if not self.record.directory.is_dir():
            return SandboxStatus.MISSING
        ws = self.ws.status()
        if ws is SandboxStatus.BROKEN:
            return ws
        running = ws is SandboxStatus.RUNNING and self.state() == RUNNING
        return SandboxStatus.RUNNING if running else SandboxStatus.STOPPED

    def command(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        interactive: bool = False,
    ) -> HostCommand:
        inner = ["env", "-C", cwd or self.workspace, *argv]
        full_env = sandbox_env(self.name, self.workspace, HOME, env)
        return self.enter(inner, full_env, tty=interactive)

    def spawn(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        stdin: int | IO[Any] | None = subprocess.DEVNULL,
        stdout: int | IO[Any] | None = None,
        stderr: int | IO[Any] | None = None,
    ) -> Job:
        job = wrap_job(list(argv), cwd or self.workspace)
        cmd = self.enter(job.argv, sandbox_env(self.name, self.workspace, HOME, env))
        popen = proc.spawn(
            cmd.argv,
            env=cmd.env,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            new_session=True,
            error=SandboxCommandError,
        )
        return Job(popen, self._killer(popen, job.pidfile))

    def _killer(self, popen: subprocess.Popen[bytes], pidfile: str) -> Callable[[], None]:
        local = kill_group(popen)

        def killer() -> None:
            cmd = self.enter(kill_argv(pidfile), ROOT_PATH, root=True)
            proc.run(cmd.argv, env=cmd.env, check=False, timeout=KILL_TIMEOUT)
            local()

        return killer

    def info(self) -> SandboxInfo:
        return self.describe(ident=self.container, home=HOME, address="127.0.0.1")
