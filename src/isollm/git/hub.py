"""The hub: one bare repository per project, between the host and the sandboxes.

The host pushes its base branch here and fetches task branches back; workers clone
from it (read-only: no sandbox can write it) and their branches reach it only through
the host's intake (:mod:`isollm.git.intake`). It lives at ``$ISOLLM_HOME/<project>.git``
so no agent ever writes to the user's checkout.

Every host git command in the hub goes through :meth:`Hub.git`, which first checks the
hub was not tampered with (:func:`check_hub`: files that would make host git run or read
something else) and runs git with hooks disabled.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from isollm import fsutil
from isollm.errors import StateError
from isollm.git.facade import Git
from isollm.git.parse import BranchRef

__all__ = [
    "BranchRef",
    "Hub",
    "HubFullError",
    "HubMissingError",
    "HubTamperedError",
    "check_hub",
    "check_room",
    "hub_path",
]

# Settings of a new hub: keep a reflog, so a branch a worker force-pushed over can
# still be recovered, and never let a push run gc in the middle of other pushes.
_HUB_CONFIG = (
    ("core.logAllRefUpdates", "always"),
    ("gc.auto", "0"),
    ("receive.autogc", "false"),
    ("core.hooksPath", "/dev/null"),
)

# Every host git command in the hub runs with these settings (environment config, so
# they win over the hub's own config and the user's): no hook of the hub's or the user's
# ever runs on the host, and a user's commit.gpgSign never makes a merge ask for a key.
HOST_GIT_ENV = {
    "GIT_CONFIG_COUNT": "3",
    "GIT_CONFIG_KEY_0": "core.hooksPath",
    "GIT_CONFIG_VALUE_0": "/dev/null",
    "GIT_CONFIG_KEY_1": "commit.gpgSign",
    "GIT_CONFIG_VALUE_1": "false",
    "GIT_CONFIG_KEY_2": "tag.gpgSign",
    "GIT_CONFIG_VALUE_2": "false",
}

# Host git making a checkout for a sandbox: none of the user's global or system config
# (templates with hooks, autocrlf, filters such as git-lfs, fsmonitor), so the checkout
# holds what the commit holds, as git inside the sandbox (which never sees them) reads it.
CHECKOUT_GIT_ENV = {**HOST_GIT_ENV, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}

# Paths whose presence makes git read another repository's files or objects.
_MUST_NOT_EXIST = (
    "commondir",
    "gitdir",
    "objects/info/alternates",
    "objects/info/http-alternates",
)
# Paths git reads that must be what they seem, not a symlink to somewhere else.
_NO_SYMLINK = (
    "HEAD",
    "config",
    "packed-refs",
    "shallow",
    "refs",
    "refs/heads",
    "objects",
    "objects/info",
    "objects/pack",
    "hooks",
    "info",
    "logs",
)
# Directories and files that must not be writable by other users.
_NOT_SHARED = ("", "config", "refs", "objects", "hooks")
_CONFIG_MAX = 1 << 20


class HubTamperedError(StateError):
    """The hub holds files that would make host git run or read something else."""


def check_hub(path: Path) -> None:
    """Refuse a hub that could turn host git against the host (cheap: a few lstat).

    Nothing a sandbox does can write the hub any more; this catches hubs changed before
    that was so, or by hand: a ``commondir`` or ``gitdir`` redirecting git to another
    repository, alternates, symlinked refs/config/objects (host files quoted in errors),
    hooks git did not write, config includes, other users' write access.
    """
    problems = [f"{name} exists" for name in _MUST_NOT_EXIST if os.path.lexists(path / name)]
    problems += [f"{name} is a symlink" for name in _NO_SYMLINK if (path / name).is_symlink()]
    problems += _hook_problems(path / "hooks")
    problems += _config_problems(path / "config")
    problems += [
        f"{name or '.'} is writable by other users"
        for name in _NOT_SHARED
        if _world_writable(path / name)
    ]
    if problems:
        raise HubTamperedError(
            f"refusing to use the hub {path}: {'; '.join(problems)}",
            hint="something other than isollm changed it; inspect it, then remove those "
            f"files (or recreate the hub: move {path} away and run `isollm sync push`)",
        )
    reclaim_objects(path)


# In a hub once every object file in it is its owner's again (see reclaim_objects).
RECLAIMED = "isollm-objects-reclaimed"


def reclaim_objects(path: Path) -> None:
    """Give the hub's object files back to the hub's owner, once per hub.

    An isollm before this check cloned sandbox checkouts from the hub with hard links and
    then gave the checkout to the sandbox uid, which handed it the hub's own object files
    (it could make them writable and change them). Checkouts are copies now; this takes
    back what older ones were given, as root (only root could have given it), then
    leaves :data:`RECLAIMED` so later checks cost one ``lstat``.
    """
    mark = path / RECLAIMED
    objects = path / "objects"
    if mark.exists() or not objects.is_dir() or objects.is_symlink():
        return
    owner = path.stat()
    if os.geteuid() == 0:
        for root, dirs, files in os.walk(objects):
            for name in (*dirs, *files):
                entry = os.path.join(root, name)
                if os.lstat(entry).st_uid != owner.st_uid:
                    os.chown(entry, owner.st_uid, owner.st_gid, follow_symlinks=False)
    with contextlib.suppress(OSError):  # a read-only hub: checked again next time
        mark.touch()


def _hook_problems(hooks: Path) -> list[str]:
    if not hooks.is_dir() or hooks.is_symlink():
        return []
    return [
        f"hooks/{entry.name} is not a sample git wrote"
        for entry in os.scandir(hooks)
        if not (entry.name.endswith(".sample") and entry.is_file(follow_symlinks=False))
    ]


def _config_problems(config: Path) -> list[str]:
    if config.is_symlink() or not config.is_file():
        return []
    if config.stat().st_size > _CONFIG_MAX:
        return ["config is suspiciously large"]
    text = config.read_bytes().lower()
    return ["config includes other files"] if b"[include" in text else []


def _world_writable(path: Path) -> bool:
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return False
    return bool(mode & 0o002) and not stat.S_ISLNK(mode)


class HubMissingError(StateError):
    """The project has no hub yet."""


class HubFullError(StateError):
    """The hub's filesystem has no room for what a git command had to write there."""


