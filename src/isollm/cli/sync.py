"""``isollm sync push|pull|status``: commits between your repository and the hub."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import click

from isollm import config as cfg
from isollm import terminal
from isollm.cli import output
from isollm.git import pull as hubpull
from isollm.git import sync
from isollm.git.hub import Hub
from isollm.git.pull import PullOutcome
from isollm.git.sync import BaseState, PushOutcome

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print a JSON document.")


@dataclass(frozen=True)
class Project:
    root: Path
    hub: Hub
    base_branch: str
    prefix: str


def _project() -> Project:
    loaded = cfg.load_valid()
    c = loaded.valid()
    return Project(loaded.root, Hub.for_project(c.project), c.git.base_branch, c.git.branch_prefix)


@click.group("sync")
def sync_group() -> None:
    """Move commits between your repository and the project's hub.

    The hub is a bare repository ($ISOLLM_HOME/<project>.git) that workers clone
    from and push their task branches to; your checkout is never touched by agents.
    """


@sync_group.command("push")
@click.option(
    "--force",
    is_flag=True,
    help="Replace the hub's base branch even if it has commits yours lacks.",
)
@JSON_OPTION
def push(force: bool, as_json: bool) -> None:
    """Push your base branch (git.base_branch) to the hub, creating the hub on first use.

    The base branch is pushed whatever branch you have checked out. If the hub's
    copy has commits yours lacks, nothing is pushed: they are fetched to
    isollm/<base> for you to merge, unless you pass --force.
    """
    p = _project()
    result = sync.push_base(p.root, p.hub, p.base_branch, force=force)
    if as_json:
        output.emit_json("sync-push", result.to_json())
    else:
        output.info(render_push(result))


@sync_group.command("pull")
@JSON_OPTION
def pull(as_json: bool) -> None:
    """Bring the base branch and the task branches (<branch_prefix><task-id>) from the hub.

    The base branch (advanced on the hub by `isollm merge`) is fast-forwarded, in your
    work tree too when it is checked out and has no uncommitted changes. A task branch
    is created or fast-forwarded unless it is checked out or has commits the hub
    lacks. A branch with commits the hub lacks is never moved, and a work tree with
    changes is never touched. The hub's version of every branch is kept as
    isollm/<branch>.
    """
    p = _project()
    base = hubpull.pull_base(p.root, p.hub, p.base_branch)
    result = dataclasses.replace(hubpull.pull_task_branches(p.root, p.hub, p.prefix), base=base)
    if as_json:
        output.emit_json("sync-pull", result.to_json())
    else:
        for line in render_pull(result):
            output.info(line)


@sync_group.command("status")
@JSON_OPTION
def status(as_json: bool) -> None:
    """Show your base branch against the hub's, and every task branch on the hub."""
    p = _project()
    result = sync.sync_status(p.root, p.hub, p.base_branch, p.prefix)
    if as_json:
        output.emit_json("sync-status", result.to_json())
    else:
        for line in render_status(result, datetime.now(UTC)):
            output.info(line)


# -- rendering (pure) -----------------------------------------------------------------


def render_push(r: sync.PushResult) -> str:
    where = f"the new hub {r.hub}" if r.hub_created else f"the hub {r.hub}"
    old, new = sync.short(r.old), sync.short(r.new)
    match r.outcome:
        case PushOutcome.CREATED:
            return f"Pushed {r.branch} ({new}) to {where}"
        case PushOutcome.UPDATED:
            return f"Pushed {r.branch} to {where}: {old}..{new}"
        case PushOutcome.UP_TO_DATE:
            return f"The hub's {r.branch} is already at {new}; nothing to push"
        case PushOutcome.FORCED:
            return (
                f"Replaced the hub's {r.branch}: {old} -> {new} ({r.dropped} hub commit(s) "
                "dropped; they stay in the hub's reflog)"
            )
        case PushOutcome.HUB_AHEAD:
            return f"The hub's {r.branch} ({old}) is ahead of yours; nothing to push"


_SUMMARY = (
    ("created", (PullOutcome.CREATED,)),
    ("updated", (PullOutcome.UPDATED,)),
    ("up to date", (PullOutcome.UP_TO_DATE,)),
    (
        "left alone",
        (PullOutcome.CHECKED_OUT, PullOutcome.LOCAL_AHEAD, PullOutcome.DIVERGED, PullOutcome.RACED),
    ),
)


