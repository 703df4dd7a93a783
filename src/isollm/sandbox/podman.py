"""Podman containers (rootful, runc): the LXC base's Debian as an image, one container each.

There is no image registry here, so the image is imported once from the LXC base
container's root filesystem (``localhost/isollm-base:<release>``). Each worker is a
``podman run -d`` of it with ``tini`` as init, the copy-on-write workspace mounted at
/home/dev/project, the hub at its host path, ``--network none|host`` and the limits from
config. crun fails on this kind of host (rlimits, hybrid cgroups): runc is used, with
explicit ulimits. Commands run as ``dev`` via ``podman exec``; environment values are
passed by name (``-e KEY``) so they never appear on a command line.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from isollm import fsutil, proc
from isollm.git.facade import Git
from isollm.sandbox import containers, gitops, lxcbase, meta
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
)
from isollm.sandbox.workspace import OverlayWorkspace, prune_lowers

RUNTIME = ("--runtime", "runc", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768")
TIMEOUT = 120.0


def image_name(image: str) -> str:
    return f"localhost/isollm-base:{lxcbase.parse_image(image)}"


def _podman(*args: str, check: bool = True, timeout: float = TIMEOUT) -> proc.Result:
    return proc.run(["podman", *args], check=check, timeout=timeout, error=SandboxCommandError)


def ensure_image(image: str) -> str:
    """The podman image for ``image``, imported from the LXC base rootfs once."""
    name = image_name(image)
    if _podman("image", "exists", name, check=False).ok:
        return name
    base = lxcbase.ensure_base(image)
    with fsutil.file_lock(lxcbase.lxc_path() / f".{base}.podman.lock"):
        if not _podman("image", "exists", name, check=False).ok:
            _import(lxcbase.lxc_path() / base / "rootfs", name)
    return name


def _import(rootfs: Path, name: str) -> None:
    with tempfile.TemporaryDirectory(prefix="isollm-image-") as tmp:
        tarball = Path(tmp) / "rootfs.tar"
        proc.run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], error=SandboxCommandError)
        _podman("import", "-q", str(tarball), name, timeout=TIMEOUT * 5)


PROJECT_LABEL = "isollm.project"
WORKER_LABEL = "isollm.worker"


def run_argv(
    container: str,
    image: str,
    *,
    workspace: Path,
    hub: Path,
    network: str,
    limits: Limits,
    protect: Sequence[Path] = (),
) -> list[str]:
    """``podman run`` for a worker container (pure)."""
    argv = ["run", "-d", "--name", container, *RUNTIME, "--network", network]
    argv += ["--hostname", container, "-v", f"{workspace}:{containers.WORKSPACE}"]
    argv += ["-v", f"{hub}:{hub}"]
    for path in protect:
        argv += ["-v", f"{path}:{path}:ro"]
    if limits.memory:
        argv += ["--memory", str(containers.memory_bytes(limits.memory))]
    if limits.pids:
        argv += ["--pids-limit", str(limits.pids)]
    if limits.cpus:
        argv += ["--cpus", str(limits.cpus)]
    return [*argv, image, "/usr/bin/tini", "--", "/bin/sleep", "infinity"]


class PodmanSandbox(Sandbox):
    backend = "podman"
    owner_uid = DEV_UID

    def __init__(self, record: SandboxRecord) -> None:
        super().__init__(record)
        self.ws = OverlayWorkspace(record, uid=DEV_UID)

    @classmethod
    def unavailable(cls) -> str | None:
        if not shutil.which("podman") or not shutil.which("runc"):
            return "podman and runc are not installed (apt-get install podman runc)"
        return lxcbase_unavailable()

    @classmethod
    def leftovers(cls, project: str) -> list[str]:
        if shutil.which("podman") is None:
            return []
        result = _podman(
            "ps",
            "-a",
            "--filter",
            f"label={PROJECT_LABEL}={project}",
            "--format",
            f'{{{{index .Labels "{WORKER_LABEL}"}}}}',
            check=False,
        )
        names = [n for n in result.stdout.split() if n]
        return [n for n in names if not meta.sandbox_dir(project, n).exists()]

    @classmethod
    def remove_leftover(cls, project: str, name: str) -> bool:
        if name not in cls.leftovers(project):
            return False
        _podman("rm", "-f", "-t", "0", f"isollm-{project}-{name}")
        return True

    @property
    def container(self) -> str:
        return f"isollm-{self.spec.project}-{self.spec.name}"

    @property
    def workspace(self) -> str:
        return containers.WORKSPACE

    @property
    def host_workspace(self) -> Path:
        return self.ws.merged

    def _state(self) -> str:
        result = _podman(
            "container", "inspect", "-f", "{{.State.Status}}", self.container, check=False
        )
        return result.stdout.strip() if result.ok else "missing"

    def _run(self) -> None:
        image = ensure_image(self.spec.image)
        network = "host" if self.spec.network == "host" else "none"
        argv = run_argv(
            self.container,
            image,
            workspace=self.ws.merged,
            hub=self.spec.hub,
            network=network,
            limits=self.spec.limits,
            protect=gitops.protected_hub_paths(self.spec.hub),
        )
        labels = [f"{PROJECT_LABEL}={self.spec.project}", f"{WORKER_LABEL}={self.spec.name}"]
        _podman(argv[0], *[a for label in labels for a in ("--label", label)], *argv[1:])

    def _start_container(self) -> None:
        state = self._state()
        if state == "missing":
            self._run()
        elif state != "running":
            _podman("start", self.container)

    def build(self) -> None:
        containers.share_hub(Git(self.spec.hub))
        self.ws.build()
        self._start_container()
        self.record.log(f"built container {self.container} at {self.record.base_commit[:12]}")
        meta.save(self.record)

    def _remove_container(self) -> None:
        if self._state() != "missing":
            _podman("rm", "-f", "-t", "0", self.container)

    def rebuild(self) -> None:
        self._remove_container()
        self.ws.discard()
        self.build()
        prune_lowers(self.spec.project)

    def ensure_workspace(self) -> None:
        self.ws.start()

    def start(self) -> None:
        self.ws.start()
        self._start_container()

    def stop(self) -> None:
        if self._state() == "running":
            _podman("stop", "-t", "0", self.container)
        self.ws.unmount()

    def destroy(self) -> None:
        self._remove_container()
        if self.record.directory.exists():
            self.ws.discard()
            shutil.rmtree(self.record.directory, ignore_errors=True)
        prune_lowers(self.spec.project)

    def status(self) -> SandboxStatus:
        if not self.record.directory.is_dir():
            return SandboxStatus.MISSING
        ws = self.ws.status()
        if ws is SandboxStatus.BROKEN:
            return ws
        running = ws is SandboxStatus.RUNNING and self._state() == "running"
        return SandboxStatus.RUNNING if running else SandboxStatus.STOPPED

    def _exec_argv(
        self, inner: Sequence[str], env: Mapping[str, str], *, uid: int, tty: bool
    ) -> tuple[str, ...]:
        flags = ["-it"] if tty else ["-i"]
        names = [arg for key in env for arg in ("-e", key)]
        return ("podman", "exec", *flags, "-u", f"{uid}:{uid}", *names, self.container, *inner)

    def command(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        interactive: bool = False,
    ) -> HostCommand:
        inner_env = containers.container_env(self.name, dict(env or {}))
        inner = ["env", "-C", cwd or self.workspace, *argv]
        tty = interactive and sys.stdin.isatty()  # -t without a terminal echoes the input
        full = self._exec_argv(inner, inner_env, uid=DEV_UID, tty=tty)
        return HostCommand(full, proc.clean_env(inner_env))

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
        job = containers.wrap_job(list(argv), cwd or self.workspace)
        inner_env = containers.container_env(self.name, dict(env or {}))
        popen = proc.spawn(
            self._exec_argv(job.argv, inner_env, uid=DEV_UID, tty=False),
            env=proc.clean_env(inner_env),
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
            argv = self._exec_argv(containers.kill_argv(pidfile), {}, uid=0, tty=False)
            proc.run(argv, check=False, timeout=TIMEOUT)
            local()

        return killer

    def info(self) -> SandboxInfo:
        return self.describe(ident=self.container, home=containers.HOME, address="127.0.0.1")


def lxcbase_unavailable() -> str | None:
    """The podman image is made from the LXC base, which needs the LXC tools."""
    if not shutil.which("lxc-create") or not shutil.which("debootstrap"):
        return "the base image is built with lxc-create and debootstrap (apt-get install lxc)"
    return None
