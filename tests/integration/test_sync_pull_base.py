"""`isollm sync pull` brings the base branch the hub advanced (by `isollm merge`) to the
host: a fast-forward only, a checked-out base only when its work tree is clean."""

from __future__ import annotations

from pathlib import Path

import pytest

from isollm.git.hub import Hub
from isollm.git.pull import PullOutcome, pull_base
from isollm.git.sync import push_base
from tests import gitutil
from tests.conftest import git


@pytest.fixture
def hub(tmp_path: Path, git_repo: Path) -> Hub:
    hub = Hub(tmp_path / "hub" / "proj.git")
    push_base(git_repo, hub, "main")
    return hub


def advance_hub(hub: Hub, tmp_path: Path, name: str = "merged.txt") -> str:
    """Move the hub's main forward as a merge queue would (from a clone, then fetched)."""
    clone = gitutil.clone(hub.path, tmp_path / f"clone-{name}")
    (clone / name).write_text("landed\n")
    git(clone, "add", name)
    git(clone, "commit", "-q", "-m", f"land {name}")
    sha = git(clone, "rev-parse", "HEAD")
    git(hub.path, "fetch", "-q", str(clone), "+refs/heads/main:refs/heads/main")
    return sha


def test_a_clean_checked_out_base_is_fast_forwarded_in_its_work_tree(
    git_repo: Path, hub: Hub, tmp_path: Path
) -> None:
    sha = advance_hub(hub, tmp_path)
    pulled = pull_base(git_repo, hub, "main")
    assert pulled is not None
    assert pulled.outcome is PullOutcome.UPDATED
    assert git(git_repo, "rev-parse", "HEAD") == sha
    assert (git_repo / "merged.txt").read_text() == "landed\n"
    assert git(git_repo, "status", "--porcelain") == ""


def test_a_dirty_work_tree_is_never_touched(git_repo: Path, hub: Hub, tmp_path: Path) -> None:
    before = git(git_repo, "rev-parse", "HEAD")
    tracked = next(p for p in git_repo.iterdir() if p.is_file() and p.name != ".gitignore")
    tracked.write_text("my unsaved edit\n")
    sha = advance_hub(hub, tmp_path)
    pulled = pull_base(git_repo, hub, "main")
    assert pulled is not None
    assert pulled.outcome is PullOutcome.DIRTY
    assert git(git_repo, "rev-parse", "HEAD") == before
    assert tracked.read_text() == "my unsaved edit\n"
    assert git(git_repo, "rev-parse", "refs/remotes/isollm/main") == sha  # kept for later


def test_an_untracked_file_in_the_way_leaves_everything_as_it_was(
    git_repo: Path, hub: Hub, tmp_path: Path
) -> None:
    before = git(git_repo, "rev-parse", "HEAD")
    advance_hub(hub, tmp_path)
    (git_repo / "merged.txt").write_text("mine, untracked\n")
    pulled = pull_base(git_repo, hub, "main")
    assert pulled is not None
    assert pulled.outcome is PullOutcome.DIRTY
    assert git(git_repo, "rev-parse", "HEAD") == before
    assert (git_repo / "merged.txt").read_text() == "mine, untracked\n"


def test_a_base_not_checked_out_moves_by_ref_and_local_commits_are_kept(
    git_repo: Path, hub: Hub, tmp_path: Path
) -> None:
    git(git_repo, "checkout", "-q", "-b", "elsewhere")
    sha = advance_hub(hub, tmp_path)
    pulled = pull_base(git_repo, hub, "main")
    assert pulled is not None
    assert pulled.outcome is PullOutcome.UPDATED
    assert git(git_repo, "rev-parse", "main") == sha
    assert git(git_repo, "rev-parse", "--abbrev-ref", "HEAD") == "elsewhere"
    # the host commits on main the hub lacks: never moved, reported
    git(git_repo, "checkout", "-q", "main")
    (git_repo / "local.txt").write_text("mine\n")
    git(git_repo, "add", "local.txt")
    git(git_repo, "commit", "-q", "-m", "local")
    mine = git(git_repo, "rev-parse", "HEAD")
    advance_hub(hub, tmp_path, "second.txt")
    pulled = pull_base(git_repo, hub, "main")
    assert pulled is not None
    assert pulled.outcome is PullOutcome.DIVERGED
    assert git(git_repo, "rev-parse", "HEAD") == mine
