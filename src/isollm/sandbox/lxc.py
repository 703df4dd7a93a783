"""Real containers with the classic LXC tools (the seed's model).

Each worker is a snapshot clone (overlay) of the base container, tens of milliseconds to
make, with its own config: the copy-on-write workspace mounted at /home/dev/project, the
hub read-only at its host path, cgroup limits from ``sandbox.memory/pids/cpus``, and either no
network at all (``empty``: loopback only) or the host's (``none``: shared namespace).
Commands run as ``dev`` (uid 1000) through ``lxc-attach``. Reset throws the clone and
the workspace away and clones again. Containers are privileged (root inside is root
outside), so agents never get root: only ``dev`` runs their commands.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from isollm import proc
from isollm.sandbox import containers, limits, lxcbase, meta
from isollm.sandbox.base import DEV_UID, HostCommand, SandboxCommandError
from isollm.sandbox.containers import ContainerSandbox

CGROUP_V2 = Path("/sys/fs/cgroup/cgroup.controllers")
START_TIMEOUT = 30.0


def mount_entry(source: Path, target: str, *, readonly: bool = False, file: bool = False) -> str:
    """An fstab-style ``lxc.mount.entry`` (spaces escaped, target relative to the rootfs);
    the mount point (a directory, or a ``file``) is created if missing."""
    options = ("bind,ro" if readonly else "bind") + (",create=file" if file else ",create=dir")
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
    rlimits: Sequence[tuple[str, int]] = (),
    task_sockets: Path | None = None,
    expose: Sequence[Path] = (),
) -> list[str]:
    """The lines added to a worker clone's config (``expose``: host paths shown
    read-only at the same path)."""
    lines = ["", owner]
    lines.append("lxc.net.0.type = " + ("none" if network == "host" else "empty"))
    lines.append(mount_entry(workspace, containers.WORKSPACE))
    lines.append(mount_entry(hub, str(hub), readonly=True))  # never writable by an agent
    if task_sockets is not None:
        lines.append(mount_entry(task_sockets, containers.TASK_SOCKETS, readonly=True))
    for path in expose:
        lines.append(mount_entry(path, str(path), readonly=True, file=not path.is_dir()))
    if network == "host":
        lines.append(
            "lxc.mount.entry = /etc/resolv.conf etc/resolv.conf none bind,ro,create=file 0 0"
        )
    prefix = "lxc.cgroup2." if v2 else "lxc.cgroup."
    lines += [f"{prefix}{key} = {value}" for key, value in limits]
    lines += [f"lxc.prlimit.{name} = {value}" for name, value in rlimits]
    return lines


def _without_network(config: str) -> str:
    return "\n".join(line for line in config.splitlines() if not line.startswith("lxc.net."))


class LxcSandbox(ContainerSandbox):
    backend = "lxc"

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
        prefix = owner_line(project, "")
        found = []
        for config in sorted(lxcbase.lxc_path().glob("isollm-*/config")):
            for line in config.read_text(encoding="utf-8", errors="replace").splitlines():
                name = line[len(prefix) :] if line.startswith(prefix) else ""
                # another isollm home's project of the same name is not ours to remove
                if name and config.parent.name == containers.container_name(project, name):
                    found.append(name)
        return [n for n in found if not meta.sandbox_dir(project, n).exists()]

    @classmethod
    def remove_leftover(cls, project: str, name: str) -> bool:
        if name not in cls.leftovers(project):
            return False
        _lxc("lxc-destroy", containers.container_name(project, name), "-f")
        return True

    def init_pid(self) -> int | None:
        shown = _lxc("lxc-info", self.container, "-p", "-H", check=False).stdout.strip()
        return int(shown) if shown.isdigit() else None

    def state(self) -> str:
        if not (lxcbase.lxc_path() / self.container / "config").is_file():
            return containers.MISSING
        shown = _lxc("lxc-info", self.container, "-s", "-H", check=False).stdout.strip()
        return containers.RUNNING if shown == "RUNNING" else containers.STOPPED

    def create_container(self) -> None:
        base = lxcbase.ensure_base(self.spec.image)
        path = str(lxcbase.lxc_path())
        argv = ["lxc-copy", "-P", path, "-n", base, "-N", self.container, "-s", "-B", "overlay"]
        proc.run(argv, error=SandboxCommandError)
        config = lxcbase.lxc_path() / self.container / "config"
        v2 = CGROUP_V2.exists()
        lines = config_lines(
            owner_line(self.spec.project, self.spec.name),
            self.ws.merged,
            self.spec.hub,
            self.spec.network,
            limits.container_cgroup_settings(self.spec.limits, v2=v2),
            v2=v2,
            rlimits=limits.container_rlimits(self.spec.limits),
            task_sockets=containers.task_sockets_dir(),
            expose=containers.exposed(self.spec.expose),
        )
        text = _without_network(config.read_text(encoding="utf-8"))
        config.write_text(text + "\n".join(lines) + "\n", encoding="utf-8")

    def start_container(self) -> None:
        _lxc("lxc-start", self.container)
        _lxc("lxc-wait", self.container, "-s", "RUNNING", "-t", str(int(START_TIMEOUT)))

    def stop_container(self) -> None:
        _lxc("lxc-stop", self.container, "-k")

    def remove_container(self) -> None:
        _lxc("lxc-destroy", self.container, "-f")

    def enter(
        self, inner: Sequence[str], env: Mapping[str, str], *, root: bool = False, tty: bool = False
    ) -> HostCommand:
        uid = "0" if root else str(DEV_UID)
        head = ["lxc-attach", "-P", str(lxcbase.lxc_path()), "-n", self.container, "--keep-env"]
        return HostCommand((*head, "-u", uid, "-g", uid, "--", *inner), dict(env))


def _lxc(tool: str, container: str, *args: str, check: bool = True) -> proc.Result:
    argv = [tool, "-P", str(lxcbase.lxc_path()), "-n", container, *args]
    return proc.run(argv, check=check, timeout=START_TIMEOUT * 2, error=SandboxCommandError)
