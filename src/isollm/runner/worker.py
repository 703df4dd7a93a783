"""One worker of a run: executes the tasks it claims, attempt after attempt.

For each attempt (:mod:`isollm.runner.taskwork`): a clean sandbox on the task's branch,
the dependencies' branches merged in, the agent run headless with the task as prompt
(lease kept by heartbeat), an optional review round, then commit, delivery to the hub
through the host's intake, a check that the hub holds the delivered commit, and done.
Every step is recorded once (:class:`~isollm.runner.steps.Recorder`: the ledger event,
progress derived from it) before the next begins, so a resumed run knows exactly where
it stopped. What follows an attempt is :func:`isollm.runner.policy.decide`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from isollm import redaction
from isollm.errors import IsollmError
from isollm.runner import idempotency as ik
from isollm.runner import receipts
from isollm.runner.context import RunContext, StartGate, Steps
from isollm.runner.crashes import crashed, disk_full
from isollm.runner.events import EventType, Kind, Progress
from isollm.runner.ledger import now
from isollm.runner.policy import (
    STOPPED_BEFORE_RETRY,
    Block,
    Decision,
    Outcome,
    Release,
    Retry,
    RetryPolicy,
    before_first,
    decide,
)
from isollm.runner.ports import Workspace
from isollm.runner.sandboxes import WorkerSandbox
from isollm.runner.steps import Recorder
from isollm.runner.taskwork import AttemptResult, TaskAttempt
from isollm.tasks.client.retry import UNREACHABLE, Backoff, retrying
from isollm.tasks.store.errors import ServerUnavailableError, StaleClaimError
from isollm.tasks.store.model import Claim, Task

log = logging.getLogger(__name__)

__all__ = ["AttemptResult", "Worker"]

T = TypeVar("T")


class Worker:
    def __init__(
        self,
        ctx: RunContext,
        number: int,
        gate: StartGate,
        steps: Steps,
        sandbox: Workspace | None = None,
    ) -> None:
        self.ctx = ctx
        self.number = number
        self.name = f"w{number}"
        self.agent_id = ctx.agent_id(number)
        self.gate = gate
        self.steps = steps
        if sandbox is None:
            sandbox = WorkerSandbox(ctx, ctx.sandbox_name(number))
        self.sandbox: Workspace = sandbox
        self.recorder = Recorder(ctx.ledger, ctx.observer, self.name)
        self.policy = RetryPolicy(ctx.settings.max_attempts, ctx.settings.backoff_seconds)

    def record(self, event: EventType, task: Task, attempt: int | None, **facts: Any) -> None:
        """Record one step of ``task``: its ledger event and the progress shown of it."""
        self.recorder.record(event, task.id, title=task.title, attempt=attempt, **facts)

    # --- a claimed task, attempt after attempt ------------------------------------------
    def execute(self, claim: Claim, first_attempt: int, failures: list[str]) -> int:
        """Work on the task until done, blocked, released or lost; the last attempt made.

        Only failed attempts count towards ``max_attempts``: one a crash of the runner cut
        short (released on resume, never recorded as failed) is not the task's fault.
        """
        ctx = self.ctx
        attempt = first_attempt
        decision: Decision | None = before_first(failures, self.policy)
        while decision is None or isinstance(decision, Retry):
            result = self._attempt(claim, attempt, failures)
            if result.excused:
                self._wait_for_server()
                decision = Release(STOPPED_BEFORE_RETRY) if ctx.stopping.is_set() else None
                attempt += decision is None
                continue
            if result.outcome not in (Outcome.SUCCEEDED, Outcome.DELIVERED):
                failures.append(result.reason or "the attempt failed")
            decision = decide(
                result.outcome,
                failures,
                self.policy,
                aborting=ctx.aborting.is_set(),
                stopping=ctx.stopping.is_set(),
            )
            if isinstance(decision, Retry):
                if self._pause(decision.after):
                    decision = Release(STOPPED_BEFORE_RETRY)
                else:
                    attempt += 1
        if isinstance(decision, Release):
            self._release(claim, attempt, decision.reason)
        elif isinstance(decision, Block):
            self._block(claim, decision.reason)
        return attempt

    def _pause(self, seconds: float) -> bool:
        """Wait before the next attempt, off the step gate; True if the run was stopped
        meanwhile (no new attempt once it is stopping)."""
        self.steps.give_back()
        stopped = self.ctx.stopping.wait(seconds)
        self.steps.take()
        return stopped

    def _release(self, claim: Claim, attempt: int, reason: str) -> None:
        with contextlib.suppress(IsollmError):
            self._server(lambda: self.ctx.client.release(claim.task.id, self.agent_id, claim.fence))
        self.record(EventType.TASK_RELEASED, claim.task, attempt, reason=reason)

    def _block(self, claim: Claim, reason: str) -> None:
        why = redaction.redact(reason)
        try:
            self._server(
                lambda: self.ctx.client.block(claim.task.id, why[:2000], agent=self.agent_id)
            )
        except IsollmError as exc:
            log.warning("could not block %s: %s", claim.task.id, exc)
        self.record(EventType.TASK_BLOCKED, claim.task, None, reason=why)

    def _wait_for_server(self) -> None:
        """Wait for the task server to be back after an attempt failed while it was away
        (ServerUnavailableError once the patience runs out: the run fails, resumable)."""
        self.warn(f"{UNREACHABLE}; the failed attempt does not count against the task")
        self._server(self._healthy)

    def _healthy(self) -> None:
        if not self.ctx.client.health():
            raise ServerUnavailableError("the task server does not answer its health check")

    def give_back(self, claim: Claim) -> None:
        """Release ``claim`` after an error outside any attempt (best effort, once: the
        run is failing; resume reconciles whatever is left)."""
        with contextlib.suppress(Exception):
            self.ctx.client.release(claim.task.id, self.agent_id, claim.fence)

    def _server(self, call: Callable[[], T]) -> T:
        """``call()`` to the task server, waiting out an outage (until aborted)."""
        backoff = Backoff(self.ctx.settings.server_patience)
        return retrying(call, backoff=backoff, stop=self.ctx.aborting, notify=self.warn)

    def warn(self, message: str) -> None:
        self.ctx.observer(Progress(Kind.WARNING, self.name, detail=message))

    # --- one attempt --------------------------------------------------------------------
    def _attempt(self, claim: Claim, attempt: int, failures: list[str]) -> AttemptResult:
        task = claim.task
        work = TaskAttempt(self, claim, attempt, tuple(failures))
        key = ik.execute_key(self.ctx.run_id, task.id, attempt)
        self.record(
            EventType.TASK_CLAIMED,
            task,
            attempt,
            ik=key,
            worker=self.name,
            agent=self.agent_id,
            fence=claim.fence,
            branch=work.branch,
        )
        started, started_at = time.monotonic(), now()
        result = self._work(work)
        if result.ok:
            result = self._verified(work.branch, result)
        if result.ok:  # the receipt, written next, says how it ended on the server
            result = self._complete(claim, attempt, result)
        else:
            result = self._failed(task, attempt, key, result)
        self._receipt(work, result, started_at=started_at, duration=time.monotonic() - started)
        return result

    def _work(self, work: TaskAttempt) -> AttemptResult:
        """Run the attempt's steps; any error fails the attempt (one not isollm's own with
        a crash note in its log), but a full disk, which is not the task's fault: that
        stops the run (resumable once space is freed)."""
        try:
            return work.run()
        except IsollmError as exc:
            if disk_full(exc):
                raise
            return AttemptResult(Outcome.FAILED, str(exc), report=work.usage())
        except Exception as exc:  # not ours: this attempt fails, not the run
            if disk_full(exc):
                raise
            reason = crashed(exc, self.ctx.paths.log(work.task.id, work.attempt))
            return AttemptResult(Outcome.FAILED, reason)

    def _failed(self, task: Task, attempt: int, key: str, result: AttemptResult) -> AttemptResult:
        """Record a failed attempt. One that failed while the task server was away failed
        for that, not for its task's sake: its event says ``excused``, so it never counts
        against the task's attempts, in this run or in the run that resumes it."""
        away = result.outcome is Outcome.FAILED and not self.ctx.client.health()
        facts = {"excused": UNREACHABLE} if away else {}
        self.record(
            EventType.TASK_FAILED, task, attempt, reason=result.reason, ik=key, end=True, **facts
        )
        return dataclasses.replace(result, excused=away)

    def _verified(self, branch: str, result: AttemptResult) -> AttemptResult:
        """``result`` if the hub's ``branch`` is at the delivered commit (read from the hub
        by the host), else a failure: a task is never marked done on the sandbox's word."""
        on_hub = self.ctx.hub.head_of(branch)
        if on_hub is not None and on_hub == result.head:
            return result
        reason = (
            f"the hub's {branch} is at {(on_hub or 'nothing')[:10]}, not at the delivered "
            f"{(result.head or 'nothing')[:10]}; not marked done"
        )
        return dataclasses.replace(result, outcome=Outcome.FAILED, reason=reason)

    def _complete(self, claim: Claim, attempt: int, result: AttemptResult) -> AttemptResult:
        """Mark the task done; a claim lost before that makes the attempt a failure."""
        ctx, task = self.ctx, claim.task
        key = ik.execute_key(ctx.run_id, task.id, attempt)
        try:
            self._server(lambda: ctx.client.done(task.id, self.agent_id, claim.fence))
        except (StaleClaimError, ServerUnavailableError) as exc:
            lost = "lost" if isinstance(exc, StaleClaimError) else "not marked done"
            reason = f"pushed to the hub ({result.head or '?'}), but the claim was {lost}: {exc}"
            self.record(EventType.TASK_FAILED, task, attempt, reason=reason, ik=key, end=True)
            return dataclasses.replace(result, outcome=Outcome.DELIVERED, reason=reason)
        self.record(
            EventType.TASK_DONE,
            task,
            attempt,
            sha=result.head,
            files=len(result.files),
            result=result.result.value,
            notes=list(result.notes),
            ik=key,
            end=True,
        )
        return result

    def _log_path(self, task: Task, attempt: int) -> str:
        return receipts.log_path(self.ctx.paths, task.id, attempt)

    def _receipt(
        self, work: TaskAttempt, result: AttemptResult, *, started_at: str, duration: float
    ) -> None:
        ctx, task, attempt = self.ctx, work.task, work.attempt
        report = result.report
        receipt = receipts.Receipt(
            run_id=ctx.run_id,
            task_id=task.id,
            attempt=attempt,
            outcome="done" if result.ok else "failed",
            worker=self.name,
            agent=ctx.agent.name,
            branch=work.branch,
            base_commit=ctx.base_commit,
            started=started_at,
            ended=now(),
            duration_s=round(duration, 3),
            log_path=self._log_path(task, attempt),
            head_commit=result.head,
            files_changed=list(result.files),
            exit_code=result.exit_code,
            reason=result.reason,
            title=task.title,
            tokens_in=report.tokens_in if report else None,
            tokens_out=report.tokens_out if report else None,
            cost_usd=report.cost_usd if report else None,
            result=result.result.value if result.ok else None,
            notes=list(result.notes),
            flagged=result.flagged,
        )
        path = str(receipts.write_receipt(ctx.paths, receipt).relative_to(ctx.paths.dir))
        self.record(EventType.RECEIPT_WRITTEN, task, attempt, path=path)
