"""What a merge did, candidate by candidate: the outcomes and the report of a merge."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from isollm.land import guard
from isollm.land.build import Built, Strategy
from isollm.land.candidates import Candidate
from isollm.land.gc import GcReport


class Status(StrEnum):
    LANDED = "landed"
    ALREADY = "already landed"
    CONFLICT = "conflict"
    TEST_FAILED = "test failed"
    REFUSED = "refused"  # it changes isollm's own files (isollm.land.guard)
    SKIPPED = "skipped"
    PLANNED = "would land"  # --dry-run


FAILED = (Status.CONFLICT, Status.TEST_FAILED, Status.REFUSED)
REQUEUED = (Status.CONFLICT, Status.TEST_FAILED)  # what a fix task can mend


@dataclass
class Outcome:
    task_id: str
    branch: str
    status: Status
    tip: str = ""
    commit: str = ""  # the target's new commit (landed) or the one that would be built
    reason: str = ""
    files: list[str] = field(default_factory=list)  # conflicting files
    ours: list[str] = field(default_factory=list)  # target commits since the fork (*)
    theirs: list[str] = field(default_factory=list)  # the branch's commits (*)
    # (*) those changing the conflicting files, when any does
    test_tail: str = ""
    exit_code: int | None = None
    fix_task: str = ""

    def to_json(self) -> dict[str, Any]:
        return {**vars(self), "status": str(self.status)}

    @classmethod
    def conflict(cls, c: Candidate, built: Built) -> Outcome:
        return cls(
            c.task_id,
            c.branch,
            Status.CONFLICT,
            c.tip,
            reason=f"conflicts in {len(built.conflicts)} file(s)",
            files=list(built.conflicts),
            ours=built.ours,
            theirs=built.theirs,
        )

    @classmethod
    def refused(cls, c: Candidate, onto: str, files: list[str]) -> Outcome:
        """A landing that would change isollm's own files (:mod:`isollm.land.guard`)."""
        return cls(c.task_id, c.branch, Status.REFUSED, c.tip, onto, reason=guard.refusal(files))

    @classmethod
    def nothing_new(cls, c: Candidate, onto: str, ref: str) -> Outcome:
        """A squash or rebase of a branch whose changes the target already has."""
        reason = f"{ref.removeprefix('refs/heads/')} already has every change it makes"
        return cls(c.task_id, c.branch, Status.ALREADY, c.tip, onto, reason=reason)


def blocked_reason(c: Candidate, failed: set[str]) -> str:
    """Why ``c`` cannot land: a dependency of it that did not (empty: nothing)."""
    blocked = [d for d in c.after if d in failed]
    return f"its dependency {', '.join(blocked)} did not land" if blocked else ""


@dataclass(frozen=True)
class MergeRequest:
    tasks: tuple[str, ...] = ()  # empty: every done task's branch (--all)
    into: str = ""  # the target branch; empty: the base branch
    strategy: Strategy = Strategy.MERGE
    test: bool = True
    dry_run: bool = False
    requeue: bool = False
    allow_isollm_files: bool = False  # land branches changing isollm.yaml or .isollm/


@dataclass
class MergeReport:
    target: str
    strategy: str
    old: str
    new: str
    dry_run: bool
    tested: bool
    outcomes: list[Outcome] = field(default_factory=list)
    resumed: str = ""  # what a killed merge left and this one finished or redid
    took_over: int | None = None  # the pid of a dead integrator whose lock was taken
    cleaned: GcReport | None = None  # what the safe clean-up after the merge removed

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status in FAILED]

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in vars(self).items() if k not in ("outcomes", "cleaned")}
        cleaned = self.cleaned.to_json() if self.cleaned is not None else None
        return {**data, "outcomes": [o.to_json() for o in self.outcomes], "cleaned": cleaned}
