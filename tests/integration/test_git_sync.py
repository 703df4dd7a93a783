"""sync push / pull / status between real repositories whose branches diverge."""

from __future__ import annotations

from pathlib import Path

import pytest

from isollm.errors import GitError
from isollm.git.facade import Git
from isollm.git.hub import Hub, HubMissingError
from isollm.git.pull import PullOutcome, pull_task_branches
from isollm.git.sync import (
    BaseState,
    DivergedError,
    PushOutcome,
    hub_is_stale,
    push_base,
    sync_status,
    uncommitted_files,
)
from tests import gitutil
from tests.conftest import git

PREFIX = "isollm/"


def commit(repo: Path, name: str, message: str) -> str:
    path = repo / name
    path.write_text(path.read_text() + "more\n" if path.exists() else f"{message}\n")
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def hub(tmp_path: Path) -> Hub:
    return Hub(tmp_path / "hub" / "proj.git")


@pytest.fixture
def worker(git_repo: Path, hub: Hub, tmp_path: Path) -> Path:
    """A clone of the hub, as a sandbox has: the host's main pushed first."""
    push_base(git_repo, hub, "main")
    return gitutil.clone(hub.path, tmp_path / "worker")


def work_on(worker: Path, task: str, *messages: str) -> str:
    """Commit on the worker's task branch (created from main) and push it to the hub."""
    branch = PREFIX + task
    exists = git(worker, "branch", "--list", branch)
    git(worker, "checkout", "-q", *([branch] if exists else ["-b", branch, "origin/main"]))
    sha = ""
    for message in messages:
        sha = commit(worker, f"{task}.txt", message)
    git(worker, "push", "-q", "--force", "origin", f"{branch}:{branch}")
    return sha


def host_state(repo: Path) -> tuple[str, str, str]:
    """What pull must never change: HEAD, the current branch and the work tree status."""
    return (
        git(repo, "rev-parse", "HEAD"),
        git(repo, "symbolic-ref", "--short", "HEAD"),
        git(repo, "status", "--porcelain"),
    )


# -- push ------------------------------------------------------------------------------


def test_first_push_creates_the_hub_and_points_its_head_at_base(git_repo: Path, hub: Hub) -> None:
    result = push_base(git_repo, hub, "main")
    assert result.outcome is PushOutcome.CREATED
    assert result.hub_created
    assert result.old is None
    assert result.new == hub.head_of("main") == git(git_repo, "rev-parse", "main")
    assert git(hub.path, "symbolic-ref", "HEAD") == "refs/heads/main"
    again = push_base(git_repo, hub, "main")
    assert again.outcome is PushOutcome.UP_TO_DATE
    assert not again.hub_created


def test_push_sends_the_base_branch_not_the_checked_out_one(git_repo: Path, hub: Hub) -> None:
    push_base(git_repo, hub, "main")
    main = commit(git_repo, "m.txt", "on main")
    git(git_repo, "checkout", "-q", "-b", "feature")
    commit(git_repo, "f.txt", "on feature")
    result = push_base(git_repo, hub, "main")
    assert result.outcome is PushOutcome.UPDATED
    assert hub.head_of("main") == main
    assert not hub.has_branch("feature")


def test_push_a_non_default_base_branch(git_repo: Path, hub: Hub) -> None:
    git(git_repo, "branch", "develop")
    push_base(git_repo, hub, "develop")
    assert git(hub.path, "symbolic-ref", "HEAD") == "refs/heads/develop"
    assert not hub.has_branch("main")


def test_push_without_the_base_branch_says_what_to_do(git_repo: Path, hub: Hub) -> None:
    with pytest.raises(GitError, match="no branch 'trunk'") as info:
        push_base(git_repo, hub, "trunk")
    assert "git.base_branch" in str(info.value)
    assert not hub.exists()


def test_push_refuses_when_the_hub_diverged(git_repo: Path, hub: Hub, worker: Path) -> None:
    hub_side = commit(worker, "w.txt", "pushed to the hub's main")
    git(worker, "push", "-q", "origin", "main")
    mine = commit(git_repo, "h.txt", "host work")
    with pytest.raises(DivergedError, match="1 commit") as info:
        push_base(git_repo, hub, "main")
    assert "git merge isollm/main" in str(info.value)
    assert hub.head_of("main") == hub_side  # untouched
    assert git(git_repo, "rev-parse", "main") == mine
    assert git(git_repo, "rev-parse", "refs/remotes/isollm/main") == hub_side
    git(git_repo, "merge", "-q", "--no-edit", "isollm/main")
    merged = push_base(git_repo, hub, "main")
    assert merged.outcome is PushOutcome.UPDATED
    assert Git(git_repo).is_ancestor(hub_side, hub.head_of("main") or "")


