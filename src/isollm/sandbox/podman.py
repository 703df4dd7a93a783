"""Podman containers (rootful, runc): the LXC base's Debian as an image, one container each.

There is no image registry here, so the image is imported once from the LXC base
container's root filesystem (``localhost/isollm-base:<release>``). Each worker is a
``podman run -d`` of it with ``tini`` as init, the copy-on-write workspace mounted at
/home/dev/project, the hub read-only at its host path, ``--network none|host`` and the limits from
config. crun fails on this kind of host (rlimits, hybrid cgroups): runc is used, with
explicit ulimits. Commands run as ``dev`` via ``podman exec``; environment values are
passed by name (``-e KEY``) so they never appear on a command line.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from isollm import fsutil, proc
from isollm.sandbox import containers, lxcbase, meta
from isollm.sandbox import limits as isollm_limits
from isollm.sandbox.base import DEV_UID, HostCommand, Limits, SandboxCommandError
from isollm.sandbox.containers import ContainerSandbox

RUNTIME = ("--runtime", "runc", "--ulimit", "nproc=32768:32768")
TIMEOUT = 120.0


def image_name(image: str) -> str:
    return f"localhost/isollm-base:{lxcbase.parse_image(image)}"


def _podman(*args: str, check: bool = True, timeout: float = TIMEOUT) -> proc.Result:
    return proc.run(["podman", *args], check=check, timeout=timeout, error=SandboxCommandError)


# Marks an image imported from a base with python3 in it (an older one is imported again).
PYTHON_LABEL = "isollm.python3"


def _current(name: str) -> bool:
    shown = f'{{{{index .Labels "{PYTHON_LABEL}"}}}}'
    result = _podman("image", "inspect", "-f", shown, name, check=False)
    return result.ok and result.stdout.strip() == "1"


def ensure_image(image: str) -> str:
    """The podman image for ``image``, imported from the LXC base rootfs once."""
    name = image_name(image)
    if _current(name):
        return name
    base = lxcbase.ensure_base(image)
    with fsutil.file_lock(lxcbase.lxc_path() / f".{base}.podman.lock"):
        python = lxcbase.has_python(base)  # else imported again once the base has it
        if not _current(name) and (python or not _podman("image", "exists", name, check=False).ok):
            _import(lxcbase.lxc_path() / base / "rootfs", name, python=python)
    return name


def _import(rootfs: Path, name: str, *, python: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="isollm-image-") as tmp:
        tarball = Path(tmp) / "rootfs.tar"
        proc.run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], error=SandboxCommandError)
        label = f"LABEL={PYTHON_LABEL}={int(python)}"
        _podman("import", "-q", "-c", label, str(tarball), name, timeout=TIMEOUT * 5)


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
    task_sockets: Path | None = None,
    expose: Sequence[Path] = (),
) -> list[str]:
    """``podman run`` for a worker container (pure); ``expose``: host paths shown
    read-only at the same path."""
    argv = ["run", "-d", "--name", container, *RUNTIME, "--network", network]
    argv += ["--hostname", container, "-v", f"{workspace}:{containers.WORKSPACE}"]
    argv += ["-v", f"{hub}:{hub}:ro"]  # never writable by an agent
    if task_sockets is not None:
        argv += ["-v", f"{task_sockets}:{containers.TASK_SOCKETS}:ro"]
    for path in expose:
        argv += ["--mount", f"type=bind,source={path},target={path},readonly"]
    if limits.memory:  # swap included: nothing beyond the memory limit
        memory = str(containers.memory_bytes(limits.memory))
        argv += ["--memory", memory, "--memory-swap", memory]
    if limits.pids:
        argv += ["--pids-limit", str(limits.pids)]
    if limits.cpus:
        argv += ["--cpus", str(limits.cpus)]
    for name, value in isollm_limits.container_rlimits(limits):
        argv += ["--ulimit", f"{name}={value}:{value}"]
    return [*argv, image, "/usr/bin/tini", "--", "/bin/sleep", "infinity"]


class PodmanSandbox(ContainerSandbox):
    backend = "podman"

    @classmethod
    def unavailable(cls) -> str | None:
        if not shutil.which("podman") or not shutil.which("runc"):
            return "podman and runc are not installed (apt-get install podman runc)"
        return lxcbase_unavailable()

    @classmethod
    def leftovers(cls, project: str) -> list[str]:
        if shutil.which("podman") is None:
            return []
        label = f'{{{{.Names}}}} {{{{index .Labels "{WORKER_LABEL}"}}}}'
        result = _podman(
            "ps",
            "-a",
            "--filter",
            f"label={PROJECT_LABEL}={project}",
            "--format",
            label,
            check=False,
        )
        pairs = [line.split() for line in result.stdout.splitlines()]
        # another isollm home's project of the same name is not ours to remove
        names = [
            p[1] for p in pairs if len(p) == 2 and p[0] == containers.container_name(project, p[1])
        ]
        return [n for n in names if not meta.sandbox_dir(project, n).exists()]

    @classmethod
    def remove_leftover(cls, project: str, name: str) -> bool:
        if name not in cls.leftovers(project):
            return False
        _podman("rm", "-f", "-t", "0", containers.container_name(project, name))
        return True

    def init_pid(self) -> int | None:
        result = _podman(
            "container", "inspect", "-f", "{{.State.Pid}}", self.container, check=False
        )
        shown = result.stdout.strip()
        return int(shown) if result.ok and shown.isdigit() and shown != "0" else None

    def state(self) -> str:
        result = _podman(
            "container", "inspect", "-f", "{{.State.Status}}", self.container, check=False
        )
        if not result.ok:
            return containers.MISSING
        return containers.RUNNING if result.stdout.strip() == "running" else containers.STOPPED

    def create_container(self) -> None:
        argv = run_argv(
            self.container,
            ensure_image(self.spec.image),
            workspace=self.ws.merged,
            hub=self.spec.hub,
            network="host" if self.spec.network == "host" else "none",
            limits=self.spec.limits,
            task_sockets=containers.task_sockets_dir(),
            expose=containers.exposed(self.spec.expose),
        )
        labels = [f"{PROJECT_LABEL}={self.spec.project}", f"{WORKER_LABEL}={self.spec.name}"]
        _podman(argv[0], *[a for label in labels for a in ("--label", label)], *argv[1:])

    def start_container(self) -> None:
        _podman("start", self.container)

    def stop_container(self) -> None:
        _podman("stop", "-t", "0", self.container)

    def remove_container(self) -> None:
        _podman("rm", "-f", "-t", "0", self.container)

    def enter(
        self, inner: Sequence[str], env: Mapping[str, str], *, root: bool = False, tty: bool = False
    ) -> HostCommand:
        uid = 0 if root else DEV_UID
        flags = ["-it"] if tty and sys.stdin.isatty() else ["-i"]  # -t without a terminal echoes
        names = [arg for key in env for arg in ("-e", key)]
        argv = ("podman", "exec", *flags, "-u", f"{uid}:{uid}", *names, self.container, *inner)
        return HostCommand(argv, proc.clean_env(env))


def lxcbase_unavailable() -> str | None:
    """The podman image is made from the LXC base, which needs the LXC tools."""
    if not shutil.which("lxc-create") or not shutil.which("debootstrap"):
        return "the base image is built with lxc-create and debootstrap (apt-get install lxc)"
    return None
