"""``isollm diff``: what a task's branch on the hub changes.

Two bases: the one the task *started from* and the base *now* (what landing the branch
would change today: the merge of the branch into the base's tip, computed without a
checkout). Only the hub is read; never a workspace, never the user's checkout.

Where a task started: the runner puts it on a branch at the run's base (its receipt's
base commit, else the merge-base with the base branch) and merges the branches of the
tasks it depends on into it before the agent begins; the task's own change starts
after those merges. :func:`branch_start` finds that commit on the branch's first-parent
line from the dependencies' tips the queue names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from isollm.config import Config
from isollm.config.load import is_isollm_path
from isollm.errors import IsollmError, StateError
from isollm.git.facade import Git
from isollm.git.hub import Hub
from isollm.land import plumbing
from isollm.land.plumbing import FileStat
from isollm.runner.layout import RunPaths, runs_dir
from isollm.runner.receipts import load_receipts

NO_HISTORY = "nothing (no common history)"
DEPENDENCIES_MERGED = "dependencies merged"


class Against(StrEnum):
    BASE = "base"  # the base the task started from
    NOW = "now"  # the base branch as it is on the hub now


class NoTaskBranchError(IsollmError):
    """The hub has no branch for the task."""


@dataclass(frozen=True)
class TaskDiff:
    task_id: str
    branch: str
    tip: str
    against: Against
    base: str  # the commit the diff starts from
    base_source: str  # "receipt", "merge-base" or "base branch now"
    files: list[FileStat]
    patch: str
    conflicts: list[str] = field(default_factory=list)  # against now: the merge conflicts
    dependencies: list[str] = field(default_factory=list)  # merged before it started

    @property
    def isollm_files(self) -> list[str]:
        """The files of isollm's own it changes (``isollm merge`` refuses those)."""
        return [f.path for f in self.files if is_isollm_path(f.path)]

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task_id,
            "branch": self.branch,
            "tip": self.tip,
            "against": str(self.against),
            "base": self.base,
            "base_source": self.base_source,
            "files": [f.to_json() for f in self.files],
            "conflicts": self.conflicts,
            "isollm_files": self.isollm_files,
            "dependencies": self.dependencies,
            "patch": self.patch,
        }


def task_branch(config: Config, task_id: str) -> str:
    return f"{config.git.branch_prefix}{task_id}"


def hub_of(config: Config) -> Hub:
    return Hub.for_project(config.project).require().check()


def task_diff(
    root: Path,
    config: Config,
    task_id: str,
    against: Against,
    dependencies: Sequence[str] = (),
) -> TaskDiff:
    """The diff of task ``task_id``'s branch on the hub against ``against``;
    ``dependencies``: the tasks it depends on (the queue says which)."""
    git = hub_of(config).git()
    branch = task_branch(config, task_id)
    tip = git.branch_sha(branch)
    if tip is None:
        raise NoTaskBranchError(
            f"the hub has no branch {branch} for task {task_id}",
            hint="`isollm sync status` lists the task branches on the hub",
        )
    base_now = git.branch_sha(config.git.base_branch)
    if against is Against.NOW:
        return _against_now(git, task_id, branch, tip, base_now)
    base, source = started_from(root, git, task_id, tip, base_now)
    merged: list[str] = []
    if source != NO_HISTORY:
        tips = dependency_tips(git, config.git.branch_prefix, dependencies, tip, base_now)
        start = branch_start(git, tip, [base, *tips.values()])
        if start is not None and start != base:
            base, source, merged = start, DEPENDENCIES_MERGED, list(tips)
    files = plumbing.numstat(git, base, tip)
    patch = plumbing.patch(git, base, tip)
    return TaskDiff(task_id, branch, tip, against, base, source, files, patch, [], merged)


