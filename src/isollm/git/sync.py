"""Moving commits between the host repository and the hub.

- :func:`push_base` sends the host's base branch to the hub (refusing to drop hub
  commits the host lacks, unless forced).
- bringing the hub's branches back (``isollm sync pull``) is :mod:`isollm.git.pull`.
- :func:`sync_status` and :func:`hub_is_stale` only read.

The hub's refs are mirrored in the host like those of a remote named ``isollm``:
hub branch ``isollm/t1`` is tracked as ``refs/remotes/isollm/isollm/t1``.

Every function checks the hub first (:func:`isollm.git.hub.check_hub`), and commits
enter the hub only by a fetch git runs in the hub itself, with hooks disabled: a push
would run the hub's ``receive-pack`` with the hub's own hooks.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from isollm.errors import GitError, IsollmError
from isollm.git.facade import Git, zsplit
from isollm.git.hub import Hub
from isollm.git.parse import BranchRef

TRACKING_NS = "refs/remotes/isollm/"


class DivergedError(IsollmError):
    """The hub's base branch has commits the host's does not."""


class Relation(StrEnum):
    """How one commit stands to another: ``mine`` vs ``theirs``."""

    SAME = "same"
    AHEAD = "ahead"  # mine has commits theirs lacks, and nothing else differs
    BEHIND = "behind"  # theirs has commits mine lacks: a fast-forward of mine
    DIVERGED = "diverged"


def classify(ahead: int, behind: int) -> Relation:
    """The relation given commits only on mine (``ahead``) and only on theirs."""
    if ahead and behind:
        return Relation.DIVERGED
    if ahead:
        return Relation.AHEAD
    return Relation.BEHIND if behind else Relation.SAME


def task_id(branch: str, prefix: str) -> str:
    """``isollm/ar-12`` -> ``ar-12``: the part of a task branch after the prefix."""
    return branch.removeprefix(prefix)


def tracking_ref(branch: str) -> str:
    """Where the host keeps the hub's version of ``branch``."""
    return TRACKING_NS + branch


def short(sha: str | None) -> str:
    return sha[:10] if sha else "-"


def _hub_view(host_root: Path, hub: Hub) -> Git:
    """Host git that can also read the hub's objects (read-only; nothing is fetched)."""
    if not hub.exists():
        return Git(host_root)
    hub.check()
    return Git(
        host_root, {"GIT_ALTERNATE_OBJECT_DIRECTORIES": quote_alternate(hub.path / "objects")}
    )


def quote_alternate(path: Path) -> str:
    """A path as one entry of git's colon-separated alternates list (C-quoted if needed)."""
    text = str(path)
    if not any(c in text for c in ':"\\'):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- push ------------------------------------------------------------------------------


class PushOutcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UP_TO_DATE = "up-to-date"
    FORCED = "forced"
    HUB_AHEAD = "hub-ahead"  # left alone: the hub has all of yours and more (landed work)


@dataclass(frozen=True)
class PushResult:
    hub: Path
    branch: str
    old: str | None
    new: str
    outcome: PushOutcome
    hub_created: bool
    dropped: int = 0  # hub commits a forced push took off the branch

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "hub": str(self.hub), "outcome": str(self.outcome)}


def uncommitted_files(host: Git) -> list[str] | None:
    """Paths in the host's work tree with changes no commit holds (untracked ones too);
    None when git cannot tell (a filter of the user's config that fails, say)."""
    result = host.run("status", "--porcelain", "-z", "--no-renames", check=False)
    if not result.ok:
        return None
    return [entry[3:] for entry in zsplit(result.stdout) if len(entry) > 3]


def host_base(host: Git, base_branch: str) -> str:
    """The commit of the host's base branch, or an error saying how to get one."""
    sha = host.branch_sha(base_branch)
    if sha is not None:
        return sha
    others = [b.name for b in host.branches()][:6]
    hint = (
        "create it, or set git.base_branch in isollm.yaml (`isollm config edit`) to the "
        f"branch tasks start from ({', '.join(others) or 'it has no branch yet'})"
    )
    if host.head() is None:
        hint = "the repository has no commits yet: commit your work (with isollm.yaml) first"
    raise GitError(f"the repository at {host.cwd} has no branch {base_branch!r}", hint=hint)


