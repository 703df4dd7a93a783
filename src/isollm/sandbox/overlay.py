"""The default backend: a copy-on-write workspace entered through bubblewrap.

Building one mounts an overlay (milliseconds); every command then runs in a fresh
bubblewrap sandbox (a few milliseconds) that sees the host read-only, only its own
workspace and the hub writable, a private /tmp and HOME, no capabilities, and the host
network only with ``network: host``. Nothing runs between commands, so "stop" only
unmounts; the work stays in the upper directory and comes back with "start".
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from isollm import fsutil
from isollm.sandbox import gitops, meta
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
    bwrap_argv,
    group_entries,
    passwd_entries,
)
from isollm.sandbox.workspace import OverlayWorkspace, prune_lowers


class OverlaySandbox(Sandbox):
    backend = "overlay"

    def __init__(self, record: SandboxRecord) -> None:
        super().__init__(record)
        self.ws = OverlayWorkspace(record)
        self.home = record.directory / "home"

    @classmethod
    def unavailable(cls) -> str | None:
        if shutil.which("bwrap") is None:
            return "bubblewrap is not installed (apt-get install bubblewrap)"
        return None

    @property
    def workspace(self) -> str:
        return str(self.ws.merged)

    @property
    def host_workspace(self) -> Path:
        return self.ws.merged

    def build(self) -> None:
        self.ws.build()
        self._write_identity_files()
        fsutil.ensure_dir(self.home, 0o755)
        self.record.log(f"built ({self.record.mode}) at {self.record.base_commit[:12]}")

    def rebuild(self) -> None:
        before = self.record.base_commit
        self.ws.discard()
        shutil.rmtree(self.home, ignore_errors=True)
        self.build()
        if self.record.base_commit != before:  # the old base's checkout may be unused now
            prune_lowers(self.spec.project)

    def ensure_workspace(self) -> None:
        self._repair()
        self.ws.start()

    def start(self) -> None:
        self._repair()
        self.ws.start()

    def _repair(self) -> None:
        """Recreate what an interrupted create or reset left missing (home, passwd/group)."""
        if not self.record.directory.is_dir():
            return
        if not self.home.is_dir():
            fsutil.ensure_dir(self.home, 0o755)
            self.record.log("recreated the missing home directory")
        if not all((self.etc / name).is_file() for name in ("passwd", "group")):
            self._write_identity_files()

    def stop(self) -> None:
        self.ws.unmount()

    def destroy(self) -> None:
        if self.record.directory.exists():
            self.ws.discard()
            meta.remove_directory(self.record.directory)
        prune_lowers(self.spec.project)

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
        }
        for name, text in wanted.items():
            path = self.etc / name
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                fsutil.atomic_write_text(path, text, 0o644)

    def layout(self) -> BwrapLayout:
        self._repair()
        etc = self.etc
        hide = [Path(p) for p in ALWAYS_HIDDEN]
        hide += [Path.home(), fsutil.isollm_home()]
        return BwrapLayout(
            workspace=self.ws.merged,
            hub=self.spec.hub,
            home=self.home,
            hide=tuple(p for p in hide if p.is_dir()),
            protect=tuple(gitops.protected_hub_paths(self.spec.hub)),
            files=((etc / "passwd", "/etc/passwd"), (etc / "group", "/etc/group")),
            expose=tuple(Path(p) for p in self.spec.expose if Path(p).exists()),
            network=self.spec.network,
            hostname=self.name,
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
        if interactive and "TERM" in os.environ:
            inner_env.setdefault("TERM", os.environ["TERM"])
        full = bwrap_argv(
            self.layout(),
            argv,
            cwd=cwd or self.workspace,
            interactive=interactive,
            bwrap=shutil.which("bwrap") or "bwrap",
        )
        return HostCommand(tuple(full), inner_env)

    def info(self) -> SandboxInfo:
        return self.describe(
            ident=str(self.record.directory), home=SANDBOX_HOME, address="127.0.0.1"
        )
