"""The one interface every sandbox backend implements, and the values it trades in.

A sandbox is a workspace (a git checkout of the project's hub, on a work branch) plus the
isolation commands run in. Backends differ only in how they build and enter it; the
lifecycle around them (prepare after create and reset, refuse to lose work, run commands
with a timeout and kill everything they started) is written once here.

    sb = registry.create(spec, "overlay")  # workspace ready on spec.work_branch
    sb.exec(["make", "test"], timeout=60)  # -> ExecResult
    job = sb.spawn(["claude", "-p", ...], stdout=log)   # long-running; job.kill()
    sb.reset(work_branch="isollm/ar-12")   # back to a clean checkout of the base
    sb.destroy()
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shlex
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, ClassVar, Literal

from isollm import redaction
from isollm.errors import CommandError, IsollmError, SandboxError
from isollm.sandbox import gitops, jobs, limits, prepare, renew
from isollm.sandbox.gitops import WorkState

# The machinery of running commands lives in :mod:`~.jobs`; its names stay importable here.
DRAIN_SECONDS = jobs.DRAIN_SECONDS
MAX_OUTPUT = jobs.MAX_OUTPUT
ExecResult = jobs.ExecResult
HostCommand = jobs.HostCommand
Job = jobs.Job
kill_group = jobs.kill_group

log = logging.getLogger(__name__)

Network = Literal["host", "none"]
DEV_USER = "dev"
DEV_UID = 1000
WORK_STATE_TIMEOUT = 120.0
TASK_SOCKET = "/run/airyra/airyra.sock"  # where a sandbox sees the task server's socket
SANDBOX_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def sandbox_env(
    name: str, workspace: str, home: str, extra: Mapping[str, str] | None
) -> dict[str, str]:
    """The environment commands see inside: nothing of the host's unless passed in."""
    env = {
        "PATH": SANDBOX_PATH,
        "HOME": home,
        "USER": DEV_USER,
        "LOGNAME": DEV_USER,
        "SHELL": "/bin/bash",
        "LANG": "C.UTF-8",
        "ISOLLM_WORKER": name,
        "ISOLLM_WORKSPACE": workspace,
    }
    env.update(extra or {})
    return env


class SandboxCommandError(SandboxError, CommandError):
    """A command a sandbox needed failed."""


class SandboxNotFoundError(SandboxError):
    """No sandbox with that name exists."""


class SandboxExistsError(SandboxError):
    """A sandbox with that name already exists."""


class UnsavedWorkError(SandboxError):
    """The sandbox holds work that is not on the hub."""


class SandboxStatus(StrEnum):
    RUNNING = "running"  # ready: commands can run now
    STOPPED = "stopped"  # exists, needs start() (e.g. after a reboot)
    MISSING = "missing"  # recorded, but the backend has nothing
    BROKEN = "broken"  # parts exist but it cannot be used as is


# The defaults of ``sandbox.memory``, ``pids`` and ``disk`` (isollm.config.model says why).
DEFAULT_MEMORY = "4G"
DEFAULT_PIDS = 1024
DEFAULT_DISK = "10G"


@dataclass(frozen=True)
class Limits:
    """Resource limits per sandbox; zero or empty means none.

    Host-side backends apply them through :mod:`isollm.sandbox.limits` (a cgroup per
    sandbox and rlimits), container backends through their container's own settings.
    ``disk`` caps the size of any one file (RLIMIT_FSIZE) and the workspace.
    """

    memory: str = DEFAULT_MEMORY
    pids: int = DEFAULT_PIDS
    cpus: float = 0.0
    disk: str = DEFAULT_DISK


@dataclass(frozen=True)
class SandboxSpec:
    """Everything needed to build one sandbox; persisted so it can be rebuilt on reset."""

    name: str
    project: str
    hub: Path
    base_branch: str = "main"
    work_branch: str = ""  # empty: the base branch itself
    network: Network = "host"
    limits: Limits = field(default_factory=Limits)
    setup: tuple[str, ...] = ()
    setup_timeout: float = 600.0
    host_root: Path | None = None  # where .worktreeinclude files are copied from
    include: tuple[str, ...] = ()  # paths relative to host_root
    image: str = "debian:bookworm"
    # Host paths shown read-only inside at the same path even where the sandbox hides
    # their parent: tools installed under a home directory (an agent CLI, its runtime).
    expose: tuple[str, ...] = ()
    # Build at this commit rather than at the base branch's head on the hub: a run pins
    # its sandboxes to the base it started from.
    base_commit: str = ""
    # The host path of the task server's Unix socket, shown inside at TASK_SOCKET so
    # agents reach the queue even with ``network: none``; empty: not bound.
    task_socket: str = ""

    @property
    def branch(self) -> str:
        return self.work_branch or self.base_branch


