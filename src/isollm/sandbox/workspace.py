"""Copy-on-write workspaces: an overlay over a shared read-only checkout of the hub.

One *lower* checkout per project and base commit is cloned once (under a lock) into
``$ISOLLM_HOME/lowers/<project>/<commit>``; each sandbox mounts an overlay over it with
its own upper and work directories, which costs milliseconds instead of the seconds a
``git worktree add`` or clone of a large repository takes. The merged directory is a real
git checkout whose ``origin`` is the hub.

Run as root, the overlay is mounted on the host (the host reads and checks the work in
it directly), with the lower and upper directories owned by the project's unprivileged
sandbox uid. Run as a normal user, nothing can be mounted on the host: the overlay is
mounted by every command in its own user and mount namespaces (``NS_OVERLAY``, see
:mod:`~.enter`), over the same lower, upper and work directories, owned by that user.

Run as root with a disk limit (``sandbox.disk``), the upper and work directories (and
the sandbox's home) live in a filesystem of that size of the sandbox's own
(:mod:`~.diskimage`), mounted before the overlay and unmounted after it.

When no overlay can be mounted at all (an old kernel, an upper directory on a filesystem
overlayfs refuses, paths overlayfs cannot express) the workspace falls back to a plain
clone of the hub, slower but equivalent, and a note says so.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from isollm import fsutil, proc
from isollm.errors import SandboxError
from isollm.git.facade import Git
from isollm.git.hub import CHECKOUT_GIT_ENV
from isollm.sandbox import gitops, limits, meta, mounts
from isollm.sandbox.base import SandboxRecord, SandboxStatus
from isollm.sandbox.bwrap import EntryPlan
from isollm.sandbox.diskimage import IMAGE, DiskImage, DiskImageError

log = logging.getLogger(__name__)

OVERLAY = "overlay"  # mounted on the host (root)
NS_OVERLAY = "overlay-ns"  # mounted by each command in its own namespaces (not root)
CLONE = "clone"
_UNSAFE_IN_OPTIONS = (",", ":", "\\", "\n")
RACY_WINDOW = 1.05  # seconds: index timestamps are compared at one-second granularity


class OverlayUnavailableError(SandboxError):
    """The overlay could not be mounted."""


def chown_tree(path: Path, uid: int) -> None:
    """Give ``path`` and everything below to ``uid`` (entries it owns are left untouched)."""
    for root, dirs, files in os.walk(path):
        for entry in [root, *(os.path.join(root, name) for name in dirs + files)]:
            if os.lstat(entry).st_uid != uid:
                os.chown(entry, uid, uid, follow_symlinks=False)


def remove_tree(path: Path) -> None:
    """``rm -rf path``, also through directories left without permissions (an agent's
    ``chmod 000``, overlayfs's own ``work/work``), which a non-root owner must reopen."""

    def reopen(_func: object, failed: str, _exc: object) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(failed), 0o700)
            if os.path.isdir(failed) and not os.path.islink(failed):
                os.chmod(failed, 0o700)
                shutil.rmtree(failed, ignore_errors=True)
            else:
                os.unlink(failed)

    if path.is_symlink() or not path.exists():
        path.unlink(missing_ok=True)
        return
    shutil.rmtree(path, onerror=reopen)


def lower_name(commit: str, uid: int) -> str:
    return commit if uid == 0 else f"{commit}.u{uid}"


def _clone_checkout(hub: Path, target: Path, commit: str, ident: tuple[str, str], uid: int) -> None:
    """A checkout of ``commit`` from ``hub`` at ``target``, owned by ``uid``, index settled."""
    # --no-hardlinks: the checkout is given to the sandbox uid below; hard-linked objects
    # would hand it the hub's own object files too.
    clone = ("clone", "-q", "--no-hardlinks", "--no-checkout", "--template=")
    Git(target.parent, CHECKOUT_GIT_ENV).run(*clone, str(hub), str(target))
    git = Git(target, CHECKOUT_GIT_ENV)
    git.run("checkout", "-q", "--detach", commit)
    gitops.configure_checkout(target, ident)
    if uid:
        chown_tree(target, uid)
    settle_index(git)
    if uid:
        chown_tree(target, uid)  # the index git just rewrote


def settle_index(git: Git) -> None:
    """Rewrite the index once its files are older than it.

    Files checked out in the same second as the index is written are "racily clean":
    git smudges them and re-hashes their content on every ``git status`` until the
    index is written again later. Every workspace over this checkout would pay that
    (70 MB hashed per status); waiting one second here, once per base, pays it once.
    """
    time.sleep(RACY_WINDOW)
    git.run("-c", "safe.directory=*", "update-index", "-q", "--really-refresh", check=False)