def test_push_refuses_when_the_hub_is_ahead(git_repo: Path, hub: Hub, worker: Path) -> None:
    commit(worker, "w.txt", "hub only")
    git(worker, "push", "-q", "origin", "main")
    with pytest.raises(DivergedError):
        push_base(git_repo, hub, "main")


def test_forced_push_replaces_the_hubs_base_and_keeps_a_reflog(
    git_repo: Path, hub: Hub, worker: Path
) -> None:
    hub_side = commit(worker, "w.txt", "to be dropped")
    git(worker, "push", "-q", "origin", "main")
    mine = commit(git_repo, "h.txt", "host work")
    result = push_base(git_repo, hub, "main", force=True)
    assert result.outcome is PushOutcome.FORCED
    assert result.dropped == 1
    assert result.old == hub_side
    assert hub.head_of("main") == mine
    assert hub_side in git(hub.path, "reflog", "show", "--format=%H", "refs/heads/main")


# -- pull ------------------------------------------------------------------------------


def test_pull_without_a_hub_says_how_to_create_one(git_repo: Path, hub: Hub) -> None:
    with pytest.raises(HubMissingError, match="sync push"):
        pull_task_branches(git_repo, hub, PREFIX)


def test_pull_creates_local_branches_without_touching_the_work_tree(
    git_repo: Path, hub: Hub, worker: Path
) -> None:
    t1 = work_on(worker, "t1", "one", "two")
    t2 = work_on(worker, "t2", "other")
    (git_repo / "README.md").write_text("uncommitted edit\n")
    before = host_state(git_repo)
    result = pull_task_branches(git_repo, hub, PREFIX)
    assert [(b.branch, b.task_id, b.outcome) for b in result.branches] == [
        ("isollm/t1", "t1", PullOutcome.CREATED),
        ("isollm/t2", "t2", PullOutcome.CREATED),
    ]
    assert git(git_repo, "rev-parse", "isollm/t1") == t1
    assert git(git_repo, "rev-parse", "refs/remotes/isollm/isollm/t2") == t2
    assert host_state(git_repo) == before
    again = pull_task_branches(git_repo, hub, PREFIX)
    assert {b.outcome for b in again.branches} == {PullOutcome.UP_TO_DATE}


def test_pull_fast_forwards_a_branch_that_is_not_checked_out(
    git_repo: Path, hub: Hub, worker: Path
) -> None:
    first = work_on(worker, "t1", "one")
    pull_task_branches(git_repo, hub, PREFIX)
    second = work_on(worker, "t1", "two")
    (b,) = pull_task_branches(git_repo, hub, PREFIX).branches
    assert b.outcome is PullOutcome.UPDATED
    assert (b.local_before, b.local_after) == (first, second)
    assert git(git_repo, "rev-parse", "isollm/t1") == second


def test_pull_leaves_a_checked_out_branch_and_its_files_alone(
    git_repo: Path, hub: Hub, worker: Path
) -> None:
    first = work_on(worker, "t1", "one")
    pull_task_branches(git_repo, hub, PREFIX)
    git(git_repo, "checkout", "-q", "isollm/t1")
    second = work_on(worker, "t1", "two")
    before = host_state(git_repo)
    (b,) = pull_task_branches(git_repo, hub, PREFIX).branches
    assert b.outcome is PullOutcome.CHECKED_OUT
    assert b.local_behind == 1
    assert host_state(git_repo) == before
    assert git(git_repo, "rev-parse", "isollm/t1") == first
    assert git(git_repo, "rev-parse", "isollm/isollm/t1") == second


def test_pull_leaves_a_branch_checked_out_in_another_worktree(
    git_repo: Path, hub: Hub, worker: Path, tmp_path: Path
) -> None:
    first = work_on(worker, "t1", "one")
    pull_task_branches(git_repo, hub, PREFIX)
    git(git_repo, "worktree", "add", "-q", str(tmp_path / "wt"), "isollm/t1")
    work_on(worker, "t1", "two")
    (b,) = pull_task_branches(git_repo, hub, PREFIX).branches
    assert b.outcome is PullOutcome.CHECKED_OUT
    assert git(tmp_path / "wt", "rev-parse", "HEAD") == first
    assert git(tmp_path / "wt", "status", "--porcelain") == ""


