"""Real containers with the classic LXC tools (the seed's model).

Each worker is a snapshot clone (overlay) of the base container, tens of milliseconds to
make, with its own config: the copy-on-write workspace mounted at /home/dev/project, the
hub at its host path, cgroup limits from ``sandbox.memory/pids/cpus``, and either no
network at all (``empty``: loopback only) or the host's (``none``: shared namespace).
Commands run as ``dev`` (uid 1000) through ``lxc-attach``. Reset throws the clone and
the workspace away and clones again. Containers are privileged (root inside is root
outside), so agents never get root: only ``dev`` runs their commands.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from isollm import proc
from isollm.git.facade import Git
from isollm.sandbox import containers, gitops, lxcbase, meta
from isollm.sandbox.base import (
    DEV_UID,
    HostCommand,
    Job,
    Sandbox,
    SandboxCommandError,
    SandboxInfo,
    SandboxRecord,
    SandboxStatus,
    kill_group,
)
from isollm.sandbox.workspace import OverlayWorkspace, prune_lowers

CGROUP_V2 = Path("/sys/fs/cgroup/cgroup.controllers")
START_TIMEOUT = 30.0


def mount_entry(source: Path, target: str, *, readonly: bool = False) -> str:
    """An fstab-style ``lxc.mount.entry`` (spaces escaped, target relative to the rootfs).

    Writable entries create their mount point; read-only ones go over existing paths.
    """
    options = "bind,ro" if readonly else "bind,create=dir"
    src = str(source).replace(" ", "\\040")
    dst = target.lstrip("/").replace(" ", "\\040")
    return f"lxc.mount.entry = {src} {dst} none {options} 0 0"


def owner_line(project: str, name: str) -> str:
    """The comment marking a container as a worker of ``project`` (found after a crash)."""
    return f"# isollm worker: project={project} name={name}"


def config_lines(
    owner: str,
    workspace: Path,
    hub: Path,
    network: str,
    limits: list[tuple[str, str]],
    *,
    v2: bool,
    protect: Sequence[Path] = (),
) -> list[str]:
    """The lines added to a worker clone's config."""
    lines = ["", owner]
    lines.append("lxc.net.0.type = " + ("none" if network == "host" else "empty"))
    lines.append(mount_entry(workspace, containers.WORKSPACE))
    lines.append(mount_entry(hub, str(hub)))
    lines += [mount_entry(path, str(path), readonly=True) for path in protect]
    if network == "host":
        lines.append(
            "lxc.mount.entry = /etc/resolv.conf etc/resolv.conf none bind,ro,create=file 0 0"
        )
    prefix = "lxc.cgroup2." if v2 else "lxc.cgroup."
    lines += [f"{prefix}{key} = {value}" for key, value in limits]
    return lines


def _without_network(config: str) -> str:
    return "\n".join(line for line in config.splitlines() if not line.startswith("lxc.net."))


class LxcSandbox(Sandbox):
    backend = "lxc"
    owner_uid = DEV_UID

    def __init__(self, record: SandboxRecord) -> None:
        super().__init__(record)
        self.ws = OverlayWorkspace(record, uid=DEV_UID)

    @classmethod
    def unavailable(cls) -> str | None:
        missing = [t for t in ("lxc-create", "lxc-copy", "lxc-attach") if not shutil.which(t)]
        if missing:
            return "the LXC tools are not installed (apt-get install lxc debootstrap)"
        if not shutil.which("debootstrap"):
            return "debootstrap is not installed (apt-get install debootstrap)"
        return None

    @classmethod
    def leftovers(cls, project: str) -> list[str]:
        found = []
        for config in sorted(lxcbase.lxc_path().glob("isollm-*/config")):
            for line in config.read_text(encoding="utf-8", errors="replace").splitlines():
                prefix = owner_line(project, "")
                if line.startswith(prefix) and line[len(prefix) :]:
                    found.append(line[len(prefix) :])
        return [n for n in found if not meta.sandbox_dir(project, n).exists()]

    @classmethod
    def remove_leftover(cls, project: str, name: str) -> bool:
        if name not in cls.leftovers(project):
            return False
        container = f"isollm-{project}-{name}"
        argv = ["lxc-destroy", "-P", str(lxcbase.lxc_path()), "-n", container, "-f"]
        proc.run(argv, error=SandboxCommandError)
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

    def _lxc(self, tool: str, *args: str, check: bool = True) -> proc.Result:
        argv = [tool, "-P", str(lxcbase.lxc_path()), "-n", self.container, *args]
        return proc.run(argv, check=check, timeout=START_TIMEOUT * 2, error=SandboxCommandError)

    def _state(self) -> str:
        if not (lxcbase.lxc_path() / self.container / "config").is_file():
            return "MISSING"
        return self._lxc("lxc-info", "-s", "-H", check=False).stdout.strip() or "UNKNOWN"

    def _clone(self) -> None:
        base = lxcbase.ensure_base(self.spec.image)
        path = str(lxcbase.lxc_path())
        argv = ["lxc-copy", "-P", path, "-n", base, "-N", self.container, "-s", "-B", "overlay"]
        proc.run(argv, error=SandboxCommandError)
        config = lxcbase.lxc_path() / self.container / "config"
        limits = containers.cgroup_settings(self.spec.limits, v2=CGROUP_V2.exists())
        lines = config_lines(
            owner_line(self.spec.project, self.spec.name),
            self.ws.merged,
            self.spec.hub,
            self.spec.network,
            limits,
            v2=CGROUP_V2.exists(),
            protect=gitops.protected_hub_paths(self.spec.hub),
        )
        text = _without_network(config.read_text(encoding="utf-8"))
        config.write_text(text + "\n".join(lines) + "\n", encoding="utf-8")

    def _start_container(self) -> None:
        if self._state() == "MISSING":
            self._clone()
        if self._state() != "RUNNING":
            self._lxc("lxc-start")
            self._lxc("lxc-wait", "-s", "RUNNING", "-t", str(int(START_TIMEOUT)))

    def build(self) -> None:
        containers.share_hub(Git(self.spec.hub))
        self.ws.build()
        self._start_container()
        self.record.log(f"built container {self.container} at {self.record.base_commit[:12]}")
        meta.save(self.record)

    def _remove_container(self) -> None:
        if self._state() != "MISSING":
            self._lxc("lxc-destroy", "-f")

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
        if self._state() == "RUNNING":
            self._lxc("lxc-stop", "-k")
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
        running = ws is SandboxStatus.RUNNING and self._state() == "RUNNING"
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
        return HostCommand(
            self._attach(inner), containers.container_env(self.name, dict(env or {}))
        )

    def _attach(self, inner: Sequence[str], uid: int = DEV_UID) -> tuple[str, ...]:
        head = ["lxc-attach", "-P", str(lxcbase.lxc_path()), "-n", self.container, "--keep-env"]
        return (*head, "-u", str(uid), "-g", str(uid), "--", *inner)

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
        popen = proc.spawn(
            self._attach(job.argv),
            env=containers.container_env(self.name, dict(env or {})),
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
            argv = self._attach(containers.kill_argv(pidfile), uid=0)
            proc.run(argv, check=False, timeout=START_TIMEOUT, env={"PATH": "/usr/bin:/bin"})
            local()

        return killer

    def info(self) -> SandboxInfo:
        return self.describe(ident=self.container, home=containers.HOME, address="127.0.0.1")
