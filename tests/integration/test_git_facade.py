"""The git facade against real repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from isollm.errors import GitError
from isollm.git.facade import Git
from isollm.git.parse import StatusEntry
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


def test_branches_create_exists_and_checkout(git_repo: Path) -> None:
    g = Git(git_repo)
    g.create_branch("isollm/t1")
    assert g.branch_exists("isollm/t1")
    assert not g.branch_exists("isollm/t2")
    g.checkout("isollm/t2", create_from="main")
    assert g.current_branch() == "isollm/t2"
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
    g.delete_ref("refs/heads/x")
    assert not g.branch_exists("x")


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
    assert g.merge_base("side", "main") == base
    assert g.count_commits("main", "side") == 2
    assert g.count_commits(None, "main") == 2
    assert g.log_subject("side") == "more side work"
    assert g.has_commit(side)
    assert not g.has_commit("0123456789" * 4)
    with pytest.raises(GitError):
        g.is_ancestor("0123456789" * 4, main)


def test_merge_base_of_unrelated_histories_is_none(git_repo: Path) -> None:
    g = Git(git_repo)
    git(git_repo, "checkout", "-q", "--orphan", "other")
    commit(git_repo, "o.txt", "o", "unrelated")
    assert g.merge_base("main", "other") is None


def test_has_unpushed(git_repo: Path) -> None:
    g = Git(git_repo)
    git(git_repo, "update-ref", "refs/remotes/origin/main", "HEAD")
    assert not g.has_unpushed("main", "origin/main")
    commit(git_repo, "c.txt", "c", "local only")
    assert g.has_unpushed("main", "origin/main")
    assert g.has_unpushed("main", "origin/missing")
    assert not g.has_unpushed("no-branch", "origin/main")


def test_status_and_commit_all(git_repo: Path) -> None:
    g = Git(git_repo)
    assert g.status_porcelain() == []
    assert not g.is_dirty()
    assert g.commit_all("nothing") is None
    (git_repo / "README.md").write_text("changed\n")
    (git_repo / "dir with space").mkdir()
    (git_repo / "dir with space" / "new\nline.txt").write_text("x")
    assert sorted(g.status_porcelain(), key=lambda e: e.path) == [
        StatusEntry(" ", "M", "README.md"),
        StatusEntry("?", "?", "dir with space/new\nline.txt"),
    ]
    sha = g.commit_all("-m looks like an option\n\nand a body")
    assert sha == g.rev_parse("HEAD")
    assert g.log_subject() == "-m looks like an option"
    assert not g.is_dirty()


def test_commit_all_records_deletions_and_renames(git_repo: Path) -> None:
    g = Git(git_repo)
    git(git_repo, "mv", "README.md", "DOCS.md")
    (status,) = g.status_porcelain()
    assert status == StatusEntry("R", " ", "DOCS.md", "README.md")
    assert g.commit_all("rename") is not None
    (git_repo / "DOCS.md").unlink()
    assert g.commit_all("delete") is not None
    assert git(git_repo, "ls-files") == ""


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


def test_init_bare_clone_push_and_fetch(git_repo: Path, tmp_path: Path) -> None:
    bare = Git.init_bare(tmp_path / "hub.git", initial_branch="main")
    assert bare.is_bare()
    host = Git(git_repo)
    host.push(bare.cwd, "refs/heads/main:refs/heads/main")
    assert bare.branch_sha("main") == host.head()
    clone = Git.clone(bare.cwd, tmp_path / "clone")
    assert clone.head() == host.head()
    assert not clone.is_bare()
    commit(clone.cwd, "w.txt", "w", "worker")
    clone.push("origin", "HEAD:refs/heads/isollm/t1")
    host.fetch(bare.cwd, "+refs/heads/isollm/*:refs/remotes/hub/isollm/*")
    assert host.resolve("refs/remotes/hub/isollm/t1") == clone.head()


def test_push_with_lease_refuses_a_moved_ref(git_repo: Path, tmp_path: Path) -> None:
    bare = Git.init_bare(tmp_path / "hub.git")
    host = Git(git_repo)
    first = host.rev_parse("HEAD")
    host.push(bare.cwd, "main:refs/heads/main", force_with_lease={"refs/heads/main": None})
    second = commit(git_repo, "n.txt", "n", "next")
    with pytest.raises(GitError, match="stale info"):
        host.push(bare.cwd, "main:refs/heads/main", force_with_lease={"refs/heads/main": second})
    host.push(bare.cwd, "main:refs/heads/main", force_with_lease={"refs/heads/main": first})
    assert bare.branch_sha("main") == second


def test_push_skips_the_hosts_pre_push_hook(git_repo: Path, tmp_path: Path) -> None:
    hook = git_repo / ".git" / "hooks" / "pre-push"
    hook.write_text("#!/bin/sh\necho hook says no >&2\nexit 1\n")
    hook.chmod(0o755)
    bare = Git.init_bare(tmp_path / "hub.git")
    Git(git_repo).push(bare.cwd, "main:refs/heads/main")
    assert bare.branch_exists("main")
    with pytest.raises(GitError, match="hook says no"):
        Git(git_repo).push(bare.cwd, "main:refs/heads/other", no_verify=False)


def test_worktrees(git_repo: Path, tmp_path: Path) -> None:
    g = Git(git_repo)
    wt = g.worktree_add(tmp_path / "wt one", "isollm/t1", start="main")
    assert wt.current_branch() == "isollm/t1"
    assert g.checked_out_branches() == {"refs/heads/main", "refs/heads/isollm/t1"}
    (tmp_path / "wt one" / "f.txt").write_text("dirty")
    with pytest.raises(GitError):
        g.worktree_remove(tmp_path / "wt one")
    g.worktree_remove(tmp_path / "wt one", force=True)
    assert not (tmp_path / "wt one").exists()
    assert g.checked_out_branches() == {"refs/heads/main"}
    g.worktree_add(tmp_path / "again", "isollm/t1")
    assert Git(tmp_path / "again").current_branch() == "isollm/t1"


def test_toplevel(git_repo: Path, tmp_path: Path) -> None:
    (git_repo / "sub").mkdir()
    assert Git(git_repo / "sub").toplevel() == git_repo
    outside = tmp_path / "outside"
    outside.mkdir()
    assert Git(outside).toplevel() is None


def test_clone_copies_objects_unless_hardlinks_are_asked_for(
    git_repo: Path, tmp_path: Path
) -> None:
    bare = Git.init_bare(tmp_path / "hub.git")
    Git(git_repo).push(bare.cwd, "main:refs/heads/main")
    sha = bare.rev_parse("main")
    loose = f"objects/{sha[:2]}/{sha[2:]}"
    copied = Git.clone(bare.cwd, tmp_path / "copied", branch="main")
    linked = Git.clone(bare.cwd, tmp_path / "linked", bare=True, hardlinks=True)
    assert (copied.cwd / ".git" / loose).stat().st_nlink == 1
    assert (linked.cwd / loose).stat().st_nlink > 1
    assert linked.is_bare()