def _against_now(git: Git, task_id: str, branch: str, tip: str, base_now: str | None) -> TaskDiff:
    if base_now is None:
        raise StateError(
            "the hub has no base branch", hint="run `isollm sync push` to publish yours"
        )
    merged = plumbing.merge_tree(git, base_now, tip)
    if merged.clean:
        new = merged.tree
        files = plumbing.numstat(git, base_now, new)
        text = plumbing.patch(git, base_now, new)
        return TaskDiff(task_id, branch, tip, Against.NOW, base_now, "base branch now", files, text)
    fork = (
        plumbing.merge_base(git, base_now, tip) or base_now
    )  # conflicts: the branch's own changes
    files = plumbing.numstat(git, fork, tip)
    text = plumbing.patch(git, fork, tip)
    return TaskDiff(
        task_id,
        branch,
        tip,
        Against.NOW,
        base_now,
        "base branch now",
        files,
        text,
        list(merged.conflicts),
    )


def started_from(
    root: Path, git: Git, task_id: str, tip: str, base_now: str | None
) -> tuple[str, str]:
    """The commit the task started from: its receipt's base commit when the hub has it,
    else the merge-base with the base branch, else the tip's first parent line's root."""
    recorded = receipt_base(root, task_id, tip)
    commit = git.resolve(recorded) if recorded else None
    if commit is not None:
        return commit, "receipt"
    fork = plumbing.merge_base(git, base_now, tip) if base_now else None
    if fork is not None:
        return fork, "merge-base"
    return plumbing.empty_tree(git), NO_HISTORY


def receipt_base(root: Path, task_id: str, tip: str) -> str | None:
    """The base commit of the task's receipt that delivered ``tip`` (else its latest)."""
    directory = runs_dir(root)
    if not directory.is_dir():
        return None
    found = []
    for run in sorted(p for p in directory.iterdir() if p.is_dir()):
        found += [r for r in load_receipts(RunPaths(run)).receipts if r.task_id == task_id]
    if not found:
        return None
    exact = [r for r in found if r.head_commit == tip]
    latest = max(exact or found, key=lambda r: r.ended)
    return latest.base_commit or None


def dependency_tips(
    git: Git, prefix: str, dependencies: Sequence[str], tip: str, base_now: str | None
) -> dict[str, str]:
    """The commit of each dependency's branch on the hub, by task (``base`` for those
    whose branch is gone: landed, then cleaned up); never one that holds the task's
    own tip (a branch built on this one is not where it started)."""
    found: dict[str, str] = {}
    for task_id in dict.fromkeys(dependencies):
        commit = git.branch_sha(f"{prefix}{task_id}") or base_now
        if commit is not None and (commit == tip or not git.is_ancestor(tip, commit)):
            found[task_id] = commit
    return found


def branch_start(git: Git, tip: str, known: Sequence[str]) -> str | None:
    """The commit on ``tip``'s first-parent line where the task's own work begins:
    past the commits ``known`` (the base, the dependencies' tips) reach, and past each
    merge that brought in only such commits (the runner's merges of the dependencies'
    branches, a fast-forward being none). None when the line shares no history with
    ``known``."""
    excluded = [f"^{commit}" for commit in dict.fromkeys(known)]
    listed = git.lines(
        ["rev-list", "--first-parent", "--parents", "--end-of-options", tip, *excluded, "--"]
    )
    line = [entry.split() for entry in listed]  # newest first: commit, then its parents
    if not line:
        return tip  # every commit of it is in what it started from: nothing of its own
    if len(line[-1]) < 2:
        return None
    start = line[-1][1]
    for commit, first, *others in reversed(line):
        if first != start or not others or not all(_reached(git, p, excluded) for p in others):
            break
        start = commit
    return start


def _reached(git: Git, commit: str, excluded: list[str]) -> bool:
    """Whether ``commit`` is in the history of one of the ``^``-excluded commits."""
    args = ["rev-list", "--max-count=1", "--end-of-options", commit, *excluded, "--"]
    return not git.lines(args)
