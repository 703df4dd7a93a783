"""What ``isollm run show`` reports: a run's view and receipts condensed, per task and in total.

Pure: :func:`summarize` takes what was read (the run state, the replayed ledger, the
receipts) and returns a :class:`RunSummary`; nothing here touches the disk.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from isollm.runner.receipts import Receipt, Result, result_label
from isollm.runner.runstate import RunState
from isollm.runner.view import IN_FLIGHT, Phase, RunView, TaskView


@dataclass(frozen=True)
class TaskSummary:
    task_id: str
    status: str  # the latest phase (claimed ... failed, blocked, released) or the result
    attempts: int
    worker: str | None = None
    title: str | None = None
    branch: str | None = None
    head_commit: str | None = None
    files_changed: list[str] = field(default_factory=list)
    exit_code: int | None = None
    reason: str | None = None
    duration_s: float | None = None  # all attempts
    tokens: int | None = None
    cost_usd: float | None = None
    result: str | None = None  # for a delivered task: done, no changes, partial, unapproved
    notes: list[str] = field(default_factory=list)  # what was left out or saved aside
    flagged: bool = False  # delivered but not a success: the run exits 1


@dataclass(frozen=True)
class Totals:
    tasks: int = 0
    done: int = 0
    failed: int = 0
    blocked: int = 0
    in_flight: int = 0
    attempts: int = 0
    duration_s: float = 0.0
    tokens: int | None = None
    cost_usd: float | None = None
    no_changes: int = 0  # of the done ones
    partial: int = 0
    unapproved: int = 0
    flagged: int = 0  # delivered but not a success (partial, unapproved): the run exits 1


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    status: str  # a RunStatus (running, completed, needs-attention, failed, aborted) or unknown
    stale: bool  # 'running' but its process is gone: resume it
    started: str | None
    ended: str | None
    workers: int | None
    agent: str | None
    base_branch: str | None
    snapshot_id: str | None
    events: int
    tasks: list[TaskSummary]
    totals: Totals
    problems: list[str] = field(default_factory=list)  # ledger damage, unreadable receipts

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def summarize(
    run_id: str,
    view: RunView,
    receipts: Sequence[Receipt] = (),
    *,
    state: RunState | None = None,
    stale: bool = False,
    problems: Iterable[str] = (),
) -> RunSummary:
    by_task: dict[str, list[Receipt]] = defaultdict(list)
    for receipt in sorted(receipts, key=lambda r: r.attempt):
        by_task[receipt.task_id].append(receipt)
    task_ids = sorted(view.tasks.keys() | by_task.keys())
    tasks = [
        _task(view.tasks.get(t) or _from_receipt(by_task[t][-1]), by_task[t]) for t in task_ids
    ]
    return RunSummary(
        run_id=run_id,
        status=state.status if state else view.status or "unknown",
        stale=stale,
        started=state.started if state else None,
        ended=state.ended if state else None,
        workers=state.workers if state else None,
        agent=state.agent if state else None,
        base_branch=state.base_branch if state else None,
        snapshot_id=state.snapshot_id if state else None,
        events=view.events,
        tasks=tasks,
        totals=_totals(tasks),
        problems=list(problems),
    )


def _from_receipt(receipt: Receipt) -> TaskView:
    """What a receipt says of a task the ledger does not know (its tail was lost)."""
    return TaskView(receipt.task_id, Phase(receipt.outcome), receipt.attempt, receipt.worker)


def _task(seen: TaskView, receipts: list[Receipt]) -> TaskSummary:
    last = receipts[-1] if receipts else None
    delivered = seen.phase is Phase.DONE and last is not None and last.outcome == "done"
    result = (last.result or Result.DONE.value) if delivered and last else None
    return TaskSummary(
        task_id=seen.task_id,
        status=result_label(result) if result else seen.phase.value,
        result=result,
        notes=list(last.notes) if delivered and last else [],
        flagged=bool(delivered and last and last.flagged),
        attempts=max(seen.attempt, last.attempt if last else 0),
        worker=seen.worker or (last.worker if last else None),
        title=last.title if last else None,
        branch=seen.branch or (last.branch if last else None),
        head_commit=seen.pushed or seen.commit or (last.head_commit if last else None),
        files_changed=list(last.files_changed) if last else [],
        exit_code=seen.exit_code if seen.exit_code is not None else _exit(last),
        reason=seen.reason or (last.reason if last else None),
        duration_s=sum(r.duration_s for r in receipts) if receipts else None,
        tokens=_sum_known(r.tokens for r in receipts),
        cost_usd=_sum_known(r.cost_usd for r in receipts),
    )


def _exit(receipt: Receipt | None) -> int | None:
    return receipt.exit_code if receipt else None


N = TypeVar("N", int, float)


def _sum_known(values: Iterable[N | None]) -> N | None:
    known = [v for v in values if v is not None]
    return sum(known[1:], known[0]) if known else None


def _totals(tasks: list[TaskSummary]) -> Totals:
    def count(*statuses: Phase) -> int:
        return sum(1 for t in tasks if t.status in statuses)

    return Totals(
        tasks=len(tasks),
        done=sum(1 for t in tasks if t.result is not None or t.status == Phase.DONE),
        failed=count(Phase.FAILED),
        blocked=count(Phase.BLOCKED),
        in_flight=count(*IN_FLIGHT),
        attempts=sum(t.attempts for t in tasks),
        duration_s=sum(t.duration_s or 0.0 for t in tasks),
        tokens=_sum_known(t.tokens for t in tasks),
        cost_usd=_sum_known(t.cost_usd for t in tasks),
        no_changes=sum(1 for t in tasks if t.result == Result.NO_CHANGES),
        partial=sum(1 for t in tasks if t.result == Result.PARTIAL),
        unapproved=sum(1 for t in tasks if t.result == Result.UNAPPROVED),
        flagged=sum(1 for t in tasks if t.flagged),
    )


def needs_attention(t: Totals) -> bool:
    """Whether a person must act on a run that ran to its end: a task ended blocked or
    was delivered but not a success (partial, unapproved)."""
    return bool(t.blocked or t.flagged)


def money(cost: float) -> str:
    """A cost precise enough that per-task costs visibly add up to the total:
    ``$0.0042``, ``$1.2345``; whole cents from $100 on."""
    return f"${cost:,.2f}" if cost >= 100 else f"${cost:.4f}"


def done_counts(t: Totals) -> str:
    """``5 done (1 no changes, 1 partial, 1 unapproved)``."""
    parts = [
        f"{n} {what}"
        for n, what in (
            (t.no_changes, "no changes"),
            (t.partial, "partial"),
            (t.unapproved, "unapproved"),
        )
        if n
    ]
    return f"{t.done} done" + (f" ({', '.join(parts)})" if parts else "")
