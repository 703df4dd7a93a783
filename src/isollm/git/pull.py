"""Bringing the hub's branches to the host: ``isollm sync pull``.

- :func:`pull_base` fast-forwards the base branch the hub advanced (``isollm merge``):
  a checked-out base only when its work tree is clean, never one with commits the hub
  lacks.
- :func:`pull_task_branches` brings task branches back as local branches when that is
  a fast-forward of a branch that is not checked out.

The hub's version of every branch is always kept under ``refs/remotes/isollm/``, so
nothing is lost, and no work tree with changes is ever touched.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from isollm.git.facade import Git
from isollm.git.hub import Hub
from isollm.git.parse import RefInfo, zsplit
from isollm.git.sync import TRACKING_NS, Relation, classify, task_id, tracking_ref


class PullOutcome(StrEnum):
    CREATED = "created"  # new local branch at the hub's commit
    UPDATED = "updated"  # local branch fast-forwarded
    UP_TO_DATE = "up-to-date"
    CHECKED_OUT = "checked-out"  # behind, but checked out: left for the user to merge
    LOCAL_AHEAD = "local-ahead"  # the host has commits the hub lacks: kept
    DIVERGED = "diverged"  # both sides have commits: the host's kept
    RACED = "raced"  # the local branch moved while we looked: left alone
    DIRTY = "dirty"  # the base, checked out with uncommitted changes: left alone


UPDATING = (PullOutcome.CREATED, PullOutcome.UPDATED)


def decide(local: str | None, relation: Relation, checked_out: bool) -> PullOutcome:
    """What pull does with one local branch, given how it stands to the hub's."""
    if local is None:
        return PullOutcome.CREATED
    return {
        Relation.SAME: PullOutcome.UP_TO_DATE,
        Relation.AHEAD: PullOutcome.LOCAL_AHEAD,
        Relation.DIVERGED: PullOutcome.DIVERGED,
        Relation.BEHIND: PullOutcome.CHECKED_OUT if checked_out else PullOutcome.UPDATED,
    }[relation]


@dataclass(frozen=True)
class PulledBranch:
    branch: str
    task_id: str
    hub_sha: str
    local_before: str | None
    outcome: PullOutcome
    local_ahead: int = 0  # host commits the hub's version lacks
    local_behind: int = 0  # hub commits the host's branch lacks
    uncommitted: tuple[str, ...] = ()  # DIRTY: files with changes in the work tree

    @property
    def tracking(self) -> str:
        """Short name of the hub's version in the host (``isollm/isollm/t1``)."""
        return tracking_ref(self.branch).removeprefix("refs/remotes/")

    @property
    def local_after(self) -> str | None:
        return self.hub_sha if self.outcome in UPDATING else self.local_before

    def to_json(self) -> dict[str, Any]:
        return {
            "branch": self.branch,
            "task_id": self.task_id,
            "hub_sha": self.hub_sha,
            "local_before": self.local_before,
            "local_after": self.local_after,
            "outcome": str(self.outcome),
            "tracking": self.tracking,
            "local_ahead": self.local_ahead,
            "local_behind": self.local_behind,
            "uncommitted": list(self.uncommitted),
        }


@dataclass(frozen=True)
class PullResult:
    hub: Path
    branches: tuple[PulledBranch, ...]
    removed: tuple[str, ...]  # task branches gone from the hub (their isollm/ copies too)
    base: PulledBranch | None = None  # the base branch (:func:`pull_base`), when pulled

    def count(self, *outcomes: PullOutcome) -> int:
        return sum(1 for b in self.branches if b.outcome in outcomes)

    def to_json(self) -> dict[str, Any]:
        return {
            "hub": str(self.hub),
            "base": self.base.to_json() if self.base is not None else None,
            "branches": [b.to_json() for b in self.branches],
            "removed": list(self.removed),
        }


def _tracked(host: Git, prefix: str) -> list[RefInfo]:
    start = tracking_ref(prefix)
    return [r for r in host.for_each_ref(TRACKING_NS) if r.ref.startswith(start)]


