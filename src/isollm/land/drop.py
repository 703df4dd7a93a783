"""``isollm gc --task ID``: drop the work of named tasks, on purpose.

What goes, per task: its branch on the hub, and your local branch of the same name when
it is at the same commit (a local branch holding other commits is yours: it stays).
Before the hub branch goes its tip is kept under ``refs/isollm/backup/`` (which gc
removes past ``--older-than``, like every backup ref), so the work can be brought back.

:func:`plan` only looks and refuses before anything moves: a task with nothing to drop,
a task in progress (unless forced). :func:`drop` removes what the plan found, by
compare-and-set (a branch that moved since it was listed stays).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from isollm import proc
from isollm.errors import GitError, IsollmError
from isollm.git.facade import Git
from isollm.git.hub import Hub
from isollm.git.intake import BACKUP_NS
from isollm.land import plumbing
from isollm.sandbox.workers import Project
from isollm.tasks.store.model import Status

MAX_SUBJECTS = 10
# A task id as it can name a branch: letters, digits, '.', '_', '+', '-'; no "..".
_TASK_ID = re.compile(r"^(?![.-])(?!.*\.\.)(?!.*\.lock$)[A-Za-z0-9._+-]+$")

StatusOf = Callable[[str], str | None]  # a task's status in the queue; None: not in it


class NothingToDropError(IsollmError):
    """A named task has no branch to drop."""


class TaskBusyError(IsollmError):
    """A named task is in progress: its agent is still working on the branch."""


@dataclass(frozen=True)
class TaskWork:
    """One task's work as it stands: what ``drop`` removes, and what it keeps."""

    task_id: str
    branch: str
    tip: str  # the hub branch's commit
    ahead: int  # commits of it not on the base branch
    subjects: list[str]  # the newest of them (at most MAX_SUBJECTS), newest first
    local: str | None  # your local branch's commit when it goes with it
    local_kept: str = ""  # why your local branch of that name stays
    status: str | None = None  # the task's status in the queue (None: not in the queue)

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task_id,
            "branch": self.branch,
            "tip": self.tip,
            "ahead": self.ahead,
            "subjects": self.subjects,
            "local": self.local,
            "local_kept": self.local_kept,
            "status": self.status,
        }


@dataclass(frozen=True)
class Dropped:
    work: TaskWork
    kept_as: str = ""  # the backup ref holding the hub tip
    hub_removed: bool = False
    local_removed: bool = False


@dataclass(frozen=True)
class DropReport:
    dropped: list[Dropped]
    hub: str  # the hub's path (to bring a branch back)
    problems: list[str] = field(default_factory=list)
    dry_run: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "hub": self.hub,
            "tasks": [
                {
                    **d.work.to_json(),
                    "kept_as": d.kept_as,
                    "hub_removed": d.hub_removed,
                    "local_removed": d.local_removed,
                }
                for d in self.dropped
            ],
            "problems": self.problems,
        }


def plan(
    project: Project, task_ids: Sequence[str], status_of: StatusOf, *, force: bool = False
) -> list[TaskWork]:
    """What dropping ``task_ids`` removes; raises (nothing moved) when a task has no
    branch, or is in progress and ``force`` is not given."""
    hub = Hub.for_project(project.name)
    hub_git = hub.require().check().git()
    host = Git(project.root)
    prefix, base = project.config.git.branch_prefix, project.config.git.base_branch
    target = hub_git.branch_sha(base)
    busy = host.checked_out_branches()
    wanted = list(dict.fromkeys(task_ids))
    for task_id in wanted:
        _check_id(task_id, prefix, base)
    found = []
    for task_id in wanted:
        work = _work(hub_git, host, busy, f"{prefix}{task_id}", task_id, target)
        status = status_of(task_id)
        if status == Status.IN_PROGRESS and not force:
            raise TaskBusyError(
                f"task {task_id} is in progress: an agent is still working on {work.branch}; "
                "nothing was removed",
                hint=f"wait for it to end or `isollm task release {task_id}` it, "
                "or pass --force to drop its branch anyway",
            )
        found.append(dataclasses.replace(work, status=status))
    return found


def _check_id(task_id: str, prefix: str, base: str) -> None:
    if not _TASK_ID.match(task_id) or f"{prefix}{task_id}" == base:
        raise NothingToDropError(
            f"{task_id!r} is not a task id: nothing was removed",
            hint="`isollm task list` shows the ids",
        )


def _work(
    hub: Git, host: Git, busy: set[str], branch: str, task_id: str, target: str | None
) -> TaskWork:
    tip = hub.branch_sha(branch)
    mine = host.branch_sha(branch)
    if tip is None:
        kept = f"; your local {branch} stays (it may hold work of yours)" if mine else ""
        raise NothingToDropError(
            f"the hub has no branch {branch} for task {task_id}: nothing was removed{kept}",
            hint="`isollm sync status` lists the task branches on the hub",
        )
    ahead = hub.count_commits(target, tip)
    newest = plumbing.commits(hub, target, tip, limit=MAX_SUBJECTS)
    subjects = [c.subject for c in reversed(newest)]
    local, kept = _local(mine, tip, f"refs/heads/{branch}" in busy)
    return TaskWork(task_id, branch, tip, ahead, subjects, local, kept)


def _local(mine: str | None, tip: str, checked_out: bool) -> tuple[str | None, str]:
    """(your local branch's commit when it goes, else why it stays)."""
    if mine is None:
        return None, ""
    if mine != tip:
        return None, f"it is at {mine[:12]}, not at the hub's {tip[:12]}: it may hold your work"
    if checked_out:
        return None, "it is checked out"
    return mine, ""


def drop(project: Project, works: Sequence[TaskWork], *, dry_run: bool = False) -> DropReport:
    """Remove what :func:`plan` found: each hub branch (its tip kept first under
    ``refs/isollm/backup/``) and the local branches still at that commit and not
    checked out."""
    hub = Hub.for_project(project.name)
    if dry_run:
        return DropReport([Dropped(w) for w in works], str(hub.path), dry_run=True)
    hub_git, host = hub.require().check().git(), Git(project.root)
    dropped, problems = [], []
    for work in works:
        try:
            dropped.append(_drop_one(hub_git, host, work))
        except (IsollmError, OSError) as exc:
            problems.append(f"could not drop the work of task {work.task_id}: {exc}")
            dropped.append(Dropped(work))
    return DropReport(dropped, str(hub.path), problems)


def _drop_one(hub: Git, host: Git, work: TaskWork) -> Dropped:
    ref = f"refs/heads/{work.branch}"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    kept_as = f"{BACKUP_NS}{ref.removeprefix('refs/')}/{stamp}"
    if not hub.update_ref(kept_as, work.tip, None, reason="isollm gc --task: dropped"):
        raise IsollmError(f"could not keep {work.branch}'s tip at {kept_as}: it stays")
    if not _delete(hub, ref, work.tip):
        hub.delete_ref(kept_as, work.tip)
        raise IsollmError(f"{work.branch} moved on the hub since it was listed: it stays")
    local_removed = False
    if work.local is not None and ref not in host.checked_out_branches():
        local_removed = _delete(host, ref, work.local)
    return Dropped(work, kept_as, True, local_removed)


def _delete(git: Git, ref: str, old: str) -> bool:
    """Delete ``ref`` while it is at ``old``; False when it moved (it stays)."""
    result = git.run("update-ref", "-m", "isollm gc --task", "-d", ref, old, check=False)
    if result.ok:
        return True
    if git.resolve(ref) != old:
        return False
    raise GitError(proc.describe_failure(result))
