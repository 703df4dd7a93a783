"""``isollm init`` and the base branch on repositories as users have them: a detached
HEAD, a repository without commits, a base branch that is not there. Real git."""

from __future__ import annotations

from pathlib import Path

import pytest

from isollm.errors import GitError
from isollm.git.facade import Git
from isollm.git.hub import Hub
from isollm.git.sync import host_base, push_base
from isollm.project import init_project
from tests.conftest import git


def test_a_detached_head_takes_the_repositorys_own_branch(
    git_repo: Path, hermetic_env: Path
) -> None:
    """The user prefers ``trunk`` for new repositories; this one has only ``develop``,
    and HEAD is detached (a bisect, a checked-out tag): ``develop`` is the base."""
    (hermetic_env / ".gitconfig").write_text("[init]\n\tdefaultBranch = trunk\n")
    git(git_repo, "branch", "-m", "main", "develop")
    git(git_repo, "checkout", "-q", "--detach")

    result = init_project(git_repo)

    assert result.base.name == "develop"
    assert "only branch" in result.base.source
    assert host_base(Git(git_repo), "develop") == git(git_repo, "rev-parse", "develop")


def test_no_commits_yet_says_to_commit_first(tmp_path: Path) -> None:
    repo = tmp_path / "fresh"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "trunk")

    assert init_project(repo).base.name == "trunk"  # the unborn branch: work goes there
    with pytest.raises(GitError) as raised:
        host_base(Git(repo), "trunk")
    assert "no commits yet" in (raised.value.hint or "")


def test_a_missing_base_branch_names_the_branches_there_are(git_repo: Path) -> None:
    git(git_repo, "branch", "feature")
    with pytest.raises(GitError) as raised:
        host_base(Git(git_repo), "trunk")
    assert "(feature, main)" in (raised.value.hint or "")


def test_a_shallow_clone_is_refused_before_the_hub_gets_half_a_history(
    git_repo: Path, tmp_path: Path
) -> None:
    """Its commits would reach the hub without their parents: every later merge or diff
    there would fail on a commit git cannot read."""
    (git_repo / "second.txt").write_text("2\n")
    git(git_repo, "add", "second.txt")
    git(git_repo, "commit", "-q", "-m", "second")
    shallow = tmp_path / "shallow clone"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{git_repo}", str(shallow))
    hub = Hub(tmp_path / "hub.git")

    with pytest.raises(GitError) as raised:
        push_base(shallow, hub, "main")

    assert "shallow clone" in raised.value.message
    assert "git fetch --unshallow" in (raised.value.hint or "")
    assert not hub.exists() or hub.head_of("main") is None
    git(shallow, "fetch", "-q", "--unshallow")
    assert push_base(shallow, hub, "main").new == git(git_repo, "rev-parse", "main")