def pull_task_branches(host_root: Path, hub: Hub, prefix: str) -> PullResult:
    """Fetch every ``<prefix>*`` branch of the hub into the host.

    Never touches a work tree or the current branch and never moves a local branch
    backwards or sideways: such branches are reported, and the hub's commit is left
    in ``isollm/<branch>`` for the user to merge.
    """
    host = Git(host_root)
    hub.require().check()
    with hub.lock():
        before = {r.ref for r in _tracked(host, prefix)}
        spec = f"+refs/heads/{prefix}*:{tracking_ref(prefix)}*"
        host.fetch(hub.path, spec, prune=True)
        fetched = _tracked(host, prefix)
        checked_out = host.checked_out_branches()
        pulled = tuple(_pull_one(host, ref, prefix, checked_out) for ref in fetched)
    gone = before - {r.ref for r in fetched}
    return PullResult(hub.path, pulled, tuple(sorted(r.removeprefix(TRACKING_NS) for r in gone)))


def _pull_one(host: Git, tracked: RefInfo, prefix: str, checked_out: set[str]) -> PulledBranch:
    branch = tracked.ref.removeprefix(TRACKING_NS)
    ref = f"refs/heads/{branch}"
    local = host.branch_sha(branch)
    ahead, behind = host.ahead_behind(local, tracked.sha) if local else (0, 0)
    outcome = decide(local, classify(ahead, behind), ref in checked_out)
    if outcome in UPDATING and not host.update_ref(
        ref, tracked.sha, local, reason="isollm sync pull"
    ):
        outcome = PullOutcome.RACED
    return PulledBranch(branch, task_id(branch, prefix), tracked.sha, local, outcome, ahead, behind)


def pull_base(host_root: Path, hub: Hub, base_branch: str) -> PulledBranch | None:
    """Fast-forward the host's base branch to the hub's (None: the hub has no base).

    Not checked out: the ref moves (compare-and-swap). Checked out in the main work tree
    and clean: ``git merge --ff-only`` there. Checked out elsewhere, dirty, ahead or
    diverged: left alone and reported; the hub's version is ``isollm/<base>``.
    """
    host = Git(host_root)
    hub.require().check()
    ref = f"refs/heads/{base_branch}"
    with hub.lock():
        if hub.head_of(base_branch) is None:
            return None
        host.fetch(hub.path, f"+{ref}:{tracking_ref(base_branch)}")
    theirs = host.rev_parse(tracking_ref(base_branch))
    local = host.branch_sha(base_branch)
    ahead, behind = host.ahead_behind(local, theirs) if local else (0, 0)
    checked_out = ref in host.checked_out_branches()
    outcome = decide(local, classify(ahead, behind), checked_out)
    uncommitted: tuple[str, ...] = ()
    if outcome is PullOutcome.CHECKED_OUT and host.head_ref() == ref:
        outcome, uncommitted = _fast_forward_work_tree(host, theirs)
    elif outcome in UPDATING and not host.update_ref(ref, theirs, local, reason="isollm sync pull"):
        outcome = PullOutcome.RACED
    return PulledBranch(base_branch, "", theirs, local, outcome, ahead, behind, uncommitted)


def _fast_forward_work_tree(host: Git, theirs: str) -> tuple[PullOutcome, tuple[str, ...]]:
    """``git merge --ff-only`` in the host's work tree, only when nothing is uncommitted
    (untracked files git would overwrite make it refuse, and then nothing changed); the
    files in the way when it is not done."""
    if host.run("status", "--porcelain", "--untracked-files=no").stdout.strip():
        changed = host.run("diff", "--name-only", "-z", "HEAD", "--", check=False).stdout
        return PullOutcome.DIRTY, tuple(zsplit(changed))
    with interrupt_deferred():  # stopped midway, it would leave a half-updated work tree
        merged = host.run("merge", "--ff-only", "--quiet", theirs, check=False)
    if merged.returncode != 0:
        return PullOutcome.DIRTY, ()
    return PullOutcome.UPDATED, ()


@contextlib.contextmanager
def interrupt_deferred() -> Iterator[None]:
    """Hold a Ctrl-C (SIGINT) back until the body is over, then raise it: for a step
    that must not stop halfway. Outside the main thread (where no signal arrives) a
    no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt
