"""What the container backends (lxc, podman) share: the job wrapper, limits, the hub.

Killing ``lxc-attach`` or ``podman exec`` on the host leaves the command running in the
container, so commands start through a tiny wrapper that records their process group in
the container's /tmp; ``kill`` then signals that whole group from inside.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from isollm import fsutil, proc
from isollm.errors import SandboxError
from isollm.git.hub import HubTamperedError, hub_git
from isollm.sandbox import jobs, limits
from isollm.sandbox.base import (
    DEV_UID,
    TASK_SOCKET,
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
KILL_TIMEOUT = 30.0

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


def _pid_namespace(pid: int | str) -> str:
    return os.readlink(f"/proc/{pid}/ns/pid")


def _group(pid: str) -> tuple[int, int] | None:
    """The process group of host process ``pid``: (host number, innermost number)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
            if line.startswith("NSpgid:"):
                numbers = line.split()[1:]
                return int(numbers[0]), int(numbers[-1])
    return None


def kill_from_host(init_pid: int | None, pidfile: str) -> bool:
    """SIGKILL a wrapped job's process group from the host, without entering the container.

    The group's id inside is in ``pidfile`` (read through the container init's root);
    processes of the container's pid namespace in that group give its host number (even
    after its leader exited). False when that cannot be done (no init, not root, gone).
    """
    if not init_pid:
        return False
    try:
        text = Path(f"/proc/{init_pid}/root", pidfile.lstrip("/")).read_text(encoding="ascii")
        inner, namespace = int(text.strip()), _pid_namespace(init_pid)
    except (OSError, ValueError):
        return False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            same = _pid_namespace(entry.name) == namespace
        except OSError:
            continue
        group = _group(entry.name) if same else None
        if group and group[1] == inner:
            with contextlib.suppress(OSError):
                os.killpg(group[0], signal.SIGKILL)
                Path(f"/proc/{init_pid}/root", pidfile.lstrip("/")).unlink(missing_ok=True)
                return True
    return False


def memory_bytes(text: str) -> int:
    """``512M`` / ``2G`` / ``1048576`` as bytes."""
    return limits.size_bytes(text)


def cgroup_settings(limits_: Limits, *, v2: bool) -> list[tuple[str, str]]:
    """(controller file, value) pairs applying ``limits_`` on cgroup v1 or v2."""
    return limits.cgroup_settings(limits_, v2=v2)


SHARED_MODE = "0644"


def share_hub(path: Path) -> None:
    """Let the container's ``dev`` user read the hub, and nobody but its owner write it.

    It is mounted read-only in the container anyway; work leaves only through the
    host's intake. Files git creates from then on are world-readable, never writable by
    others, and what exists is set the same way (which also closes hubs shared
    writable by earlier versions).
    """
    try:
        hub = hub_git(path)
    except HubTamperedError:
        _readable_only(path)  # shared writable by an earlier version: close it first
        hub = hub_git(path)  # anything else wrong is still refused
    current = hub.run("config", "--get", "core.sharedRepository", check=False).stdout.strip()
    if current == SHARED_MODE:
        return
    hub.run("config", "core.sharedRepository", SHARED_MODE)
    _readable_only(path)


def _readable_only(root: Path) -> None:
    for dirpath, _dirs, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)  # noqa: S103 - readable by the container's dev user, on purpose
        for name in filenames:
            path = Path(dirpath, name)
            if not path.is_symlink():
                path.chmod((path.stat().st_mode | 0o444) & ~0o022)


# The host's directory of task server sockets (``$ISOLLM_HOME/run``, where
# ``isollm.tasks.server.options.socket_path`` puts them) is mounted read-only into every
# container at TASK_SOCKETS: a container's mounts are fixed when it is made, and a
# socket bound file by file would go stale when its server restarts.
TASK_SOCKETS = "/run/airyra"


def task_sockets_dir() -> Path:
    """``$ISOLLM_HOME/run``, searchable (never listable) by the container's dev user:
    it reaches a socket whose name it is given (the token decides what it may do)."""
    path = fsutil.ensure_dir(fsutil.isollm_home() / "run")
    os.chmod(path, 0o711)  # noqa: S103 - search only, for the container's dev user
    return path