def test_pull_keeps_host_commits_on_a_task_branch(git_repo: Path, hub: Hub, worker: Path) -> None:
    work_on(worker, "t1", "one")
    pull_task_branches(git_repo, hub, PREFIX)
    git(git_repo, "checkout", "-q", "isollm/t1")
    mine = commit(git_repo, "fix.txt", "host fix on the task branch")
    git(git_repo, "checkout", "-q", "main")
    (b,) = pull_task_branches(git_repo, hub, PREFIX).branches
    assert b.outcome is PullOutcome.LOCAL_AHEAD
    assert b.local_ahead == 1
    assert git(git_repo, "rev-parse", "isollm/t1") == mine


def test_pull_never_discards_a_diverged_host_branch(git_repo: Path, hub: Hub, worker: Path) -> None:
    work_on(worker, "t1", "one")
    pull_task_branches(git_repo, hub, PREFIX)
    git(git_repo, "checkout", "-q", "isollm/t1")
    mine = commit(git_repo, "fix.txt", "host fix")
    git(git_repo, "checkout", "-q", "main")
    theirs = work_on(worker, "t1", "worker two", "worker three")
    (b,) = pull_task_branches(git_repo, hub, PREFIX).branches
    assert b.outcome is PullOutcome.DIVERGED
    assert (b.local_ahead, b.local_behind) == (1, 2)
    assert git(git_repo, "rev-parse", "isollm/t1") == mine
    assert git(git_repo, "rev-parse", b.tracking) == theirs


def test_pull_reports_task_branches_gone_from_the_hub(
    git_repo: Path, hub: Hub, worker: Path
) -> None:
    kept = work_on(worker, "t1", "one")
    work_on(worker, "t2", "two")
    pull_task_branches(git_repo, hub, PREFIX)
    git(worker, "push", "-q", "origin", "--delete", "isollm/t1")
    result = pull_task_branches(git_repo, hub, PREFIX)
    assert result.removed == ("isollm/t1",)
    assert [b.branch for b in result.branches] == ["isollm/t2"]
    assert not gitutil.ref_exists(git_repo, "refs/remotes/isollm/isollm/t1")
    assert git(git_repo, "rev-parse", "isollm/t1") == kept  # the local branch stays


def test_pull_only_fetches_branches_with_the_prefix(git_repo: Path, hub: Hub, worker: Path) -> None:
    git(worker, "push", "-q", "origin", "main:refs/heads/isollmx/not-a-task")
    work_on(worker, "t1", "one")
    result = pull_task_branches(git_repo, hub, PREFIX)
    assert [b.branch for b in result.branches] == ["isollm/t1"]
    assert not Git(git_repo).branch_exists("isollmx/not-a-task")