def _refuse(host: Git, hub: Hub, branch: str, *, old: str, new: str, behind: int) -> DivergedError:
    """Fetch the hub's branch to ``isollm/<branch>`` so the user can merge it; explain."""
    hub.check()
    host.fetch(hub.path, f"+refs/heads/{branch}:{tracking_ref(branch)}")
    return DivergedError(
        f"the hub's {branch} has {behind} commit(s) your {branch} does not "
        f"(hub {short(old)}, yours {short(new)}); pushing would drop them",
        hint=f"they are now in isollm/{branch} (`isollm merge` lands work there): "
        f"`isollm sync pull` brings them, or merge them (`git merge isollm/{branch}`) when you "
        f"have commits of your own; then try again. Or replace the hub's {branch} with yours: "
        "`isollm sync push --force`",
    )


def push_base(
    host_root: Path,
    hub: Hub,
    base_branch: str,
    *,
    force: bool = False,
    hub_ahead_ok: bool = False,
) -> PushResult:
    """Push the host's ``base_branch`` (not whatever is checked out) to the hub.

    Creates the hub on first use and points its HEAD at the base branch, so clones
    check it out. The push is compare-and-set against the hub's value we checked.
    With ``hub_ahead_ok``, a hub whose base holds all of the host's and more (work
    ``isollm merge`` landed) is left as it is (:attr:`PushOutcome.HUB_AHEAD`) instead of
    refused: tasks then start from the hub's newer base.
    """
    host = Git(host_root)
    new = host_base(host, base_branch)
    _require_full_history(host)
    with hub.lock():
        created = not hub.exists()
        hub.ensure()
        old = hub.head_of(base_branch)
        ahead, behind = _hub_view(host_root, hub).ahead_behind(new, old) if old else (0, 0)
        relation = classify(ahead, behind)
        outcome = _push_outcome(old, relation, force)
        if outcome is None and hub_ahead_ok and relation is Relation.BEHIND:
            return PushResult(hub.path, base_branch, old, str(old), PushOutcome.HUB_AHEAD, created)
        if outcome is None:
            raise _refuse(host, hub, base_branch, old=str(old), new=new, behind=behind)
        if outcome is not PushOutcome.UP_TO_DATE:
            _store(hub, host_root, f"refs/heads/{base_branch}", new, old)
        if hub.git().head_ref() != f"refs/heads/{base_branch}":
            hub.git().set_head(base_branch)
    dropped = behind if outcome is PushOutcome.FORCED else 0
    return PushResult(hub.path, base_branch, old, new, outcome, created, dropped)


def _require_full_history(host: Git) -> None:
    """Refuse a shallow clone: the hub would get commits whose parents it can never read
    (and every later merge or diff on it would fail)."""
    shallow = host.run("rev-parse", "--is-shallow-repository", check=False).stdout.strip()
    if shallow == "true":
        raise GitError(
            f"the repository at {host.cwd} is a shallow clone: the hub needs its whole history",
            hint="fetch it first with `git fetch --unshallow`, then run the command again",
        )


def _store(hub: Hub, host_root: Path, ref: str, new: str, old: str | None) -> None:
    """Set the hub's ``ref`` from ``old`` to ``new`` (the host's commit), compare-and-set.

    The hub fetches from the host (git runs in the hub, hooks off); the host's ref lands
    under a private name first, so the real one moves only by the compare-and-set.
    """
    git = hub.git()
    incoming = f"refs/isollm/incoming/base-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        git.fetch(host_root, f"+{ref}:{incoming}")
        if not git.update_ref(ref, new, old, reason="isollm sync push"):
            raise GitError(
                f"the hub's {ref.removeprefix('refs/heads/')} changed while pushing",
                hint="run the command again",
            )
    finally:
        git.run("update-ref", "-d", incoming, check=False)


def _push_outcome(old: str | None, relation: Relation, force: bool) -> PushOutcome | None:
    """What pushing does; None when it would drop hub commits and is not forced."""
    if old is None:
        return PushOutcome.CREATED
    if relation is Relation.SAME:
        return PushOutcome.UP_TO_DATE
    if relation is Relation.AHEAD:
        return PushOutcome.UPDATED
    return PushOutcome.FORCED if force else None


# -- status ----------------------------------------------------------------------------


class BaseState(StrEnum):
    """How the host's base branch stands to the hub's."""

    NO_HUB = "no-hub"
    NO_HOST_BRANCH = "no-host-branch"
    NOT_PUSHED = "not-pushed"  # the hub exists but has no base branch
    IN_SYNC = "in-sync"
    AHEAD = "ahead"  # host commits the hub lacks: `sync push`
    BEHIND = "behind"  # hub commits the host lacks
    DIVERGED = "diverged"

    @property
    def stale(self) -> bool:
        """Whether workers cloning the hub would miss commits of the host's base."""
        return self in (BaseState.NOT_PUSHED, BaseState.AHEAD, BaseState.DIVERGED)