def task_socket_inside(host_socket: str | Path) -> str:
    """Where a container sees the task server socket ``host_socket``."""
    return f"{TASK_SOCKETS}/{Path(host_socket).name}"


def socket_seen_by(sb: Sandbox, host_socket: str | Path | None) -> str:
    """Where ``sb`` sees the task server's socket: a container in the sockets folder
    every container mounts, any other sandbox at :data:`TASK_SOCKET` (bound alone)."""
    if isinstance(sb, ContainerSandbox) and host_socket:
        return task_socket_inside(host_socket)
    return TASK_SOCKET


# Root's home: every container has one of its own, which only root may enter, so a
# path bound under it is out of the dev user's reach.
ROOT_HOME = Path("/root")


def exposed(paths: Sequence[str]) -> list[Path]:
    """The paths of ``sandbox.expose`` (and an agent's install) a container binds
    read-only at the same path when it is made: existing absolute paths other than
    ``/``, never a home directory or isollm's own home (nor anything holding them).

    A path under ``/root`` is refused (:class:`SandboxError`): bound there, the agent
    could not reach it, and the agent would fail on every task instead.
    """
    private = fsutil.isollm_home().resolve()
    homes = [Path.home().resolve(), Path("/home"), ROOT_HOME, private]
    shown: list[Path] = []
    for text in dict.fromkeys(paths):
        path = Path(text)
        if not path.is_absolute() or not path.exists() or any(c in text for c in ",:\n"):
            continue  # mount options could not carry it
        real = path.resolve()
        if real == Path("/") or any(real == h or h.is_relative_to(real) for h in homes):
            continue
        if real.is_relative_to(private):
            continue
        if path.is_relative_to(ROOT_HOME):
            raise SandboxError(
                f"{path} (in sandbox.expose, or what an agent's install needs: a "
                "virtualenv's Python) is in root's home, /root, which a container's "
                "user cannot enter",
                hint=ROOT_HOME_HINT,
            )
        shown.append(path)
    return shown


ROOT_HOME_HINT = (
    "install it outside /root (an agent in a virtualenv: make it with a Python outside "
    "/root, e.g. `/usr/bin/python3 -m venv /opt/aider`, then `/opt/aider/bin/pip install "
    "aider-chat` and agent.binary: /opt/aider/bin/aider), or use sandbox.backend: overlay"
)


RUNNING, STOPPED, MISSING = "running", "stopped", "missing"
ROOT_PATH = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}


def container_name(project: str, name: str) -> str:
    """Machine-wide: tagged when ``$ISOLLM_HOME`` is not the default, so two homes'
    projects of the same name never share a container (:func:`isollm.fsutil.home_tag`)."""
    return f"isollm-{project}{fsutil.home_tag()}-{name}"


class ContainerSandbox(Sandbox):
    """A worker in a container: the overlay workspace mounted in, commands run as dev.

    Backends say how to make, start, stop, remove and enter a container; the lifecycle
    around that (workspace, read-only hub sharing, killable jobs) is the same for all of them.
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
        exposed(self.spec.expose)  # what cannot be shown is refused before anything is made
        share_hub(self.spec.hub)
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
        self.ws.remove()

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

    def limited(self, cmd: HostCommand) -> HostCommand:
        """As is: the container applies the limits to everything that enters it."""
        return cmd

    def limit_notes(self) -> list[str]:
        return []

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
        popen = jobs.start(cmd, SandboxCommandError, stdin=stdin, stdout=stdout, stderr=stderr)
        return Job(popen, self._killer(popen, job.pidfile))

    def init_pid(self) -> int | None:
        """The host pid of the container's init, or None (stopped, unknown)."""
        return None

    def _killer(self, popen: subprocess.Popen[bytes], pidfile: str) -> Callable[[], None]:
        local = kill_group(popen)

        def killer() -> None:
            # From the host first: entering the container needs a new process in it,
            # which a fork bomb at its pids limit refuses (the job would never die).
            if not kill_from_host(self.init_pid(), pidfile):
                cmd = self.enter(kill_argv(pidfile), ROOT_PATH, root=True)
                proc.run(cmd.argv, env=cmd.env, check=False, timeout=KILL_TIMEOUT)
            local()

        return killer

    def info(self) -> SandboxInfo:
        return self.describe(ident=self.container, home=HOME, address="127.0.0.1")