def test_pull_does_not_move_a_branch_that_changed_meanwhile(
    git_repo: Path, hub: Hub, worker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work_on(worker, "t1", "one")
    pull_task_branches(git_repo, hub, PREFIX)
    work_on(worker, "t1", "two")
    racer = git(git_repo, "commit-tree", "-m", "racer", "-p", "main", "main^{tree}")
    original = Git.update_ref

    def move_first(self: Git, ref: str, new: str, old: str | None, *, reason: str = "") -> bool:
        git(git_repo, "update-ref", ref, racer)  # someone else moves it between look and leap
        return original(self, ref, new, old, reason=reason)

    monkeypatch.setattr(Git, "update_ref", move_first)
    (b,) = pull_task_branches(git_repo, hub, PREFIX).branches
    assert b.outcome is PullOutcome.RACED
    assert git(git_repo, "rev-parse", "isollm/t1") == racer


# -- status and staleness ----------------------------------------------------------------


def test_status_before_any_hub(git_repo: Path, hub: Hub) -> None:
    s = sync_status(git_repo, hub, "main", PREFIX)
    assert s.base.state is BaseState.NO_HUB
    assert not s.hub_exists
    assert s.host_branch == "main"
    assert s.host_commit == git(git_repo, "rev-parse", "HEAD")
    assert s.task_branches == ()
    assert not hub_is_stale(git_repo, hub, "main")
    assert not hub.exists()


def test_an_empty_hub_is_stale(git_repo: Path, hub: Hub) -> None:
    hub.ensure()
    s = sync_status(git_repo, hub, "main", PREFIX)
    assert s.base.state is BaseState.NOT_PUSHED
    assert s.base.ahead == 1
    assert hub_is_stale(git_repo, hub, "main")


def test_host_commits_make_the_hub_stale(git_repo: Path, hub: Hub) -> None:
    push_base(git_repo, hub, "main")
    assert not hub_is_stale(git_repo, hub, "main")
    assert sync_status(git_repo, hub, "main", PREFIX).base.state is BaseState.IN_SYNC
    commit(git_repo, "a.txt", "a")
    commit(git_repo, "b.txt", "b")
    s = sync_status(git_repo, hub, "main", PREFIX)
    assert (s.base.state, s.base.ahead, s.base.behind) == (BaseState.AHEAD, 2, 0)
    assert hub_is_stale(git_repo, hub, "main")
    push_base(git_repo, hub, "main")
    assert not hub_is_stale(git_repo, hub, "main")


def test_status_compares_with_the_hub_without_fetching(
    git_repo: Path, hub: Hub, worker: Path
) -> None:
    hub_side = commit(worker, "w.txt", "hub only")
    git(worker, "push", "-q", "origin", "main")
    s = sync_status(git_repo, hub, "main", PREFIX)
    assert (s.base.state, s.base.behind) == (BaseState.BEHIND, 1)
    assert not hub_is_stale(git_repo, hub, "main")  # workers have everything the host has
    assert not gitutil.has_commit(git_repo, hub_side)  # status only read
    commit(git_repo, "h.txt", "host only")
    s = sync_status(git_repo, hub, "main", PREFIX)
    assert (s.base.state, s.base.ahead, s.base.behind) == (BaseState.DIVERGED, 1, 1)
    assert hub_is_stale(git_repo, hub, "main")


def test_status_lists_task_branches_ahead_and_merged(
    git_repo: Path, hub: Hub, worker: Path
) -> None:
    t1 = work_on(worker, "t1", "first", "implement t1")
    work_on(worker, "t2", "t2 work")
    s = sync_status(git_repo, hub, "main", PREFIX)
    assert [(t.branch, t.task_id, t.ahead, t.merged) for t in s.task_branches] == [
        ("isollm/t1", "t1", 2, False),
        ("isollm/t2", "t2", 1, False),
    ]
    first = s.task_branches[0]
    assert (first.sha, first.subject, first.host_sha) == (t1, "implement t1", None)
    assert first.time.timestamp() == int(git(worker, "log", "-1", "--format=%ct", t1))
    pull_task_branches(git_repo, hub, PREFIX)
    git(git_repo, "merge", "-q", "--ff-only", "isollm/t1")
    s = sync_status(git_repo, hub, "main", PREFIX)
    t1_status = s.task_branches[0]
    assert (t1_status.ahead, t1_status.merged, t1_status.host_sha) == (0, True, t1)
    assert s.base.state is BaseState.AHEAD  # merged work not pushed yet
    assert s.to_json()["task_branches"][0]["pulled"] is True


def test_status_in_a_detached_host(git_repo: Path, hub: Hub) -> None:
    push_base(git_repo, hub, "main")
    git(git_repo, "checkout", "-q", "--detach")
    s = sync_status(git_repo, hub, "main", PREFIX)
    assert s.host_branch is None
    assert s.base.state is BaseState.IN_SYNC


def test_status_without_the_base_branch(git_repo: Path, hub: Hub) -> None:
    push_base(git_repo, hub, "main")
    s = sync_status(git_repo, hub, "trunk", PREFIX)
    assert s.base.state is BaseState.NO_HOST_BRANCH
    assert not hub_is_stale(git_repo, hub, "trunk")


def test_status_reads_a_hub_whose_path_has_colons_and_quotes(
    git_repo: Path, tmp_path: Path
) -> None:
    hub = Hub(tmp_path / 'odd: "name"' / "p.git")
    push_base(git_repo, hub, "main")
    worker = gitutil.clone(hub.path, tmp_path / "w")
    commit(worker, "w.txt", "hub only")
    git(worker, "push", "-q", "origin", "main")
    s = sync_status(git_repo, hub, "main", PREFIX)
    assert (s.base.state, s.base.behind) == (BaseState.BEHIND, 1)


def test_uncommitted_files_lists_changes_or_says_it_cannot_tell(git_repo: Path) -> None:
    assert uncommitted_files(Git(git_repo)) == []
    (git_repo / "README.md").write_text("edited\n")
    (git_repo / "new.txt").write_text("untracked\n")
    assert sorted(uncommitted_files(Git(git_repo)) or []) == ["README.md", "new.txt"]
    (git_repo / ".git" / "index").write_bytes(b"not an index")  # git status fails
    assert uncommitted_files(Git(git_repo)) is None