# What a git command in the hub writes besides the objects it receives: lock files, a
# reflog line, a pack's index.
HEADROOM = 1 << 20


def room_left(path: Path) -> tuple[int, bool]:
    """Bytes the host user may still write on the filesystem holding ``path`` (root may
    use the blocks kept for it), and whether it has an inode left (when it counts them)."""
    fs = os.statvfs(path)
    blocks = fs.f_bfree if os.geteuid() == 0 else fs.f_bavail
    return blocks * fs.f_frsize, fs.f_files == 0 or fs.f_favail > 0


def check_room(path: Path, needed: int, what: str) -> None:
    """Raise HubFullError (caused by an ENOSPC OSError naming ``path``) when the hub at
    ``path`` has less than ``needed`` bytes and :data:`HEADROOM` free, or no inode left.

    Called after a git command in the hub failed, to tell a full disk (not the task's
    fault: the run stops, resumable) from anything else. Judged from the filesystem the
    host sees, never from what git printed: a sandbox can make words appear there.
    """
    try:
        free, inodes = room_left(path)
    except OSError:
        return
    if free >= needed + HEADROOM and inodes:
        return
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    raise HubFullError(
        f"no space left in the hub {path} for {what}",
        hint="free some space on its disk (`df -h` shows where), then run the command again",
    ) from full


def hub_path(project: str) -> Path:
    """Where the hub of ``project`` lives: ``$ISOLLM_HOME/<project>.git``."""
    return fsutil.isollm_home() / f"{project}.git"


@dataclass(frozen=True)
class Hub:
    """The bare repository of one project; nothing is created until :meth:`ensure`."""

    path: Path

    def __post_init__(self) -> None:
        # git resolves a relative path against the repository it runs in: pin it now.
        object.__setattr__(self, "path", Path(os.path.abspath(self.path)))

    @classmethod
    def for_project(cls, project: str) -> Hub:
        return cls(hub_path(project))

    def exists(self) -> bool:
        """Whether a bare repository is at :attr:`path` (an empty directory is not one)."""
        return (self.path / "HEAD").is_file() and (self.path / "objects").is_dir()

    def ensure(self) -> Hub:
        """Create the bare repository on first need; safe when processes race to do it.

        The repository is built in a temp directory next to its final place and renamed
        into it, so the hub appears complete or not at all; whoever loses the rename
        race uses the winner's.
        """
        if self.exists():
            return self
        if self.path.exists() and any(self.path.iterdir()):
            raise StateError(
                f"{self.path} exists but is not a git repository",
                hint="move it away; isollm keeps the project's hub (a bare repository) there",
            )
        fsutil.ensure_dir(self.path.parent)
        tmp = Path(
            tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".new", dir=self.path.parent)
        )
        try:
            self._initialise(tmp)
            self._move_into_place(tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return self

    @staticmethod
    def _initialise(path: Path) -> None:
        git = Git.init_bare(path)
        for key, value in _HUB_CONFIG:
            git.run("config", key, value)

    def _move_into_place(self, tmp: Path) -> None:
        try:
            tmp.rename(self.path)  # atomic; replaces only a missing or empty directory
        except OSError:
            if not self.exists():
                raise
        else:
            with contextlib.suppress(OSError):
                fsutil.fsync_dir(self.path.parent)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Serialise isollm's own updates of this hub (sync push and pull, up, down).

        Workers pushing task branches do not take it: git locks each ref they update.
        """
        with fsutil.file_lock(self.path.parent / f".{self.path.name}.lock"):
            yield

    def require(self) -> Hub:
        """This hub, or HubMissingError saying how to create it."""
        if not self.exists():
            raise HubMissingError(
                f"there is no hub at {self.path} yet",
                hint="run `isollm sync push` (or `isollm run`) to create it from your base branch",
            )
        return self

    def check(self) -> Hub:
        """This hub, after :func:`check_hub` found nothing wrong in it."""
        check_hub(self.path)
        return self

    def git(self) -> Git:
        """A git facade bound to the bare repository, checked, hooks disabled."""
        return hub_git(self.path)

    def has_branch(self, branch: str) -> bool:
        return self.exists() and self.git().branch_exists(branch)

    def head_of(self, branch: str) -> str | None:
        """The commit ``branch`` points at in the hub; None if it (or the hub) is missing."""
        return self.git().branch_sha(branch) if self.exists() else None

    def pack_refs(self) -> None:
        """Move the hub's loose refs into ``packed-refs``.

        Every worker's push makes a loose ref; with a thousand of them, each push (the
        hub advertises every ref) and each ref lookup reads a thousand files (measured:
        15 ms a push instead of 6). Safe while workers push: git locks each ref it
        packs or prunes, and a ref being written meanwhile stays loose.
        """
        self.git().run("pack-refs", "--all", "--prune")

    def task_branches(self, prefix: str) -> list[BranchRef]:
        """Branches named ``<prefix><task-id>``, by name; empty when there is no hub."""
        if not self.exists():
            return []
        return [r for r in self.git().branches(prefix) if len(r.name) > len(prefix)]


def hub_git(path: Path) -> Git:
    """Host git in the hub at ``path``: refused if it was tampered with, hooks disabled."""
    check_hub(path)
    return Git(path, HOST_GIT_ENV)
