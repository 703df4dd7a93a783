"""Where a task's own change begins on its branch (``isollm diff``): after the runner's
merges of its dependencies' branches, a fast-forward included; an agent's own merge of
something else, a rerun on top of the delivered branch and a dependency that moved on
since are told apart. Real git."""

from __future__ import annotations

from pathlib import Path

import pytest

from isollm.git.facade import Git
from isollm.land.diff import branch_start
from tests.conftest import git


@pytest.fixture
def repo(git_repo: Path) -> Path:
    """A repository with one commit on main."""
    return git_repo


def commit(repo: Path, name: str, branch: str | None = None, start: str = "main") -> str:
    if branch is not None:
        git(repo, "checkout", "-q", "-B", branch, start)
    (repo / name).write_text(f"{name}\n")
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", f"add {name}")
    return git(repo, "rev-parse", "HEAD")


def merge(repo: Path, branch: str) -> str:
    git(repo, "merge", "-q", "--no-edit", branch)
    return git(repo, "rev-parse", "HEAD")


def test_a_task_without_dependencies_starts_at_its_base(repo: Path) -> None:
    base = git(repo, "rev-parse", "main")
    commit(repo, "own.txt", "isollm/t")
    tip = commit(repo, "more.txt")
    assert branch_start(Git(repo), tip, [base]) == base
    assert branch_start(Git(repo), base, [base]) == base  # no commit of its own


def test_its_change_starts_after_the_dependencies_merged_fast_forward_or_not(
    repo: Path,
) -> None:
    base = git(repo, "rev-parse", "main")
    one = commit(repo, "one.txt", "isollm/d1")
    two = commit(repo, "two.txt", "isollm/d2")
    git(repo, "checkout", "-q", "-B", "isollm/t", "main")
    assert merge(repo, "isollm/d1") == one  # a fast-forward: no merge commit
    started = merge(repo, "isollm/d2")
    commit(repo, "own.txt")
    tip = commit(repo, "own2.txt")
    assert branch_start(Git(repo), tip, [base, one, two]) == started
    assert git(repo, "diff", "--name-only", started, tip).split() == ["own.txt", "own2.txt"]
    # Without the dependencies' tips only the base is known: the merges are its own.
    assert branch_start(Git(repo), tip, [base]) == base
    # It made no commit after the merges: nothing of its own.
    assert branch_start(Git(repo), started, [base, one, two]) == started


def test_a_merge_of_its_own_and_a_rerun_stay_in_its_change(repo: Path) -> None:
    base = git(repo, "rev-parse", "main")
    dep = commit(repo, "dep.txt", "isollm/d1")
    other = commit(repo, "other.txt", "isollm/other")
    git(repo, "checkout", "-q", "-B", "isollm/t", "main")
    git(repo, "merge", "-q", "--no-ff", "--no-edit", "isollm/d1")
    started = git(repo, "rev-parse", "HEAD")
    commit(repo, "own.txt")
    merge(repo, "isollm/other")  # the agent merged another branch: part of its change
    first = commit(repo, "own2.txt")
    assert branch_start(Git(repo), first, [base, dep]) == started
    # A rerun on top of the delivered branch (the dependency moved on meanwhile and is
    # merged again): everything since the first start is the task's.
    moved = commit(repo, "dep2.txt", "isollm/d1", start="isollm/d1")
    git(repo, "checkout", "-q", "isollm/t")
    merge(repo, "isollm/d1")
    tip = commit(repo, "own3.txt")
    assert branch_start(Git(repo), tip, [base, moved]) == started
    assert other not in (started, tip)


def test_a_branch_with_no_history_in_common_has_no_start(repo: Path) -> None:
    git(repo, "checkout", "-q", "--orphan", "alone")
    git(repo, "rm", "-rq", "--cached", ".")
    tip = commit(repo, "alone.txt")
    assert branch_start(Git(repo), tip, [git(repo, "rev-parse", "main")]) is None
