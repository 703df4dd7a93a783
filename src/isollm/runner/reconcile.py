"""Bring a resumed run's ledger in line with the task server and the hub.

Each task the ledger knows gets one step from :func:`isollm.runner.resume.plan_task`;
its effects are carried out here and recorded, so a completion is never executed again
and a task that was in flight is finished (its work reached the hub) or given back.
Any other claim this run's workers still hold (made right before the crash, or kept
between two attempts) is given back too, so nothing waits for a lease to expire.
"""

from __future__ import annotations

import contextlib
import logging

from isollm.errors import IsollmError
from isollm.runner.context import RunContext
from isollm.runner.resume import Plan, Step, plan_task
from isollm.runner.steps import Recorder
from isollm.runner.view import EventType, RunView, TaskView
from isollm.tasks.store.errors import TaskNotFoundError
from isollm.tasks.store.model import Status

log = logging.getLogger(__name__)


def reconcile(ctx: RunContext, view: RunView) -> list[Plan]:
    plans = []
    for seen in view.tasks.values():
        plan = plan_task(seen.task_id, seen, _server_status(ctx, seen.task_id), _hub(ctx, seen))
        _carry_out(ctx, seen, plan)
        plans.append(plan)
    _release_leftover_claims(ctx)
    return plans


def _server_status(ctx: RunContext, task_id: str) -> str | None:
    try:
        return ctx.client.get_task(task_id).status.value
    except TaskNotFoundError:
        return None


def _hub(ctx: RunContext, seen: TaskView) -> str | None:
    return ctx.hub.head_of(seen.branch or f"{ctx.prefix}{seen.task_id}")


def _claimant(ctx: RunContext, seen: TaskView) -> str:
    number = (seen.worker or "w0").lstrip("w")
    return ctx.agent_id(int(number) if number.isdigit() else 0)


def _carry_out(ctx: RunContext, seen: TaskView, plan: Plan) -> None:
    task_id = seen.task_id
    rec = Recorder(ctx.ledger, ctx.observer, seen.worker or "")
    if plan.step is Step.RECORD_DONE:
        rec.record(EventType.TASK_DONE, task_id, attempt=plan.attempt, recovered=True, show=False)
    elif plan.step is Step.RECORD_BLOCKED:
        rec.record(EventType.TASK_BLOCKED, task_id, reason="blocked on the server", show=False)
    elif plan.step is Step.COMPLETE:
        _complete(ctx, rec, seen, plan)
    elif plan.step is Step.RETRY:
        with contextlib.suppress(IsollmError):
            ctx.client.release(task_id, _claimant(ctx, seen), force=True)
        rec.record(
            EventType.TASK_RELEASED,
            task_id,
            attempt=seen.attempt,
            reason="the runner stopped before this attempt's work reached the hub",
            detail="back to queue",
        )


def _complete(ctx: RunContext, rec: Recorder, seen: TaskView, plan: Plan) -> None:
    """The work is on the hub: mark the task done (claiming it again if the lease lapsed)."""
    task_id = seen.task_id
    task = ctx.client.get_task(task_id)
    if task.status is Status.OPEN:
        agent = _claimant(ctx, seen)
        ctx.client.claim(task_id, agent, ctx.settings.lease_seconds)
    elif task.status is Status.IN_PROGRESS and _ours(ctx, task.claimed_by):
        agent = task.claimed_by or ""
    else:
        return  # another run took it over; that run finishes it
    ctx.client.done(task_id, agent)
    rec.record(
        EventType.TASK_DONE,
        task_id,
        attempt=plan.attempt,
        sha=plan.commit,
        recovered=True,
        detail="recovered from the hub",
    )


def _ours(ctx: RunContext, agent: str | None) -> bool:
    """Whether ``agent`` is one of this run's workers (with any worker count)."""
    prefix = ctx.agent_id(0).removesuffix("0")
    return agent is not None and agent.startswith(prefix) and agent[len(prefix) :].isdigit()


def _release_leftover_claims(ctx: RunContext) -> None:
    """Give back every task this run's workers still hold. None of them runs any more (the
    run was taken over), and a claim the ledger does not explain — made just before the
    crash, or kept between two attempts — would otherwise wait for its lease to expire."""
    for task in ctx.client.all_tasks(Status.IN_PROGRESS):
        if _ours(ctx, task.claimed_by):
            with contextlib.suppress(IsollmError):
                ctx.client.release(task.id, task.claimed_by, force=True)
                log.info("released %s, still claimed by %s", task.id, task.claimed_by)
