"""One worker of a run: executes the tasks it claims, attempt after attempt.

For each attempt: a clean sandbox on the task's branch, the dependencies' branches
merged in, the agent run headless with the task as prompt (lease kept by heartbeat),
an optional review round, then commit, delivery to the hub through the host's intake
(:mod:`isollm.git.intake`: the only ref it may write is the branch of the task this
worker holds, checked against the claim right before the ref moves), a check that the
hub holds the delivered commit, and done. Every step is written to the ledger before
the next begins, so a resumed run knows exactly where it stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from isollm import redaction
from isollm.agents import Invocation, WorkerContext, from_config
from isollm.agents.base import Agent, AgentOutcome
from isollm.agents.common import exit_summary
from isollm.agents.environment import worker_env
from isollm.agents.instructions import merge
from isollm.agents.instructions import render as render_instructions
from isollm.errors import IsollmError
from isollm.git import intake
from isollm.runner import attempt as att
from isollm.runner import idempotency as ik
from isollm.runner import receipts
from isollm.runner.context import RunContext, StartGate, Steps
from isollm.runner.events import Kind, Progress
from isollm.runner.ledger import now
from isollm.runner.prompt import DependencyOutput, TaskPrompt, render
from isollm.runner.review import Verdict, review_prompt, verdict_of
from isollm.runner.sandboxes import WorkerSandbox, context_file
from isollm.runner.view import EventType
from isollm.sandbox.gitops import AfterCheckout
from isollm.tasks.errors import StaleClaimError
from isollm.tasks.model import Claim, Task

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AttemptResult:
    ok: bool
    reason: str | None = None
    head: str | None = None
    files: tuple[str, ...] = ()
    exit_code: int | None = None
    outcome: AgentOutcome | None = None
    lost_claim: bool = False
    aborted: bool = False
    delivered: bool = False  # on the hub, but the claim was lost before done


class Worker:
    def __init__(self, ctx: RunContext, number: int, gate: StartGate, steps: Steps) -> None:
        self.ctx = ctx
        self.number = number
        self.name = f"w{number}"
        self.agent_id = ctx.agent_id(number)
        self.gate = gate
        self.steps = steps
        self.sandbox = WorkerSandbox(ctx, ctx.sandbox_name(number))

    def _say(self, kind: Kind, task: Task | None = None, detail: str = "") -> None:
        self.ctx.observer(
            Progress(kind, self.name, task.id if task else "", task.title if task else "", detail)
        )

    # --- a claimed task, attempt after attempt ------------------------------------------
    def execute(self, claim: Claim, first_attempt: int, failures: list[str]) -> int:
        """Work on the task until done, blocked, released or lost; the last attempt made.

        Only failed attempts count towards ``max_attempts``: one a crash of the runner cut
        short (released on resume, never recorded as failed) is not the task's fault.
        """
        ctx, task = self.ctx, claim.task
        self._say(Kind.CLAIMED, task, f"attempt {first_attempt}")
        attempt = first_attempt
        while len(failures) < ctx.settings.max_attempts:
            result = self._attempt(claim, attempt, failures)
            if result.ok or result.delivered:
                return attempt
            failures.append(result.reason or "the attempt failed")
            self._say(Kind.FAILED, task, f"attempt {attempt}: {failures[-1]}")
            if result.lost_claim:
                return attempt  # the task is someone else's now
            if result.aborted or ctx.aborting.is_set():
                self._release(claim, attempt, "the run was interrupted")
                return attempt
            if len(failures) < ctx.settings.max_attempts:
                pause = ctx.settings.backoff_seconds * 2 ** (len(failures) - 1)
                self.steps.give_back()
                stopped = ctx.stopping.wait(pause)  # no new attempt once the run is stopping
                self.steps.take()
                if stopped:
                    self._release(claim, attempt, "the run was stopped before the next attempt")
                    return attempt
                attempt += 1
        self._block(claim, len(failures), failures[-1] if failures else "no attempt was made")
        return attempt

    def _complete(self, claim: Claim, attempt: int, result: AttemptResult) -> AttemptResult:
        """Mark the task done; a claim lost before that makes the attempt a failure."""
        ctx, task = self.ctx, claim.task
        try:
            ctx.client.done(task.id, self.agent_id, claim.fence)
        except StaleClaimError as exc:
            ctx.ledger.append(
                EventType.TASK_FAILED,
                task=task.id,
                attempt=attempt,
                reason=str(exc),
                ik=ik.execute_key(ctx.run_id, task.id, attempt),
                end=True,
            )
            reason = f"pushed, but the claim was lost before done: {exc}"
            self._say(Kind.FAILED, task, reason)
            return dataclasses.replace(result, ok=False, reason=reason, delivered=True)
        ctx.ledger.append(
            EventType.TASK_DONE,
            task=task.id,
            attempt=attempt,
            sha=result.head,
            ik=ik.execute_key(ctx.run_id, task.id, attempt),
            end=True,
        )
        self._say(Kind.DONE, task, f"{len(result.files)} file(s) changed")
        return result

    def _release(self, claim: Claim, attempt: int, reason: str) -> None:
        with contextlib.suppress(IsollmError):
            self.ctx.client.release(claim.task.id, self.agent_id, claim.fence)
        self.ctx.ledger.append(
            EventType.TASK_RELEASED, task=claim.task.id, attempt=attempt, reason=reason
        )
        self._say(Kind.RELEASED, claim.task, reason)

    def _block(self, claim: Claim, attempts: int, reason: str) -> None:
        why = redaction.redact(f"failed {attempts} attempt(s); last: {reason}")
        try:
            self.ctx.client.block(claim.task.id, why[:2000], agent=self.agent_id)
        except IsollmError as exc:
            log.warning("could not block %s: %s", claim.task.id, exc)
        self.ctx.ledger.append(EventType.TASK_BLOCKED, task=claim.task.id, reason=why)
        self._say(Kind.BLOCKED, claim.task, why)

    # --- one attempt --------------------------------------------------------------------
    def _attempt(self, claim: Claim, attempt: int, failures: list[str]) -> AttemptResult:
        ctx, task = self.ctx, claim.task
        branch = f"{ctx.prefix}{task.id}"
        key = ik.execute_key(ctx.run_id, task.id, attempt)
        ctx.ledger.append(
            EventType.TASK_CLAIMED,
            task=task.id,
            attempt=attempt,
            ik=key,
            worker=self.name,
            agent=self.agent_id,
            fence=claim.fence,
            branch=branch,
        )
        started, started_at = time.monotonic(), now()
        try:
            result = self._work(claim, attempt, branch, failures)
        except IsollmError as exc:
            result = AttemptResult(False, str(exc))
        if result.ok:
            result = self._verified(branch, result)
        if result.ok:  # the receipt, written next, says how it ended on the server
            result = self._complete(claim, attempt, result)
        else:
            ctx.ledger.append(
                EventType.TASK_FAILED,
                task=task.id,
                attempt=attempt,
                reason=result.reason,
                ik=key,
                end=True,
            )
        self._receipt(
            claim,
            attempt,
            branch,
            result,
            started_at=started_at,
            duration=time.monotonic() - started,
        )
        return result

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
        return dataclasses.replace(result, ok=False, reason=reason)

    def _work(self, claim: Claim, attempt: int, branch: str, failures: list[str]) -> AttemptResult:
        ctx, task = self.ctx, claim.task
        self.sandbox.ready()  # done before the claim, unless it failed then
        found = self._dependency_branches(task)
        # With nothing to merge, the instruction file is written by the checkout's own
        # sandbox command (one start fewer); merges come first when there are some.
        context = None if found else self._context_file(ctx.agent, task)
        self.sandbox.enter(branch, context)
        ctx.ledger.append(EventType.SANDBOX_READY, task=task.id, attempt=attempt, sync=False)
        self._say(Kind.SANDBOX_READY, task, branch)
        deps = self._merge_dependencies(found)
        start = att.head_commit(self.sandbox.current) if deps else ctx.base_commit
        haves = (ctx.base_commit, *(commit for _task, _branch, commit in found))
        feedback = ""
        rounds = ctx.settings.max_review_rounds if ctx.settings.review else 1
        for round_no in range(1, rounds + 1):
            prompt = TaskPrompt(
                task.id,
                task.title,
                task.description or "",
                branch,
                ctx.config.git.base_branch,
                attempt,
                deps,
                tuple(failures),
                feedback,
            )
            installed = context is not None and round_no == 1
            run = self._run_agent(
                ctx.agent, claim, attempt, render(prompt), "agent", installed=installed
            )
            if not run.ok:
                return run
            message = _commit_message(task)
            if not ctx.settings.review:
                # Commit and bundle in one sandbox command. Killed between the delivery
                # and these records, a resumed run reruns the task on top of its
                # delivered branch: nothing is lost, and no completion was recorded yet.
                return self._deliver(claim, attempt, branch, (start, haves), run, message)
            head = att.commit_leftovers(self.sandbox.current, message)
            ctx.ledger.append(
                EventType.TASK_COMMITTED, task=task.id, attempt=attempt, sha=head, sync=False
            )
            verdict, feedback = self._review(claim, attempt, head, round_no)
            if verdict is Verdict.APPROVE:
                break
        return self._deliver(claim, attempt, branch, (start, haves), run)

    def _grant(self, claim: Claim) -> intake.Grant:
        """The one ref this attempt may write: its task's branch, while the claim holds."""
        ctx, task = self.ctx, claim.task
        return intake.task_grant(
            ctx.prefix,
            task.id,
            ctx.config.git.base_branch,
            lambda: ctx.client.heartbeat(
                task.id, self.agent_id, claim.fence, ctx.settings.lease_seconds
            ),
        )

    def _deliver(
        self,
        claim: Claim,
        attempt: int,
        branch: str,
        known: tuple[str, tuple[str, ...]],
        run: AttemptResult,
        message: str | None = None,
    ) -> AttemptResult:
        """Deliver HEAD to the task's branch through the intake (committing what is left
        first, with ``message``). ``known``: the commit the task started from (the base,
        or the base with the dependencies merged) and commits the hub has; the files
        changed from the start to the delivered head are what the task produced."""
        start, haves = known
        ctx, task = self.ctx, claim.task
        try:
            delivery = att.deliver(
                self.sandbox.current, ctx.hub, self._grant(claim), haves=haves, message=message
            )
        except StaleClaimError as exc:
            reason = f"the claim was lost before the delivery: {exc}"
            return dataclasses.replace(run, ok=False, reason=reason, lost_claim=True)
        head = delivery.new
        if message is not None:
            ctx.ledger.append(
                EventType.TASK_COMMITTED, task=task.id, attempt=attempt, sha=head, sync=False
            )
        ctx.upkeep.pushed()
        ctx.ledger.append(
            EventType.TASK_PUSHED,
            task=task.id,
            attempt=attempt,
            sha=head,
            branch=branch,
            sync=False,
        )
        files: tuple[str, ...] = ()
        if head != start:
            files = tuple(ctx.hub.git().changed_files(start, head))
        self.sandbox.delivered()
        self._say(Kind.PUSHED, task, f"{branch} at {head[:10]}")
        return dataclasses.replace(run, head=head, files=files)

    def _run_agent(
        self,
        agent: Agent,
        claim: Claim,
        attempt: int,
        prompt: str,
        role: str,
        *,
        installed: bool = False,
    ) -> AttemptResult:
        ctx, task = self.ctx, claim.task
        sb = self.sandbox.current
        workdir = Path(sb.workspace)
        inv = Invocation(
            prompt,
            task.id,
            task.title,
            workdir,
            model=agent.settings.model,
            home=self.sandbox.home_inside,
            sandboxed=sb.isolated,
        )
        if not installed:
            self._install_context(agent, task)
        self.sandbox.prepare_agent(agent, workdir)
        token = ctx.task_token(self.agent_id)
        env = {**agent.env(ctx.host_env, inv), **worker_env(self._context(task), token=token)}
        argv = agent.headless_argv(inv)
        self.steps.give_back()  # the agent's run is not one of the runner's steps
        try:
            return self._run_started(agent, claim, attempt, argv, env, role)
        finally:
            self.steps.take(finishing=True)

    def _run_started(
        self,
        agent: Agent,
        claim: Claim,
        attempt: int,
        argv: list[str],
        env: dict[str, str],
        role: str,
    ) -> AttemptResult:
        ctx, task = self.ctx, claim.task
        sb = self.sandbox.current
        if not self.gate.enter(ctx.aborting):
            return AttemptResult(False, "the run was interrupted", aborted=True)
        ctx.ledger.append(
            EventType.AGENT_STARTED, task=task.id, attempt=attempt, role=role, sync=False
        )
        self._say(Kind.AGENT_STARTED, task, f"{agent.name} ({role})")
        beat = att.Heartbeat(
            lambda: ctx.client.heartbeat(
                task.id, self.agent_id, claim.fence, ctx.settings.lease_seconds
            ),
            max(ctx.settings.lease_seconds / 3, 0.5),
        )
        with beat:
            run = att.run_agent(
                sb,
                argv,
                env=env,
                log_path=ctx.paths.log(task.id, attempt),
                timeout=ctx.settings.agent_timeout,
                abort=ctx.aborting,
                heartbeat=beat,
            )
        code = run.exit_code
        outcome = agent.parse_result(code if code is not None else -1, run.output)
        ctx.ledger.append(
            EventType.AGENT_FINISHED,
            task=task.id,
            attempt=attempt,
            exit=code,
            role=role,
            tokens_in=outcome.tokens_in,
            tokens_out=outcome.tokens_out,
            cost=outcome.cost_usd,
            sync=False,
        )
        self._say(Kind.AGENT_FINISHED, task, f"exit {code}")
        reason = run.stopped_reason or (None if outcome.success else _failure(code, outcome))
        return AttemptResult(
            reason is None,
            reason,
            exit_code=code,
            outcome=outcome,
            lost_claim=run.lost_claim is not None,
            aborted=run.aborted,
        )

    def _review(self, claim: Claim, attempt: int, head: str, round_no: int) -> tuple[Verdict, str]:
        ctx, task = self.ctx, claim.task
        reviewer = ctx.reviewer or ctx.agent
        diff = self.sandbox.diff(ctx.base_commit, head)
        prompt = review_prompt(task.id, task.title, task.description or "", diff)
        run = self._run_agent(reviewer, claim, attempt, prompt, "reviewer")
        self.sandbox.discard_changes()
        summary = run.outcome.summary if run.outcome else ""
        verdict, feedback = verdict_of(run.ok, summary, ctx.paths.log(task.id, attempt))
        ctx.ledger.append(
            "review.finished",
            sync=False,
            task=task.id,
            attempt=attempt,
            round=round_no,
            verdict=verdict.value,
        )
        self._say(Kind.AGENT_FINISHED, task, f"review round {round_no}: {verdict.value}")
        return verdict, feedback

    # --- context for the agent ----------------------------------------------------------
    def _context(self, task: Task) -> WorkerContext:
        ctx = self.ctx
        sb = self.sandbox.current
        return from_config(
            ctx.config,
            self.name,
            project_path=sb.workspace,
            hub=str(ctx.hub.path),
            airyra_agent=self.agent_id,
        ).for_task(task.id, task.title)

    def _install_context(self, agent: Agent, task: Task) -> None:
        """The instruction file (CLAUDE.md / AGENTS.md), written from inside the sandbox."""
        self.sandbox.run_script(self._context_file(agent, task))

    def _context_file(self, agent: Agent, task: Task) -> AfterCheckout:
        name = agent.instruction_file
        text = merge(self.sandbox.read_file(name), render_instructions(self._context(task)))
        return context_file(name, text, (name, *agent.workdir_ignores))

    def _dependency_branches(self, task: Task) -> list[tuple[str, str, str]]:
        """(task, branch, commit) of each dependency whose branch is on the hub."""
        ctx = self.ctx
        found = []
        for dep in ctx.client.dependencies(task.id):
            branch = f"{ctx.prefix}{dep.parent_id}"
            commit = ctx.hub.head_of(branch)
            if commit is not None:
                found.append((dep.parent_id, branch, commit))
        return found

    def _merge_dependencies(
        self, found: list[tuple[str, str, str]]
    ) -> tuple[DependencyOutput, ...]:
        ctx = self.ctx
        outputs = []
        for parent, branch, commit in found:
            title = ctx.client.get_task(parent).title
            files = tuple(ctx.hub.git().changed_files(ctx.base_commit, commit))
            merged = att.merge_dependency(self.sandbox.current, branch)
            outputs.append(DependencyOutput(parent, title, branch, commit, files, merged))
        return tuple(outputs)

    def _receipt(
        self,
        claim: Claim,
        attempt: int,
        branch: str,
        result: AttemptResult,
        *,
        started_at: str,
        duration: float,
    ) -> None:
        ctx, task = self.ctx, claim.task
        outcome = result.outcome
        receipt = receipts.Receipt(
            run_id=ctx.run_id,
            task_id=task.id,
            attempt=attempt,
            outcome="done" if result.ok else "failed",
            worker=self.name,
            agent=ctx.agent.name,
            branch=branch,
            base_commit=ctx.base_commit,
            started=started_at,
            ended=now(),
            duration_s=round(duration, 3),
            log_path=receipts.log_path(ctx.paths, task.id, attempt),
            head_commit=result.head,
            files_changed=list(result.files),
            exit_code=result.exit_code,
            reason=result.reason,
            title=task.title,
            tokens_in=outcome.tokens_in if outcome else None,
            tokens_out=outcome.tokens_out if outcome else None,
            cost_usd=outcome.cost_usd if outcome else None,
        )
        path = receipts.write_receipt(ctx.paths, receipt)
        ctx.ledger.append(
            EventType.RECEIPT_WRITTEN,
            task=task.id,
            attempt=attempt,
            path=str(path.relative_to(ctx.paths.dir)),
            sync=False,
        )


def _failure(code: int | None, outcome: AgentOutcome) -> str:
    """``the agent failed (exit 3): no compiler``, saying how it ended only once."""
    ended = exit_summary(code) if code is not None else "stopped"
    summary = outcome.summary.removeprefix(ended).lstrip(": ")
    return f"the agent failed ({ended}): {summary}" if summary else f"the agent failed ({ended})"


def _commit_message(task: Task) -> str:
    title = " ".join(task.title.split())[:72] or task.id
    return f"{title}\n\nisollm task {task.id}"
