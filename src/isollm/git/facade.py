"""A typed facade over the git command line.

Every call goes through :func:`isollm.proc.run` with stray ``GIT_*`` variables removed,
so a hook's ``GIT_DIR`` never redirects us. Output meant for machines is read with
``-z`` (or a NUL-separated ``--format``) and parsed by the pure functions in
:mod:`isollm.git.parse`; no command is ever given to a shell. It holds the commands
isollm runs and nothing more: tests that need others run git themselves.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from isollm import proc
from isollm.errors import GitError
from isollm.git.parse import (
    REF_FORMAT,
    BranchRef,
    RefInfo,
    parse_ahead_behind,
    parse_refs,
    parse_worktrees,
    zsplit,
)

__all__ = ["BranchRef", "Git", "GitError", "RefInfo", "zsplit"]

# git exits 1 for "no" from predicates such as merge-base --is-ancestor or diff --quiet.
_NO = 1


class Git:
    """git commands run in one directory (a work tree or a bare repository)."""

    def __init__(self, cwd: Path, env: Mapping[str, str] | None = None) -> None:
        self.cwd = cwd
        self._env = proc.clean_env(env)

    def __repr__(self) -> str:
        return f"Git({str(self.cwd)!r})"

    # -- running ------------------------------------------------------------------------

    def run(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float | None = None
    ) -> proc.Result:
        return proc.run(
            ["git", *args],
            cwd=self.cwd,
            env=self._env,
            input=input,
            timeout=timeout,
            check=check,
            error=GitError,
            max_output=None,  # host git on host-owned repositories: trusted, kept whole
        )

    def out(self, *args: str) -> str:
        """stdout of a git command, stripped of the trailing newline."""
        return self.run(*args).stdout.rstrip("\n")

    def lines(self, args: Sequence[str]) -> list[str]:
        return [line for line in self.out(*args).splitlines() if line]

    def _yes_no(self, *args: str) -> bool:
        """Run a predicate command: exit 0 is True, 1 is False, anything else raises."""
        result = self.run(*args, check=False)
        if result.returncode in (0, _NO):
            return result.ok
        raise GitError(proc.describe_failure(result))

    # -- creating repositories ------------------------------------------------------------

    @classmethod
    def init_bare(cls, path: Path, *, initial_branch: str | None = None) -> Git:
        """``git init --bare`` at ``path`` (created if missing); a facade bound to it."""
        path.mkdir(parents=True, exist_ok=True)
        branch = ["--initial-branch", initial_branch] if initial_branch else []
        git = cls(path)
        git.run("init", "--quiet", "--bare", "--template=", *branch)  # no user's hooks
        return git

    # -- where we are ----------------------------------------------------------------------

    def toplevel(self) -> Path | None:
        """The root of the work tree containing ``cwd``, or None outside a repository."""
        result = self.run("rev-parse", "--show-toplevel", check=False)
        return Path(result.stdout.strip()) if result.ok and result.stdout.strip() else None

    def rev_parse(self, rev: str) -> str:
        """The full object name ``rev`` points at; GitError if it names nothing."""
        return self.out("rev-parse", "--verify", "--end-of-options", rev)

    def resolve(self, rev: str) -> str | None:
        """The commit ``rev`` names, or None when there is no such commit."""
        result = self.run(
            "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}", check=False
        )
        return result.stdout.strip() if result.ok else None

    def head(self) -> str | None:
        """The commit HEAD points at; None in a repository without commits."""
        return self.resolve("HEAD")

    def current_branch(self) -> str | None:
        """The checked-out branch (short name); None when HEAD is detached."""
        result = self.run("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
        return result.stdout.strip() if result.ok else None

    def set_head(self, branch: str) -> None:
        """Point HEAD at ``branch`` without touching any file (bare repositories)."""
        self.run("symbolic-ref", "HEAD", f"refs/heads/{branch}")

    def head_ref(self) -> str | None:
        """The full ref HEAD is attached to (``refs/heads/main``), None when detached."""
        result = self.run("symbolic-ref", "--quiet", "HEAD", check=False)
        return result.stdout.strip() if result.ok else None

    # -- refs ------------------------------------------------------------------------------

    def ref_exists(self, ref: str) -> bool:
        return self._yes_no("show-ref", "--verify", "--quiet", ref)

    def branch_exists(self, branch: str) -> bool:
        return self.ref_exists(f"refs/heads/{branch}")

    def branch_sha(self, branch: str) -> str | None:
        return self.resolve(f"refs/heads/{branch}")

    def for_each_ref(self, *patterns: str) -> list[RefInfo]:
        """Refs under ``patterns`` (``refs/heads/``) with commit, time and subject."""
        text = self.run("for-each-ref", f"--format={REF_FORMAT}", "--", *patterns).stdout
        return parse_refs(text)

    def branches(self, prefix: str = "") -> list[BranchRef]:
        """Local branches whose name starts with ``prefix``, sorted by name."""
        refs = self.for_each_ref("refs/heads/")
        return [BranchRef.from_ref(r) for r in refs if r.short.startswith(prefix)]

    def update_ref(self, ref: str, new: str, old: str | None, *, reason: str = "isollm") -> bool:
        """Compare-and-set ``ref`` to ``new`` if it is still ``old`` (None: must not exist).

        Returns False when the ref had moved (someone else won); never moves a ref
        that changed under us.
        """
        result = self.run("update-ref", "-m", reason, ref, new, old or "", check=False)
        if result.ok:
            return True
        if self.resolve(ref) != old:
            return False
        raise GitError(proc.describe_failure(result))

    def delete_ref(self, ref: str, old: str | None = None) -> None:
        """Delete ``ref``; with ``old``, only while it still points there."""
        self.run("update-ref", "-d", ref, *([old] if old else []))

    # -- history ---------------------------------------------------------------------------

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """Whether ``ancestor`` is reachable from ``descendant`` (equal counts)."""
        return self._yes_no("merge-base", "--is-ancestor", ancestor, descendant)

    def ahead_behind(self, a: str, b: str) -> tuple[int, int]:
        """(commits in ``a`` not in ``b``, commits in ``b`` not in ``a``)."""
        return parse_ahead_behind(self.out("rev-list", "--left-right", "--count", f"{a}...{b}"))

    def count_commits(self, base: str | None, head: str) -> int:
        """Commits reachable from ``head`` but not from ``base`` (all of them if None)."""
        spec = f"{base}..{head}" if base else head
        return int(self.out("rev-list", "--count", spec, "--"))

    # -- changes -----------------------------------------------------------------------------

    def changed_files(self, base: str, head: str = "HEAD") -> list[str]:
        """Paths ``head`` changed since it forked from ``base`` (three-dot), sorted."""
        text = self.run(
            "diff", "--name-only", "-z", "--no-renames", f"{base}...{head}", "--"
        ).stdout
        return sorted(zsplit(text))

    def diff(self, base: str, head: str | None = None) -> str:
        """The patch ``head`` adds since it forked from ``base``.

        Without ``head``: the work tree (tracked files) against ``base``.
        """
        spec = [f"{base}...{head}"] if head else [base]
        return self.run("diff", "--no-color", "--no-ext-diff", *spec, "--").stdout

    # -- remotes -------------------------------------------------------------------------

    def fetch(self, remote: str | Path, *refspecs: str, prune: bool = False) -> None:
        """Fetch ``refspecs`` from ``remote`` without tags, submodules or FETCH_HEAD."""
        args = ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--recurse-submodules=no"]
        args += ["--prune"] if prune else []
        self.run(*args, "--", os.fspath(remote), *refspecs)

    # -- worktrees -------------------------------------------------------------------------

    def checked_out_branches(self) -> set[str]:
        """Full refs (``refs/heads/x``) checked out in this repository or any worktree."""
        text = self.run("worktree", "list", "--porcelain", "-z").stdout
        return {w.branch for w in parse_worktrees(text) if w.branch}