@dataclass(frozen=True)
class SandboxInfo:
    name: str
    backend: str
    project: str
    status: SandboxStatus
    ident: str  # container name or workspace path: what the backend calls it
    workspace: str  # path of the checkout as commands inside see it
    host_workspace: Path | None  # the same checkout seen from the host
    home: str
    address: str  # how the sandbox reaches the host ("127.0.0.1") or "" without network
    network: Network
    branch: str
    base_commit: str
    log_path: Path
    isolated: bool
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "backend": self.backend,
            "project": self.project,
            "status": str(self.status),
            "id": self.ident,
            "workspace": self.workspace,
            "host_workspace": str(self.host_workspace) if self.host_workspace else None,
            "home": self.home,
            "address": self.address,
            "network": self.network,
            "branch": self.branch,
            "base_commit": self.base_commit,
            "log": str(self.log_path),
            "isolated": self.isolated,
            "notes": list(self.notes),
        }


@dataclass
class SandboxRecord:
    """A sandbox as persisted (``sandbox.json`` in its directory; see :mod:`~.meta`)."""

    backend: str
    spec: SandboxSpec
    directory: Path
    base_commit: str = ""
    mode: str = ""  # how the workspace is built: overlay, clone, worktree
    notes: list[str] = field(default_factory=list)
    created_at: str = ""

    @property
    def log_path(self) -> Path:
        return self.directory / "sandbox.log"

    def log(self, message: str) -> None:
        """Add a timestamped entry to the sandbox's log (``isollm worker logs``)."""
        if not self.directory.is_dir():
            return
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        with self.log_path.open("a", encoding="utf-8") as f:
            f.write(f"[{stamp}] {redaction.redact(message.rstrip())}\n")