def render_pull(r: hubpull.PullResult) -> list[str]:
    lines = [f"Base {r.base.branch}: {_pulled(r.base)}"] if r.base is not None else []
    if not r.branches:
        lines.append(f"No task branches on the hub {r.hub}.")
        if r.removed:
            lines.append(f"Gone from the hub (local branches kept): {', '.join(r.removed)}")
        return lines
    counts = [f"{r.count(*outs)} {label}" for label, outs in _SUMMARY if r.count(*outs)]
    lines.append(f"Pulled {len(r.branches)} task branch(es) from {r.hub}: {', '.join(counts)}")
    lines += [
        f"  {b.branch}  {_pulled(b)}" for b in r.branches if b.outcome is not PullOutcome.UP_TO_DATE
    ]
    if r.removed:
        lines.append(f"Gone from the hub (local branches kept): {', '.join(r.removed)}")
    return lines


_PULLED = {
    PullOutcome.CREATED: "created at {hub}",
    PullOutcome.UPDATED: "fast-forwarded {before}..{hub}",
    PullOutcome.UP_TO_DATE: "up to date",
    PullOutcome.CHECKED_OUT: (
        "checked out and {behind} commit(s) behind; left alone: `git merge --ff-only {tracking}`"
    ),
    PullOutcome.LOCAL_AHEAD: "yours has {ahead} commit(s) the hub lacks; kept yours",
    PullOutcome.DIVERGED: (
        "diverged ({ahead} yours, {behind} the hub's); kept yours, "
        "the hub's is {tracking}: `git merge {tracking}`"
    ),
    PullOutcome.RACED: "changed while pulling; left alone: run `isollm sync pull` again",
    PullOutcome.DIRTY: (
        "checked out with uncommitted changes{files}; left alone: commit or stash them, "
        "then `isollm sync pull` again (the hub's is {tracking})"
    ),
}
FILES_SHOWN = 3


def _pulled(b: hubpull.PulledBranch) -> str:
    return _PULLED[b.outcome].format(
        hub=sync.short(b.hub_sha),
        before=sync.short(b.local_before),
        ahead=b.local_ahead,
        behind=b.local_behind,
        tracking=b.tracking,
        files=_files(b.uncommitted),
    )


def _files(paths: tuple[str, ...]) -> str:
    """`` (in a.py, b.py and 2 more)``; empty for no paths. Your own file names."""
    if not paths:
        return ""
    shown = ", ".join(terminal.safe_line(p) for p in paths[:FILES_SHOWN])
    more = f" and {len(paths) - FILES_SHOWN} more" if len(paths) > FILES_SHOWN else ""
    return f" (in {shown}{more})"


_BASE = {
    BaseState.NO_HUB: "no hub yet: `isollm sync push` creates it from your {name}",
    BaseState.NO_HOST_BRANCH: (
        "your repository has no branch {name} (set git.base_branch in isollm.yaml)"
    ),
    BaseState.NOT_PUSHED: "not on the hub yet: run `isollm sync push`",
    BaseState.IN_SYNC: "in sync at {host}",
    BaseState.AHEAD: "yours is {ahead} commit(s) ahead of the hub: run `isollm sync push`",
    BaseState.BEHIND: (
        "the hub's is {behind} commit(s) ahead of yours (`isollm merge` lands work there): "
        "run `isollm sync pull`"
    ),
    BaseState.DIVERGED: (
        "diverged ({ahead} yours, {behind} the hub's): `isollm sync push` explains"
    ),
}


def _base_line(s: sync.SyncStatus) -> str:
    b = s.base
    return _BASE[b.state].format(
        name=s.base_branch, host=sync.short(b.host_base), ahead=b.ahead, behind=b.behind, hub=s.hub
    )


def ago(then: datetime, now: datetime) -> str:
    """``45s ago``, ``12m ago``, ``3h ago``, ``5d ago``."""
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _task_line(t: sync.TaskBranchStatus, width: int, now: datetime) -> str:
    state = "merged" if t.merged else f"{t.ahead} ahead"
    pulled = "" if t.host_sha == t.sha else "  (not pulled)"
    return f"  {t.branch:<{width}}  {state:>9}  {ago(t.time, now):>8}  {t.subject}{pulled}"


def render_status(s: sync.SyncStatus, now: datetime) -> list[str]:
    where = f"on {s.host_branch}" if s.host_branch else "detached HEAD"
    lines = [
        f"Host:  {where} at {sync.short(s.host_commit)}",
        f"Base:  {s.base_branch}: {_base_line(s)}",
        f"Hub:   {s.hub}" + ("" if s.hub_exists else " (not created)"),
    ]
    if not s.task_branches:
        return [*lines, "Task branches: none"]
    width = max(len(t.branch) for t in s.task_branches)
    lines.append(f"Task branches ({len(s.task_branches)}):")
    return lines + [_task_line(t, width, now) for t in s.task_branches]
