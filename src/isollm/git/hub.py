"""The hub: one bare repository per project, between the host and the sandboxes.

The host pushes its base branch here and fetches task branches back; workers clone
from it and push ``<branch_prefix><task-id>`` to it. It lives at
``$ISOLLM_HOME/<project>.git`` so no agent ever writes to the user's checkout.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from isollm import fsutil
from isollm.errors import StateError
from isollm.git.facade import Git
from isollm.git.parse import BranchRef

__all__ = ["BranchRef", "Hub", "HubMissingError", "hub_path"]

# Settings of a new hub: keep a reflog, so a branch a worker force-pushed over can
# still be recovered, and never let a push run gc in the middle of other pushes.
_HUB_CONFIG = (
    ("core.logAllRefUpdates", "always"),
    ("gc.auto", "0"),
    ("receive.autogc", "false"),
)


class HubMissingError(StateError):
    """The project has no hub yet."""


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
                hint="run `isollm sync push` (or `isollm up`) to create it from your base branch",
            )
        return self

    def git(self) -> Git:
        """A git facade bound to the bare repository."""
        return Git(self.path)

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