class Sandbox(ABC):
    """One sandbox of one backend. Construct through :mod:`isollm.sandbox.registry`."""

    backend: ClassVar[str]
    isolated: ClassVar[bool] = True
    owner_uid: ClassVar[int] = 0  # host uid that owns files in the workspace
    shares_branches: ClassVar[bool] = False  # workspaces share refs: stay detached on base

    def __init__(self, record: SandboxRecord) -> None:
        self.record = record

    @property
    def spec(self) -> SandboxSpec:
        return self.record.spec

    @property
    def name(self) -> str:
        return self.spec.name

    @classmethod
    def unavailable(cls) -> str | None:
        """Why this backend cannot run on this machine, or None when it can."""
        return None

    @classmethod
    def leftovers(cls, project: str) -> list[str]:
        """Names of this backend's resources for ``project`` that have no sandbox record
        (a crash between creating a container and recording it leaves one)."""
        return []

    @classmethod
    def remove_leftover(cls, project: str, name: str) -> bool:
        """Remove what :meth:`leftovers` reported for ``name``; True if there was something."""
        return False

    def checkout_lock(self) -> contextlib.AbstractContextManager[None]:
        """Held while the workspace goes on its branch (backends whose workspaces share
        one repository serialise the config and ref writes that involves)."""
        return contextlib.nullcontext()

    def ensure_workspace(self) -> None:  # noqa: B027 - optional hook, nothing by default
        """Make the workspace readable from the host (mount it again after a reboot)."""

    # --- what a backend implements -------------------------------------------------
    @abstractmethod
    def build(self) -> None:
        """Build the workspace and the isolation around it (not yet on its branch)."""

    @abstractmethod
    def rebuild(self) -> None:
        """Throw the workspace away and build it again from the current base."""

    @abstractmethod
    def start(self) -> None:
        """Make an existing sandbox usable again (after a stop or a reboot)."""

    @abstractmethod
    def stop(self) -> None:
        """Stop whatever runs; the workspace and its work are kept."""

    @abstractmethod
    def destroy(self) -> None:
        """Remove everything, work included. Idempotent."""

    @abstractmethod
    def status(self) -> SandboxStatus: ...

    @abstractmethod
    def command(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        interactive: bool = False,
    ) -> HostCommand:
        """The host command that runs ``argv`` inside the sandbox."""

    @abstractmethod
    def info(self) -> SandboxInfo: ...

    @property
    @abstractmethod
    def workspace(self) -> str:
        """The checkout's path as seen inside."""

    @property
    @abstractmethod
    def host_workspace(self) -> Path | None:
        """The checkout's path on the host (for copying files in and checking work)."""

    # --- shared behaviour ----------------------------------------------------------
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
        """Start ``argv`` inside; stream its output where asked; ``Job.kill`` stops it all.

        It runs in a new session without a controlling terminal (no keystrokes can be
        pushed into the user's terminal) and under the sandbox's limits."""
        cmd = self.limited(self.command(argv, env=env, cwd=cwd))
        popen = jobs.start(cmd, SandboxCommandError, stdin=stdin, stdout=stdout, stderr=stderr)
        return Job(popen, kill_group(popen))

    def limited(self, cmd: HostCommand) -> HostCommand:
        """``cmd`` started under the sandbox's limits: joined to its cgroups, with rlimits.
        Container backends override this: their container applies the limits."""
        argv = limits.wrap(cmd.argv, self.spec.limits, self.record.directory)
        return dataclasses.replace(cmd, argv=argv)

    def terminal(self, argv: Sequence[str], *, tty: bool = True) -> HostCommand:
        """The host command running ``argv`` for a user, under the limits, with a
        terminal (``tty``) or not. Start it with :func:`isollm.sandbox.ptyrelay.run`
        and the same ``tty``: the command must get a terminal of its own, never the
        user's."""
        return self.limited(self.command(argv, interactive=tty))

    def exec(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        input: str | bytes | None = None,
        timeout: float | None = None,
        max_output: int = MAX_OUTPUT,
    ) -> ExecResult:
        """Run ``argv`` inside and capture its output; on timeout everything is killed.

        The command is untrusted: at most ``max_output`` bytes of each stream are kept
        (the head and the tail; ``ExecResult.truncated`` says when some were left out).
        Output that must leave whole is streamed from :meth:`spawn` by its caller.
        """
        log.debug("exec in %s: %s", self.name, shlex.join(argv))
        data = input.encode() if isinstance(input, str) else input
        started = time.monotonic()
        job = self.spawn(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        return jobs.finish(job, argv, data, timeout, max_output, started)

    def describe(self, *, ident: str, home: str, address: str) -> SandboxInfo:
        """The SandboxInfo of this sandbox, given what only the backend knows."""
        spec = self.spec
        return SandboxInfo(
            name=spec.name,
            backend=self.backend,
            project=spec.project,
            status=self.status(),
            ident=ident,
            workspace=self.workspace,
            host_workspace=self.host_workspace,
            home=home,
            address=address if spec.network == "host" or not self.isolated else "",
            network=spec.network,
            branch=spec.branch,
            base_commit=self.record.base_commit,
            log_path=self.record.log_path,
            isolated=self.isolated,
            notes=(*self.record.notes, *self.limit_notes()),
        )

    def limit_notes(self) -> list[str]:
        """What ``isollm worker add`` warns about the limits (weaker without cgroups)."""
        return limits.gaps(self.spec.limits)

    def shell(self, *, tty: bool = True) -> HostCommand:
        """The host command for a login shell in the workspace (see :meth:`terminal`)."""
        return self.terminal(["bash", "-l"], tty=tty)

    def create(self) -> SandboxInfo:
        """Build, check out the work branch, copy include files, run setup."""
        self.build()
        prepare.prepare(self)
        return self.info()

    def reset(self, work_branch: str | None = None) -> SandboxInfo:
        """Back to a clean checkout of the base (on ``work_branch`` if given). Loses work.
        (:func:`isollm.sandbox.renew.reset`: the one renewal every caller shares.)"""
        return renew.reset(self, work_branch)

    def refresh(self) -> None:
        """A clean workspace at the hub's base commit, on no branch yet: what a worker
        does between two tasks, before it knows the next one (see :meth:`check_out`). Loses
        work. (:func:`isollm.sandbox.renew.clean`.)"""
        renew.clean(self)

    def check_out(self, work_branch: str, then: gitops.AfterCheckout | None = None) -> SandboxInfo:
        """After :meth:`refresh`: check out ``work_branch`` (and run ``then`` in the same
        command), copy include files, run setup."""
        self.record.spec = dataclasses.replace(self.spec, work_branch=work_branch)
        prepare.prepare(self, then)
        return self.info()

    def work_state(self) -> WorkState:
        """Uncommitted changes and commits the hub lacks; never raises.

        Checked inside the sandbox: the workspace's git config belongs to the agent.
        """
        try:
            self.ensure_workspace()
            if self.status() is not SandboxStatus.RUNNING:
                self.start()
            argv = gitops.work_state_argv(self.spec.hub, only_head=self.shares_branches)
            result = self.exec(argv, timeout=WORK_STATE_TIMEOUT)
        except IsollmError as exc:
            return WorkState(unknown=str(exc).splitlines()[0])
        if not result.ok:
            return WorkState(unknown=(result.stderr.strip() or result.describe()).splitlines()[0])
        return gitops.parse_work_state(result.stdout)