_STATE_OF = {
    Relation.SAME: BaseState.IN_SYNC,
    Relation.AHEAD: BaseState.AHEAD,
    Relation.BEHIND: BaseState.BEHIND,
    Relation.DIVERGED: BaseState.DIVERGED,
}


@dataclass(frozen=True)
class BaseComparison:
    state: BaseState
    host_base: str | None
    hub_base: str | None
    ahead: int = 0  # host commits the hub's base lacks
    behind: int = 0  # hub commits the host's base lacks


def compare_base(host_root: Path, hub: Hub, base_branch: str) -> BaseComparison:
    """Where the host's and the hub's base branches stand; only reads."""
    view = _hub_view(host_root, hub)
    mine, theirs = view.branch_sha(base_branch), hub.head_of(base_branch)
    if not hub.exists():
        return BaseComparison(BaseState.NO_HUB, mine, None)
    if mine is None:
        return BaseComparison(BaseState.NO_HOST_BRANCH, None, theirs)
    if theirs is None:
        return BaseComparison(BaseState.NOT_PUSHED, mine, None, view.count_commits(None, mine))
    ahead, behind = view.ahead_behind(mine, theirs)
    return BaseComparison(_STATE_OF[classify(ahead, behind)], mine, theirs, ahead, behind)


def hub_is_stale(host_root: Path, hub: Hub, base_branch: str) -> bool:
    """Whether the host's base branch has commits the hub's lacks (or it has none).

    False when there is no hub yet (the first ``up`` / ``sync push`` fills it) or the
    host has no such branch.
    """
    return compare_base(host_root, hub, base_branch).state.stale


@dataclass(frozen=True)
class TaskBranchStatus:
    branch: str
    task_id: str
    sha: str
    time: datetime  # committer time of the last commit, UTC
    subject: str
    ahead: int  # commits not in the base branch
    merged: bool  # reachable from the base branch (a squash merge is not detected)
    host_sha: str | None  # the host's local branch of that name, if any

    def to_json(self) -> dict[str, Any]:
        return {
            "branch": self.branch,
            "task_id": self.task_id,
            "sha": self.sha,
            "time": self.time.isoformat(),
            "subject": self.subject,
            "ahead": self.ahead,
            "merged": self.merged,
            "host_sha": self.host_sha,
            "pulled": self.host_sha == self.sha,
        }


@dataclass(frozen=True)
class SyncStatus:
    hub: Path
    hub_exists: bool
    base_branch: str
    host_branch: str | None  # checked out in the host; None when detached
    host_commit: str | None  # the host's HEAD
    base: BaseComparison
    task_branches: tuple[TaskBranchStatus, ...]

    @property
    def stale(self) -> bool:
        return self.base.state.stale

    def to_json(self) -> dict[str, Any]:
        return {
            "hub": str(self.hub),
            "hub_exists": self.hub_exists,
            "base_branch": self.base_branch,
            "host_branch": self.host_branch,
            "host_commit": self.host_commit,
            "host_base": self.base.host_base,
            "hub_base": self.base.hub_base,
            "state": str(self.base.state),
            "ahead": self.base.ahead,
            "behind": self.base.behind,
            "stale": self.stale,
            "task_branches": [t.to_json() for t in self.task_branches],
        }


def sync_status(host_root: Path, hub: Hub, base_branch: str, prefix: str) -> SyncStatus:
    """The host's branch and base against the hub's, and every task branch on the hub."""
    view = _hub_view(host_root, hub)
    base = compare_base(host_root, hub, base_branch)
    against = base.host_base or base.hub_base
    tasks = tuple(_task_status(view, ref, prefix, against) for ref in hub.task_branches(prefix))
    head = view.head()
    return SyncStatus(hub.path, hub.exists(), base_branch, view.current_branch(), head, base, tasks)


def _task_status(view: Git, ref: BranchRef, prefix: str, base: str | None) -> TaskBranchStatus:
    ahead = view.count_commits(base, ref.sha)
    return TaskBranchStatus(
        branch=ref.name,
        task_id=task_id(ref.name, prefix),
        sha=ref.sha,
        time=ref.time,
        subject=ref.subject,
        ahead=ahead,
        merged=base is not None and ahead == 0,
        host_sha=view.branch_sha(ref.name),
    )
