"""The default backend: a copy-on-write workspace entered through bubblewrap.

Building one mounts an overlay (milliseconds); every command then runs in a fresh
bubblewrap sandbox (a few milliseconds) that sees the host read-only, only its own
workspace writable, a private /tmp and HOME, no capabilities, and the host network only
with ``network: host``. Nothing runs between commands, so "stop" only unmounts; the work
stays in the upper directory and comes back with "start".

Commands run as the project's unprivileged host user (:mod:`~.identity`), who owns the
workspace files; run as a normal user, that user, and each command mounts the overlay
in its own namespaces (see :mod:`~.workspace` and :mod:`~.enter`).

Disk: as root, the upper directory, the home and (with a bubblewrap too old for a sized
tmpfs) /tmp live in the sandbox's own filesystem of ``sandbox.disk`` bytes
(:mod:`~.diskimage`); /tmp is otherwise a tmpfs of at most ``disk`` and ``memory``.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

from isollm import fsutil
from isollm.git.facade import Git
from isollm.sandbox import identity, limits, meta
from isollm.sandbox.base import (
    DEV_UID,
    DEV_USER,
    HostCommand,
    Sandbox,
    SandboxInfo,
    SandboxRecord,
    SandboxStatus,
    sandbox_env,
)
from isollm.sandbox.bwrap import (
    ALWAYS_HIDDEN,
    SANDBOX_HOME,
    BwrapLayout,
    EntryPlan,
    bwrap_plan,
    group_entries,
    passwd_entries,
    tmpfs_size_supported,
)
from isollm.sandbox.workspace import NS_OVERLAY, OverlayWorkspace, prune_lowers

# git's system config inside: the host's, and the hub (owned by the host's user, not the
# sandbox's) is safe to read. Environment config does not reach git's upload-pack.
SYSTEM_GITCONFIG = "/run/isollm/gitconfig"
GITCONFIG = "[include]\n\tpath = /etc/gitconfig\n[safe]\n\tdirectory = *\n"


def _shared(hub: Path, gid: int) -> bool:
    top = hub.stat()
    return top.st_gid == gid and bool(top.st_mode & stat.S_ISGID and top.st_mode & stat.S_IXOTH)


def _share_with_group(path: Path, gid: int) -> None:
    """``path`` group-owned by ``gid`` and group-readable (set-gid if a directory)."""
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode):
        return
    if st.st_gid != gid:
        os.chown(path, -1, gid, follow_symlinks=False)
    mode = stat.S_IMODE(st.st_mode) | stat.S_IRGRP
    if stat.S_ISDIR(st.st_mode):
        mode |= stat.S_IXGRP | stat.S_ISGID
    elif st.st_mode & stat.S_IXUSR:
        mode |= stat.S_IXGRP
    if mode != stat.S_IMODE(st.st_mode):
        os.chmod(path, mode)


class OverlaySandbox(Sandbox):
    backend = "overlay"

    def __init__(self, record: SandboxRecord) -> None:
        super().__init__(record)
        self.user = identity.for_project(record.spec.project)
        uid = self.user.uid if self.user.drop else 0
        self.ws = OverlayWorkspace(record, uid, in_namespace=os.geteuid() != 0)

    @property
    def home(self) -> Path:
        """The persistent home, next to the upper directory (in the disk image if any)."""
        return self.ws.data / "home"

    @property
    def owner_uid(self) -> int:  # type: ignore[override] # per project, not per class
        return self.user.uid if self.user.drop else 0

    @classmethod
    def unavailable(cls) -> str | None:
        if shutil.which("bwrap") is None:
            return "bubblewrap is not installed (apt-get install bubblewrap)"
        return None

    @property
    def workspace(self) -> str:
        return str(self.ws.merged)

    @property
    def host_workspace(self) -> Path | None:
        """None when the overlay exists only inside each command's namespaces."""
        return None if self.record.mode == NS_OVERLAY else self.ws.merged

    def build(self) -> None:
        self._share_hub()
        self.ws.build()
        self._write_identity_files()
        self._make_home()
        self.record.log(f"built ({self.record.mode}) at {self.record.base_commit[:12]}")

    def rebuild(self) -> None:
        before = self.record.base_commit
        self.ws.discard()
        shutil.rmtree(self.home, ignore_errors=True)
        self.build()
        if self.record.base_commit != before:  # the old base's checkout may be unused now
            prune_lowers(self.spec.project)

    def ensure_workspace(self) -> None:
        self._repair(mount=True)
        self.ws.start()

    def start(self) -> None:
        self._repair(mount=True)
        self.ws.start()

    def _repair(self, *, mount: bool = False) -> None:
        """Recreate what an interrupted create or reset left missing (home, passwd/group);
        with ``mount``, mount the disk image first (after a reboot or stop)."""
        if not self.record.directory.is_dir():
            return
        if mount:
            self.ws.ensure_storage()
        storage_ready = self.ws.disk is None or self.ws.disk.is_mounted()
        if storage_ready and not self.home.is_dir():
            self._make_home()
            self.record.log("recreated the missing home directory")
        if not all((self.etc / name).is_file() for name in ("passwd", "group", "gitconfig")):
            self._write_identity_files()

    def _share_hub(self) -> None:
        """Let the sandbox user read the hub, whatever the umask of who wrote it.

        The hub (a 0700 ``mkdtemp``, files per the umask, 0400 objects under umask 077)
        becomes group-readable by the project's sandbox gid: group-owned, set-gid
        directories, and ``core.sharedRepository=0640`` so git keeps new files readable
        by that group (never writable). Its parents stay closed: the sandbox sees it
        through a read-only bind mount only. Done once: the top directory goes last.
        """
        hub, gid = self.spec.hub, self.user.gid
        if not self.user.drop or not hub.is_dir() or _shared(hub, gid):
            return
        with fsutil.file_lock(hub.parent / f".{hub.name}.share.lock"):  # workers build at once
            if _shared(hub, gid):
                return
            Git(hub).run("config", "core.sharedRepository", "0640")
            for root, dirs, files in os.walk(hub, topdown=False):
                for name in dirs + files:
                    _share_with_group(Path(root) / name, gid)
            _share_with_group(hub, gid)
            hub.chmod(hub.stat().st_mode | 0o055)

    def _make_home(self) -> None:
        fsutil.ensure_dir(self.home, 0o755)
        if self.user.drop and self.home.stat().st_uid != self.user.uid:
            os.chown(self.home, self.user.uid, self.user.gid)

    def stop(self) -> None:
        self.ws.unmount()

    def destroy(self) -> None:
        self.ws.remove()

    def status(self) -> SandboxStatus:
        if not self.record.directory.is_dir():
            return SandboxStatus.MISSING
        return self.ws.status()

    @property
    def etc(self) -> Path:
        """passwd and group naming uid 1000 ``dev``, shared by the project's sandboxes."""
        return meta.project_dir(self.spec.project) / ".etc"

    def _write_identity_files(self) -> None:
        fsutil.ensure_dir(self.etc, 0o755)
        passwd = Path("/etc/passwd").read_text(encoding="utf-8")
        group = Path("/etc/group").read_text(encoding="utf-8")
        wanted = {
            "passwd": passwd_entries(passwd, DEV_UID, DEV_USER),
            "group": group_entries(group, DEV_UID, DEV_USER),
            "gitconfig": GITCONFIG,
        }
        for name, text in wanted.items():
            path = self.etc / name
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                fsutil.atomic_write_text(path, text, 0o644)

    def tmp_size(self) -> int:
        """Bytes the sandbox's /tmp (a tmpfs: memory) may hold: at most the disk and the
        memory limits; 0 for no limit."""
        spec = self.spec.limits
        sizes = [limits.size_bytes(v) for v in (spec.disk, spec.memory) if v]
        return min(sizes) if sizes else 0

    def _tmp_layout(self) -> tuple[int, Path | None]:
        """(tmpfs size, or a directory in the disk image to bind at /tmp instead)."""
        size = self.tmp_size()
        bwrap = shutil.which("bwrap") or "bwrap"
        if not size or tmpfs_size_supported(bwrap):
            return size, None
        if self.ws.disk is not None and self.ws.disk.is_mounted():
            tmp = self.ws.data / "tmp"
            if not tmp.is_dir():
                tmp.mkdir(mode=0o700)
                if self.user.drop:
                    os.chown(tmp, self.user.uid, self.user.gid)
            return 0, tmp
        return 0, None  # an old bubblewrap, no image: /tmp is an unsized tmpfs

    def limit_notes(self) -> list[str]:
        notes = super().limit_notes()
        if self.spec.limits.disk and self.ws.disk is None:
            notes.append(
                f"disk ({self.spec.limits.disk}) bounds each file only (RLIMIT_FSIZE): the "
                "workspace and home have no size limit without root (see docs/sandboxes.md)"
            )
        bwrap = shutil.which("bwrap") or "bwrap"
        if self.tmp_size() and not tmpfs_size_supported(bwrap) and self.ws.disk is None:
            notes.append("the sandbox's /tmp has no size limit: bubblewrap < 0.8 lacks --size")
        return notes

    def layout(self) -> BwrapLayout:
        self._repair()
        tmp_size, tmp_dir = self._tmp_layout()
        etc = self.etc
        hide = [Path(p) for p in ALWAYS_HIDDEN]
        hide += [Path.home(), fsutil.isollm_home()]
        expose = [Path(p) for p in self.spec.expose if Path(p).exists()]
        # what the sandbox user could not reach anyway, so bubblewrap can mount below it
        targets = [self.ws.merged, self.spec.hub, *hide, *expose]
        blocked = (identity.blocked_ancestor(p, self.user) for p in targets)
        hide += [p for p in blocked if p is not None]
        return BwrapLayout(
            workspace=self.ws.merged,
            hub=self.spec.hub,
            home=self.home,
            hide=tuple(p for p in hide if p.is_dir()),
            files=(
                (etc / "passwd", "/etc/passwd"),
                (etc / "group", "/etc/group"),
                (etc / "gitconfig", SYSTEM_GITCONFIG),
            ),
            expose=tuple(expose),
            network=self.spec.network,
            hostname=self.name,
            task_socket=Path(self.spec.task_socket) if self.spec.task_socket else None,
            tmp_size=tmp_size,
            tmp=tmp_dir,
        )

    def command(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        interactive: bool = False,
    ) -> HostCommand:
        inner_env = sandbox_env(self.name, self.workspace, SANDBOX_HOME, env)
        inner_env.setdefault("GIT_CONFIG_SYSTEM", SYSTEM_GITCONFIG)
        if interactive and "TERM" in os.environ:
            inner_env.setdefault("TERM", os.environ["TERM"])
        bwrap, sources = bwrap_plan(
            self.layout(),
            argv,
            cwd=cwd or self.workspace,
            interactive=interactive,
            bwrap=shutil.which("bwrap") or "bwrap",
        )
        # other sandboxes' mounts live below isollm's home: not pinned by this command
        plan = EntryPlan(bwrap, sources, detach=fsutil.isollm_home().resolve())
        if self.user.drop:
            plan = dataclasses.replace(plan, uid=self.user.uid, gid=self.user.gid)
        if self.record.mode == NS_OVERLAY:
            ws = self.ws
            plan = dataclasses.replace(plan, overlay=(ws.lower, ws.upper, ws.work, ws.merged))
        return HostCommand(tuple(plan.argv()), inner_env)

    def info(self) -> SandboxInfo:
        return self.describe(
            ident=str(self.record.directory), home=SANDBOX_HOME, address="127.0.0.1"
        )
