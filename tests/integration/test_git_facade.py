"""The git facade against real repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from isollm.errors import GitError
from isollm.git.facade import Git
from tests import gitutil
from tests.conftest import git


def commit(repo: Path, name: str, text: str, message: str) -> str:
    (repo / name).write_text(text)
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def test_rev_parse_resolve_and_head(git_repo: Path) -> None:
    g = Git(git_repo)
    sha = git(git_repo, "rev-parse", "HEAD")
    assert g.rev_parse("HEAD") == sha
    assert g.resolve("main") == sha
    assert g.head() == sha
    assert g.resolve("no-such-branch") is None
    with pytest.raises(GitError, match="no-such"):
        g.rev_parse("no-such")


def test_a_rev_that_looks_like_an_option_is_not_one(git_repo: Path) -> None:
    assert Git(git_repo).resolve("--all") is None


def test_head_of_an_empty_repository_is_none(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    g = Git(tmp_path)
    assert g.head() is None
    assert g.current_branch() == "main"


def test_current_branch_and_detached_head(git_repo: Path) -> None:
    g = Git(git_repo)
    assert g.current_branch() == "main"
    assert g.head_ref() == "refs/heads/main"
    git(git_repo, "checkout", "-q", "--detach")
    assert g.current_branch() is None
    assert g.head_ref() is None


def test_branches_exist_and_are_listed_by_prefix(git_repo: Path) -> None:
    g = Git(git_repo)
    git(git_repo, "branch", "isollm/t1")
    assert g.branch_exists("isollm/t1")
    assert not g.branch_exists("isollm/t2")
    assert g.ref_exists("refs/heads/isollm/t1")
    assert g.branch_sha("isollm/t1") == g.head()
    assert g.branch_sha("isollm/t2") is None
    git(git_repo, "checkout", "-q", "-b", "isollm/t2", "main")
    assert [b.name for b in g.branches("isollm/")] == ["isollm/t1", "isollm/t2"]
    assert [b.name for b in g.branches()] == ["isollm/t1", "isollm/t2", "main"]


def test_for_each_ref_reads_odd_subjects(git_repo: Path) -> None:
    message = 'fix: "quotes" [brackets] $HOME `tick` \\ back\n\nbody line'
    sha = commit(git_repo, "a.txt", "a", message)
    (ref,) = Git(git_repo).for_each_ref("refs/heads/main")
    assert ref.ref == "refs/heads/main"
    assert ref.sha == sha
    assert ref.subject == 'fix: "quotes" [brackets] $HOME `tick` \\ back'
    assert int(ref.time.timestamp()) == int(git(git_repo, "log", "-1", "--format=%ct"))


def test_update_ref_is_compare_and_set(git_repo: Path) -> None:
    g = Git(git_repo)
    first = g.rev_parse("HEAD")
    second = commit(git_repo, "b.txt", "b", "second")
    assert g.update_ref("refs/heads/x", first, None)
    assert not g.update_ref("refs/heads/x", second, None)  # exists already
    assert not g.update_ref("refs/heads/x", second, second)  # is at first, not second
    assert g.resolve("x") == first
    assert g.update_ref("refs/heads/x", second, first)
    assert g.resolve("x") == second
    with pytest.raises(GitError):
        g.delete_ref("refs/heads/x", first)  # moved on: kept
    assert g.branch_exists("x")
    g.delete_ref("refs/heads/x", second)
    assert not g.branch_exists("x")
    g.update_ref("refs/heads/y", first, None)
    g.delete_ref("refs/heads/y")
    assert not g.branch_exists("y")


def test_history_questions(git_repo: Path) -> None:
    g = Git(git_repo)
    base = g.rev_parse("HEAD")
    git(git_repo, "checkout", "-q", "-b", "side")
    side = commit(git_repo, "s.txt", "s", "side work")
    commit(git_repo, "s2.txt", "s", "more side work")
    git(git_repo, "checkout", "-q", "main")
    main = commit(git_repo, "m.txt", "m", "main work")
    assert g.ahead_behind("side", "main") == (2, 1)
    assert g.ahead_behind("main", "main") == (0, 0)
    assert g.is_ancestor(base, side)
    assert not g.is_ancestor(side, main)
    assert g.count_commits("main", "side") == 2
    assert g.count_commits(None, "main") == 2
    with pytest.raises(GitError):
        g.is_ancestor("0123456789" * 4, main)


def test_changed_files_and_diff_use_the_fork_point(git_repo: Path) -> None:
    g = Git(git_repo)
    git(git_repo, "checkout", "-q", "-b", "task")
    commit(git_repo, "b file.txt", "task change\n", "task")
    git(git_repo, "checkout", "-q", "main")
    commit(git_repo, "main-only.txt", "x", "main moves on")
    assert g.changed_files("main", "task") == ["b file.txt"]
    patch = g.diff("main", "task")
    assert "+task change" in patch
    assert "main-only" not in patch
    (git_repo / "README.md").write_text("work tree edit\n")
    assert "+work tree edit" in g.diff("HEAD")


def test_stray_git_dir_in_the_environment_is_ignored(
    git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q", "-b", "elsewhere")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(other / ".git" / "index"))
    assert Git(git_repo).current_branch() == "main"


def test_init_bare_and_fetch(git_repo: Path, tmp_path: Path) -> None:
    bare = Git.init_bare(tmp_path / "hub.git", initial_branch="main")
    assert gitutil.is_bare(bare.cwd)
    assert bare.head_ref() == "refs/heads/main"
    host = Git(git_repo)
    gitutil.push(git_repo, bare.cwd, "refs/heads/main:refs/heads/main")
    assert bare.branch_sha("main") == host.head()
    clone = Git(gitutil.clone(bare.cwd, tmp_path / "clone"))
    assert clone.head() == host.head()
    commit(clone.cwd, "w.txt", "w", "worker")
    gitutil.push(clone.cwd, "origin", "HEAD:refs/heads/isollm/t1")
    host.fetch(bare.cwd, "+refs/heads/isollm/*:refs/remotes/hub/isollm/*")
    assert host.resolve("refs/remotes/hub/isollm/t1") == clone.head()
    gitutil.push(clone.cwd, "origin", ":refs/heads/isollm/t1")
    host.fetch(bare.cwd, "+refs/heads/isollm/*:refs/remotes/hub/isollm/*", prune=True)
    assert host.resolve("refs/remotes/hub/isollm/t1") is None


def test_set_head_points_a_bare_repository_at_a_branch(tmp_path: Path) -> None:
    bare = Git.init_bare(tmp_path / "hub.git", initial_branch="main")
    bare.set_head("trunk")
    assert bare.head_ref() == "refs/heads/trunk"


def test_checked_out_branches_include_every_worktree(git_repo: Path, tmp_path: Path) -> None:
    g = Git(git_repo)
    git(git_repo, "worktree", "add", "-q", "-b", "isollm/t1", str(tmp_path / "wt one"), "main")
    assert Git(tmp_path / "wt one").current_branch() == "isollm/t1"
    assert g.checked_out_branches() == {"refs/heads/main", "refs/heads/isollm/t1"}
    git(git_repo, "worktree", "add", "-q", "--detach", str(tmp_path / "detached"), "main")
    assert g.checked_out_branches() == {"refs/heads/main", "refs/heads/isollm/t1"}
    git(git_repo, "worktree", "remove", "--force", str(tmp_path / "wt one"))
    assert g.checked_out_branches() == {"refs/heads/main"}


def test_toplevel(git_repo: Path, tmp_path: Path) -> None:
    (git_repo / "sub").mkdir()
    assert Git(git_repo / "sub").toplevel() == git_repo
    outside = tmp_path / "outside"
    outside.mkdir()
    assert Git(outside).toplevel() is None