def ensure_lower(
    project: str, hub: Path, commit: str, uid: int, ident: Callable[[], tuple[str, str]]
) -> Path:
    """The shared read-only checkout of ``commit`` owned by ``uid``; built once (only
    then is ``ident``, the committer its workspaces get, asked for)."""
    root = lowers_root(project)
    path = root / lower_name(commit, uid)
    if path.is_dir():
        return path
    with fsutil.file_lock(root / ".lock"):
        if path.is_dir():
            return path
        tmp = Path(tempfile.mkdtemp(prefix=".new-", dir=root))
        try:
            _clone_checkout(hub, tmp / "checkout", commit, ident(), uid)
            (tmp / "checkout").rename(path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def lowers_root(project: str) -> Path:
    return fsutil.ensure_dir(meta.lowers_dir(project))


def lowers_in_use(project: str) -> set[str]:
    """Base commits used by any sandbox record or mounted overlay of ``project``."""
    used = set()
    for name in meta.names(project):
        with contextlib.suppress(SandboxError):
            used.add(meta.load(project, name).base_commit)
    prefix = f"lowerdir={meta.lowers_dir(project)}/"
    for line in Path("/proc/self/mountinfo").read_text(encoding="utf-8").splitlines():
        for option in line.split(","):
            if option.startswith(prefix):
                used.add(option.removeprefix(prefix).split(".u", 1)[0])
    return used


def prune_lowers(project: str) -> list[str]:
    """Remove lower checkouts no sandbox uses, keeping the newest. Returns their names."""
    root = meta.lowers_dir(project)
    if not root.is_dir():
        return []
    removed = []
    with fsutil.file_lock(root / ".lock"):
        used = lowers_in_use(project)
        lowers = sorted(
            (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
            key=lambda p: p.stat().st_mtime,
        )
        for path in lowers[:-1]:
            if path.name.split(".u", 1)[0] not in used:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path.name)
    return removed


def wants_disk_image(record: SandboxRecord, *, in_namespace: bool) -> bool:
    """Whether the sandbox's writable directories live in a disk image of their own:
    as root, with a disk limit, unless it was built before there were images (its upper
    directory is on the host's disk, and stays there with the work in it)."""
    if in_namespace or os.geteuid() != 0 or not record.spec.limits.disk:
        return False
    legacy = record.directory / "upper"
    return not legacy.is_dir() or (record.directory / IMAGE).is_file()


class OverlayWorkspace:
    """The workspace of one sandbox: ``merged`` is the checkout, owned by ``uid``.

    ``data`` holds the writable directories (upper, work, and the sandbox's home): the
    mounted disk image when there is one, else the sandbox's directory.
    """

    def __init__(self, record: SandboxRecord, uid: int = 0, *, in_namespace: bool = False) -> None:
        self.record = record
        self.uid = uid
        self.in_namespace = in_namespace  # mount in each command's namespaces, not on the host
        self.disk: DiskImage | None = None
        if wants_disk_image(record, in_namespace=in_namespace):
            size = limits.size_bytes(record.spec.limits.disk)
            self.disk = DiskImage(record.directory, size)
        self.data = self.disk.mountpoint if self.disk else record.directory
        self.upper = self.data / "upper"
        self.work = self.data / "work"
        self.merged = record.directory / "merged"

    def ensure_storage(self) -> None:
        """The disk image made (when a reset discarded it) and mounted; nothing without one.
        Nothing is ever written below ``data`` before this."""
        if self.disk is not None and self.record.directory.is_dir():
            self.disk.ensure()

    @property
    def ident(self) -> tuple[str, str]:
        spec = self.record.spec
        return gitops.default_identity(spec.host_root, spec.hub, spec.name)

    @property
    def lower(self) -> Path:
        return meta.lowers_dir(self.record.spec.project) / lower_name(
            self.record.base_commit, self.uid
        )

    def build(self, *, allow_overlay: bool = True) -> None:
        """Resolve the base on the hub and make ``merged`` a checkout of it."""
        spec = self.record.spec
        self.record.base_commit = gitops.base_commit(spec.hub, spec.base_branch, spec.base_commit)
        self.record.notes = [n for n in self.record.notes if not n.startswith("overlay")]
        if allow_overlay:
            try:
                self._build_overlay()
            except OverlayUnavailableError as exc:
                note = f"overlay unavailable, using a full clone instead: {exc}"
                log.warning("%s: %s", spec.name, note)
                self.record.notes.append(note)
            else:
                return
        self._build_clone()

    def _build_overlay(self) -> None:
        spec = self.record.spec
        lower = ensure_lower(
            spec.project, spec.hub, self.record.base_commit, self.uid, lambda: self.ident
        )
        self._make_dirs()
        if self.in_namespace:
            self._check_paths(lower)
            probe_namespace_overlay(lower, self.upper, self.work, self.merged)
            self.record.mode = NS_OVERLAY
            meta.save(self.record)
            return
        self.record.mode = OVERLAY
        meta.save(self.record)
        self._mount(lower)

    def _make_dirs(self) -> None:
        if self.disk is not None:
            try:
                self.disk.ensure()
            except DiskImageError as exc:
                if self.record.mode:  # a built sandbox: never silently without its limit
                    raise
                note = f"no disk limit: {exc}"
                log.warning("%s: %s", self.record.spec.name, note)
                self.record.notes.append(note)
                self.disk = None
                self.data = self.record.directory
                self.upper, self.work = self.data / "upper", self.data / "work"
        for d in (self.upper, self.work, self.merged):
            d.mkdir(mode=0o755, exist_ok=True)
        if self.uid:
            os.chown(self.upper, self.uid, self.uid)

    def _build_clone(self) -> None:
        spec = self.record.spec
        self.merged.parent.mkdir(parents=True, exist_ok=True)
        _clone_checkout(spec.hub, self.merged, self.record.base_commit, self.ident, self.uid)
        self.record.mode = CLONE
        meta.save(self.record)

    def _check_paths(self, lower: Path) -> None:
        paths = (lower, self.upper, self.work)
        if any(c in str(p) for p in paths for c in _UNSAFE_IN_OPTIONS):
            raise OverlayUnavailableError(f"a path contains one of {_UNSAFE_IN_OPTIONS!r}")

    def _mount(self, lower: Path) -> None:
        self._check_paths(lower)
        if os.geteuid() != 0:
            raise OverlayUnavailableError("mounting an overlay needs root")
        try:
            mounts.mount_overlay(self.merged, lower=lower, upper=self.upper, work=self.work)
        except OSError as exc:
            raise OverlayUnavailableError(str(exc)) from exc

    def is_mounted(self) -> bool:
        return os.path.ismount(self.merged)

    def start(self) -> None:
        """Mount again after a reboot or stop (the upper directory kept the work).

        A reset interrupted after discarding the workspace left no upper directory: the
        work is gone already, so empty ones give a clean checkout of the recorded base.
        """
        if self.record.mode == NS_OVERLAY:
            if self.record.directory.is_dir() and not self.upper.is_dir():
                self._make_dirs()
            return
        if self.record.mode == OVERLAY and not self.is_mounted():
            if not self.lower.is_dir():
                raise SandboxError(
                    f"the base checkout of sandbox {self.record.spec.name} is gone ({self.lower})",
                    hint="reset the worker (its changes are in "
                    f"{self.upper}), or remove it with --force",
                )
            if self.record.directory.is_dir():
                self.ensure_storage()
                if not self.upper.is_dir():
                    self._make_dirs()
                    self.record.log("recreated the discarded workspace at the recorded base")
            self._mount(self.lower)

    def unmount(self) -> None:
        """Unmount the overlay, then the disk image under it."""
        self._unmount_overlay()
        if self.disk is not None:
            self.disk.unmount()

    def _unmount_overlay(self) -> None:
        if not self.is_mounted():
            return
        try:
            mounts.unmount(self.merged)
        except OSError:
            try:
                mounts.unmount(self.merged, lazy=True)
            except OSError as exc:
                raise SandboxError(
                    f"could not unmount the workspace of {self.record.spec.name}: {exc}",
                    hint="is a process still using it? see `fuser -vm` on that directory",
                ) from exc

    def status(self) -> SandboxStatus:
        if self.record.mode == CLONE:
            return (
                SandboxStatus.RUNNING if (self.merged / ".git").exists() else SandboxStatus.BROKEN
            )
        if self.is_mounted():
            return SandboxStatus.RUNNING
        if self.disk is not None and self.disk.exists() and not self.disk.is_mounted():
            return SandboxStatus.STOPPED if self.lower.is_dir() else SandboxStatus.BROKEN
        if self.upper.is_dir() and self.lower.is_dir():
            if self.record.mode == NS_OVERLAY:  # mounted by each command itself
                return SandboxStatus.RUNNING
            return SandboxStatus.STOPPED
        return SandboxStatus.BROKEN

    def remove(self) -> None:
        """The sandbox's end: its workspace discarded, its directory removed, and the
        lower checkouts no sandbox of its project uses any more pruned. Idempotent."""
        if self.record.directory.exists():
            self.discard()
            meta.remove_directory(self.record.directory)
        prune_lowers(self.record.spec.project)

    def discard(self) -> None:
        """Unmount and delete the workspace and its changes (with a disk image, the
        whole image: the sandbox's home goes with it)."""
        self.unmount()
        if self.disk is not None:
            self.disk.remove()  # one unlink, however many files the agent left
        for d in (self.merged, self.upper, self.work):
            remove_tree(d)
            if d.exists():
                raise SandboxError(f"could not remove {d}", hint="is something still using it?")


def probe_namespace_overlay(lower: Path, upper: Path, work: Path, merged: Path) -> None:
    """Mount the overlay once in throwaway namespaces: OverlayUnavailableError if the
    kernel refuses (older than 5.11, user namespaces disabled)."""
    true = shutil.which("true") or "/bin/true"
    plan = EntryPlan([true], [], overlay=(lower, upper, work, merged))
    result = proc.run(plan.argv(), check=False)
    if result.returncode != 0:
        raise OverlayUnavailableError(
            (result.stderr.strip() or f"exit {result.returncode}").splitlines()[-1]
        )
