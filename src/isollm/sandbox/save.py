"""``isollm worker save``: take a worker's commits into the hub, the one way work leaves.

Nothing inside a sandbox can write the hub, so a human working in a manual worker
(``worker exec``/``shell``) saves through the same host intake as a run
(:mod:`isollm.git.intake`): a bundle of the workspace's HEAD made inside, checked on the
host (fsck, size cap), written to one granted ref, never a delete, the old tip of a
rewritten branch kept under ``refs/isollm/backup/``. The human is trusted to ask; the
content is not.

Where it goes: by default a new ref in the worker's salvage namespace
(``refs/isollm/salvage/<worker>/<stamp>``); with a branch, ``refs/heads/<branch>`` when
that is the worker's own work branch or a branch under ``git.branch_prefix`` that the
hub does not have yet, never the base branch nor another task's branch.

It commits nothing unless asked (``commit``: a message for what is left uncommitted,
committed inside the sandbox first, in the same command).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from isollm.errors import SandboxError
from isollm.git import intake
from isollm.git.hub import Hub
from isollm.sandbox.base import Sandbox
from isollm.sandbox.gitops import WorkState

# Run inside as `sh -c COMMIT_SCRIPT sh MESSAGE`: the message is a positional parameter.
COMMIT_SCRIPT = """git add -A || exit 1
git diff --cached --quiet && exit 0
git commit -q --no-verify -m "$1"
"""


@dataclass(frozen=True)
class Saved:
    """What ``worker save`` put in the hub (read back from the hub by the intake)."""

    name: str
    ref: str
    commit: str
    old: str | None
    backup: str | None
    hub: str
    left_uncommitted: tuple[str, ...] = ()  # changes not saved (no commit was asked for)

    @property
    def fetch(self) -> str:
        """The command that brings the saved commit into the user's repository."""
        return shlex.join(["git", "fetch", self.hub, self.ref])

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ref": self.ref,
            "commit": self.commit,
            "old": self.old,
            "backup": self.backup,
            "changed": self.old != self.commit,
            "fetch": self.fetch,
            "left_uncommitted": list(self.left_uncommitted),
        }


def grant_for(
    sb: Sandbox, hub: Hub, prefix: str, branch: str | None, busy_task: str = ""
) -> intake.Grant:
    """The one ref a save of ``sb`` may write (see the module docstring)."""
    spec = sb.spec
    if branch is None:
        return intake.salvage_grant(sb.name, spec.base_branch)
    if busy_task:
        raise intake.IntakeRefusedError(
            f"worker {sb.name!r} is working on task {busy_task}: its branch is the run's",
            hint="save without --branch (to the salvage namespace), or wait for the task",
        )
    branch = branch.removeprefix("refs/heads/")
    ref = f"refs/heads/{branch}"
    own = bool(spec.work_branch) and branch == spec.work_branch
    if branch != spec.base_branch and not own:
        if not (prefix and branch.startswith(prefix) and len(branch) > len(prefix)):
            raise intake.IntakeRefusedError(
                f"refusing to save to {branch!r}: not worker {sb.name!r}'s work branch "
                f"({spec.work_branch or 'none'}) nor a new branch under {prefix!r}",
                hint=f"name a new branch such as {prefix}{sb.name}-save, or omit --branch",
            )
        if hub.git().resolve(ref) is not None:
            raise intake.IntakeRefusedError(
                f"refusing to save to {branch!r}: the hub already has it and it is not "
                f"worker {sb.name!r}'s work branch",
                hint=f"pick a new name under {prefix!r}, or omit --branch",
            )
    grant = intake.Grant(ref, spec.base_branch, may_rewrite=own)
    intake.check_grant(grant)  # never the base branch
    return grant


def save(
    sb: Sandbox,
    hub: Hub,
    grant: intake.Grant,
    work: WorkState,
    *,
    commit: str | None = None,
) -> Saved:
    """Take ``sb``'s HEAD into ``hub`` at ``grant.ref`` (committing leftovers first
    with message ``commit``). ``work``: the workspace's state before, for the report."""
    if work.unknown:
        raise SandboxError(
            f"cannot tell what worker {sb.name!r} holds: {work.unknown}",
            hint=f"look with `isollm worker shell {sb.name}`",
        )
    left = () if commit is not None else work.uncommitted
    if not work.unpushed and (commit is None or not work.uncommitted):
        raise SandboxError(
            f"worker {sb.name!r} has no commits the hub lacks: nothing to save"
            + (f" (uncommitted: {work.describe()})" if work.uncommitted else ""),
            hint="commit first (`isollm worker exec NAME -- git commit ...`) or pass "
            "--commit MESSAGE"
            if work.uncommitted
            else None,
        )
    haves = [c for c in (sb.record.base_commit, f"refs/heads/{sb.spec.base_branch}") if c]
    before = (COMMIT_SCRIPT, (commit,)) if commit is not None else None
    delivery = intake.deliver(hub, sb, grant, haves=haves, before=before)
    sb.record.log(f"saved {delivery.new[:12]} to {delivery.ref} in the hub")
    return Saved(
        sb.name, delivery.ref, delivery.new, delivery.old, delivery.backup, str(hub.path), left
    )
