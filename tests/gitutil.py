"""git operations tests need but isollm's code does not run (so the facade does not have them).

Each one is plain git through :func:`tests.conftest.git`, in this one place.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import git


def clone(source: Path, dest: Path, *, bare: bool = False) -> Path:
    """A clone of ``source`` at ``dest`` (objects copied, never hard-linked)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    extra = ["--bare"] if bare else []
    git(dest.parent, "clone", "-q", "--no-hardlinks", *extra, "--", str(source), str(dest))
    return dest


def commit_all(repo: Path, message: str) -> str:
    """Stage everything and commit it; the new commit."""
    git(repo, "add", "--all")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def push(repo: Path, remote: str | Path, *refspecs: str) -> None:
    """Push without the repository's hooks."""
    git(repo, "push", "-q", "--no-verify", "--", str(remote), *refspecs)


def ref_exists(repo: Path, ref: str) -> bool:
    found = subprocess.run(["git", "show-ref", "--verify", "--quiet", ref], cwd=repo, check=False)
    return found.returncode == 0


def has_commit(repo: Path, sha: str) -> bool:
    """Whether ``repo``'s object database holds commit ``sha``."""
    found = subprocess.run(
        ["git", "cat-file", "-e", f"{sha}^{{commit}}"], cwd=repo, check=False, capture_output=True
    )
    return found.returncode == 0


def is_bare(repo: Path) -> bool:
    return git(repo, "rev-parse", "--is-bare-repository") == "true"
