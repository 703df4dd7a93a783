"""The simplest backend: a plain ``git worktree``, with NO isolation.

Read this one first: it shows what every backend provides with nothing in the way.
Commands run directly on the host, as you, with your environment and your network; an
agent here can read and change anything you can. Use it only for agents you trust, or
on machines without bubblewrap.

All worktrees of a project hang off one bare clone of the hub
(``$ISOLLM_HOME/sandboxes/<project>/.worktrees.git``) whose ``origin`` is the hub. Work
reaches the hub the same way as from every other backend, through the host's intake
(:mod:`isollm.git.intake`), so the same ref policy applies to what a run delivers; but
nothing stops an agent here from writing the hub (or anything else you can write)
directly, and isollm's own git commands on the shared clone and the worktrees run in
repositories the agent can change. Since worktrees share branches, a worker that is on
the base branch stays on a detached HEAD at the base commit.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from isollm import fsutil, proc
from isollm.git.facade import Git
from isollm.git.hub import CHECKOUT_GIT_ENV, HOST_GIT_ENV, check_hub
from isollm.sandbox import gitops, meta
from isollm.sandbox.base import HostCommand, Sandbox, SandboxInfo, SandboxStatus


@contextlib.contextmanager
def clone_lock(project: str) -> Iterator[None]:
    """Held around every write to the shared clone's config, worktree list or branches:
    concurrent creates would otherwise fail on git's own lock files (``config.lock``) or
    pick the same admin directory under ``worktrees/``."""
    with fsutil.file_lock(meta.project_dir(project) / ".worktrees.lock"):
        yield


def shared_clone(project: str, hub: Path) -> Path:
    """The bare clone of ``hub`` all worktrees of ``project`` belong to, fetched fresh.

    Call with :func:`clone_lock` held.
    """
    path = meta.project_dir(project) / ".worktrees.git"
    check_hub(hub)
    if not (path / "HEAD").is_file():
        shutil.rmtree(path, ignore_errors=True)
        Git(path.parent, CHECKOUT_GIT_ENV).run(
            "clone", "-q", "--bare", "--template=", str(hub), str(path)
        )
        Git(path).run("config", "remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*")
    Git(path).run("fetch", "-q", "--prune", "origin")
    return path


class WorktreeSandbox(Sandbox):
    backend = "worktree"
    isolated = False
    shares_branches = True

    @property
    def checkout(self) -> Path:
        return self.record.directory / "checkout"

    @property
    def workspace(self) -> str:
        return str(self.checkout)

    @property
    def host_workspace(self) -> Path:
        return self.checkout

    def checkout_lock(self) -> contextlib.AbstractContextManager[None]:
        return clone_lock(self.spec.project)

    def build(self) -> None:
        spec = self.spec
        ident = gitops.default_identity(spec.host_root, spec.hub, "worktree")
        self.record.base_commit = gitops.base_commit(spec.hub, spec.base_branch, spec.base_commit)
        self.record.mode = "worktree"
        meta.save(self.record)
        with clone_lock(spec.project):
            clone = shared_clone(spec.project, spec.hub)
            gitops.configure_checkout(clone, ident)
            Git(clone).run(
                "worktree",
                "add",
                "-q",
                "--no-checkout",
                "--detach",
                str(self.checkout),
                self.record.base_commit,
            )
        # filling the working tree only writes this worktree's own index: no lock needed
        Git(self.checkout, CHECKOUT_GIT_ENV).run("reset", "-q", "--hard")
        self.record.log(f"built (git worktree) at {self.record.base_commit[:12]}")

    def _remove_worktree(self) -> None:
        clone = meta.project_dir(self.spec.project) / ".worktrees.git"
        if not clone.is_dir():
            shutil.rmtree(self.checkout, ignore_errors=True)
            return
        git = Git(clone)
        head = git.run(
            "-C", str(self.checkout), "symbolic-ref", "-q", "--short", "HEAD", check=False
        )
        with clone_lock(self.spec.project):
            git.run("worktree", "remove", "--force", str(self.checkout), check=False)
            shutil.rmtree(self.checkout, ignore_errors=True)
            git.run("worktree", "prune", check=False)
            branch = head.stdout.strip()
            if branch:
                git.run("branch", "-q", "-D", branch, check=False)

    def rebuild(self) -> None:
        self._remove_worktree()
        self.build()

    def start(self) -> None:
        """Nothing to start: the worktree is just a directory."""

    def stop(self) -> None:
        """Nothing runs between commands."""

    def destroy(self) -> None:
        if self.record.directory.exists():
            self._remove_worktree()
            meta.remove_directory(self.record.directory)

    def status(self) -> SandboxStatus:
        if not self.record.directory.is_dir():
            return SandboxStatus.MISSING
        return SandboxStatus.RUNNING if (self.checkout / ".git").is_file() else SandboxStatus.BROKEN

    def command(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        interactive: bool = False,
    ) -> HostCommand:
        # The user's own git config applies here, but never their hooks or commit signing.
        extra = {
            **HOST_GIT_ENV,
            "ISOLLM_WORKER": self.name,
            "ISOLLM_WORKSPACE": self.workspace,
            **(env or {}),
        }
        return HostCommand(tuple(argv), proc.clean_env(extra), Path(cwd or self.workspace))

    def info(self) -> SandboxInfo:
        return self.describe(ident=self.workspace, home=str(Path.home()), address="127.0.0.1")
