"""One attempt at one claimed task, inside the worker's sandbox.

:class:`TaskAttempt` puts the sandbox on the task's branch, merges the dependencies'
branches, runs the agent (and the reviewer, with ``runner.review``) and delivers the
result to the hub through the host's intake (:mod:`isollm.git.intake`: the only ref it
may write is the branch of the task the worker holds, checked against the claim right
before the ref moves). It records its steps through the worker; the worker records how
the attempt ended and decides what follows.

Nothing is dropped silently: a dependency that does not merge fails the attempt with the
files in conflict (or, with ``runner.on_conflict: partial``, is left out and the result is
``partial``); a delivery that changes nothing is ``no changes`` (or fails, with
``runner.empty: fail``); a task the reviewer never approved is ``unapproved``; where an
earlier attempt's work went to a salvage ref, the notes say so; tokens and cost add up
every agent and reviewer run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from isollm.agents import Invocation, WorkerContext, from_config
from isollm.agents.base import Agent, AgentOutcome
from isollm.agents.common import exit_summary
from isollm.agents.environment import worker_env
from isollm.agents.instructions import merge
from isollm.agents.instructions import render as render_instructions
from isollm.agents.promptfile import staged
from isollm.config.load import is_isollm_path
from isollm.coordination import conflicts as coordination
from isollm.git import intake
from isollm.runner import attempt as att
from isollm.runner.events import EventType
from isollm.runner.policy import Outcome
from isollm.runner.prompt import DependencyOutput, TaskPrompt, render
from isollm.runner.receipts import Result
from isollm.runner.review import Verdict, review_prompt, verdict_of
from isollm.runner.sandboxes import context_file
from isollm.runner.watch import watch_for
from isollm.sandbox.gitops import AfterCheckout
from isollm.tasks.store.errors import StaleClaimError
from isollm.tasks.store.model import Claim, Task

if TYPE_CHECKING:
    from isollm.runner.worker import Worker


@dataclass(frozen=True)
class AttemptResult:
    outcome: Outcome
    reason: str | None = None
    head: str | None = None
    files: tuple[str, ...] = ()
    exit_code: int | None = None
    report: AgentOutcome | None = None  # the agent's last run; tokens and cost of all runs
    result: Result = Result.DONE  # what a delivered task amounts to
    notes: tuple[str, ...] = ()  # what was left out (a dependency) or saved aside (salvage)
    flagged: bool = False  # delivered, but not a success: the run exits 1
    excused: bool = False  # failed while the task server was away: never counts

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.SUCCEEDED


@dataclass(frozen=True)
class Found:
    """A dependency whose branch is on the hub."""

    task_id: str
    branch: str
    commit: str


class TaskAttempt:
    def __init__(self, worker: Worker, claim: Claim, attempt: int, failures: tuple[str, ...]):
        self.w = worker
        self.ctx = worker.ctx
        self.claim = claim
        self.task = claim.task
        self.attempt = attempt
        self.failures = failures
        self.branch = f"{self.ctx.prefix}{self.task.id}"
        self.sandbox = worker.sandbox
        self.reports: list[AgentOutcome] = []  # every agent and reviewer run's report
        self.notes: list[str] = []
        self.partial = self.unapproved = False

    def _record(self, event: EventType, **facts: object) -> None:
        self.w.record(event, self.task, self.attempt, **facts)

    # --- the attempt ----------------------------------------------------------------
    def run(self) -> AttemptResult:
        """The attempt, its result classified and every agent run's usage counted."""
        return self._classified(self._run())

    def usage(self) -> AgentOutcome | None:
        """The tokens and cost of every agent run so far (for an attempt that raised)."""
        return _summed(None, self.reports)

    def _run(self) -> AttemptResult:
        ctx = self.ctx
        self.sandbox.ready()  # done before the claim, unless it failed then
        self._salvaged(self.sandbox.take_salvaged())
        found = self._dependency_branches()
        # With nothing to merge, the instruction file is written by the checkout's own
        # sandbox command (one start fewer); merges come first when there are some.
        context = None if found else self._context_file(ctx.agent)
        self.sandbox.enter(self.branch, context)
        self._record(EventType.SANDBOX_READY, branch=self.branch)
        deps = self._merge_dependencies(found)
        refused = self._unmerged(deps)
        if refused is not None:
            return refused
        start = self.sandbox.head() if deps else ctx.base_commit
        known = (start, (ctx.base_commit, *(f.commit for f in found)))
        return self._rounds(deps, known, installed=context is not None)

    def _rounds(
        self,
        deps: tuple[DependencyOutput, ...],
        known: tuple[str, tuple[str, ...]],
        *,
        installed: bool,
    ) -> AttemptResult:
        """The agent's run (and with ``runner.review``, review rounds), then the delivery."""
        ctx, task = self.ctx, self.task
        feedback = ""
        rounds = ctx.settings.max_review_rounds if ctx.settings.review else 1
        for round_no in range(1, rounds + 1):
            prompt = render(self._prompt(deps, feedback))
            run = self._run_agent(ctx.agent, prompt, "agent", installed=installed and round_no == 1)
            if not run.ok:
                return run
            if not ctx.settings.review:
                # Commit and deliver in one sandbox command. Killed between the delivery
                # and its records, a resumed run reruns the task on top of its delivered
                # branch: nothing is lost, and no completion was recorded yet.
                return self._deliver(known, run, _commit_message(task))
            verdict, feedback = self._review_round(round_no)
            if verdict is Verdict.APPROVE:
                return self._deliver(known, run)
        self.unapproved = True
        self.notes.append(f"the reviewer did not approve it in {rounds} round(s): {feedback}")
        return self._deliver(known, run)

    def _prompt(self, deps: tuple[DependencyOutput, ...], feedback: str) -> TaskPrompt:
        ctx, task = self.ctx, self.task
        return TaskPrompt(
            task.id,
            task.title,
            task.description or "",
            self.branch,
            self.ctx.config.git.base_branch,
            self.attempt,
            deps,
            self.failures,
            feedback,
            notes=coordination.note_for(ctx.client, ctx.hub, ctx.base_commit, ctx.prefix, task),
        )

    # --- how it ended -------------------------------------------------------------------
    def _unmerged(self, deps: tuple[DependencyOutput, ...]) -> AttemptResult | None:
        """A failure naming the dependencies that did not merge (``runner.on_conflict:
        fail``); with ``partial``, None and the task marked partial."""
        left = [_not_merged(d) for d in deps if not d.merged]
        if not left:
            return None
        if self.ctx.settings.on_conflict != "partial":
            return AttemptResult(Outcome.FAILED, "; ".join(left))
        self.partial = True
        self.notes.extend(f"{why} (left out)" for why in left)
        return None

    def _salvaged(self, refs: tuple[str, ...]) -> None:
        """Report where an earlier attempt's work was saved (only for a retry: a first
        attempt's sandbox held another task's work, reported with that task)."""
        if not self.failures:
            return
        hub = self.ctx.hub.path
        for ref in refs:
            self.notes.append(
                f"an earlier attempt's work was saved to {ref}; see it with "
                f"`git fetch {hub} {ref} && git log -p FETCH_HEAD`"
            )

    def _classified(self, result: AttemptResult) -> AttemptResult:
        """``result`` with the usage of every agent run and, when delivered, what it
        amounts to: partial, unapproved, no changes (or a failure: ``runner.empty``)."""
        result = dataclasses.replace(
            result, report=_summed(result.report, self.reports), notes=tuple(self.notes)
        )
        if not result.ok:
            return result
        if not result.files and self.ctx.settings.empty == "fail":
            why = "the agent changed nothing (runner.empty: fail)"
            return dataclasses.replace(result, outcome=Outcome.FAILED, reason=why)
        settings = self.ctx.settings
        if self.partial:
            return dataclasses.replace(result, result=Result.PARTIAL, flagged=True)
        if self.unapproved:
            flagged = settings.review_required
            return dataclasses.replace(result, result=Result.UNAPPROVED, flagged=flagged)
        if not result.files:
            return dataclasses.replace(result, result=Result.NO_CHANGES)
        return result

    def _review_round(self, round_no: int) -> tuple[Verdict, str]:
        head = self.sandbox.commit(_commit_message(self.task))
        self._record(EventType.TASK_COMMITTED, sha=head)
        return self._review(head, round_no)

    def _grant(self) -> intake.Grant:
        """The one ref this attempt may write: its task's branch, while the claim holds."""
        ctx, task, claim = self.ctx, self.task, self.claim
        return intake.task_grant(
            ctx.prefix,
            task.id,
            ctx.config.git.base_branch,
            lambda: ctx.client.heartbeat(
                task.id, self.w.agent_id, claim.fence, ctx.settings.lease_seconds
            ),
        )

    def _deliver(
        self, known: tuple[str, tuple[str, ...]], run: AttemptResult, message: str | None = None
    ) -> AttemptResult:
        """Deliver HEAD to the task's branch through the intake (committing what is left
        first, with ``message``). ``known``: the commit the task started from (the base,
        or the base with the dependencies merged) and commits the hub has; the files
        changed from the start to the delivered head are what the task produced."""
        start, haves = known
        try:
            delivery = self.sandbox.deliver(self._grant(), haves=haves, message=message)
        except StaleClaimError as exc:
            reason = f"the claim was lost before the delivery: {exc}"
            return dataclasses.replace(run, outcome=Outcome.LOST_CLAIM, reason=reason)
        head = delivery.new
        if message is not None:
            self._record(EventType.TASK_COMMITTED, sha=head)
        self.ctx.upkeep.pushed()
        self._record(EventType.TASK_PUSHED, sha=head, branch=self.branch)
        files: tuple[str, ...] = ()
        if head != start:
            files = tuple(self.ctx.hub.git().changed_files(start, head))
        if own := [f for f in files if is_isollm_path(f)]:
            self.w.warn(
                f"{self.task.id} changes isollm's own files ({', '.join(own[:3])}): "
                "`isollm merge` refuses it unless you pass --allow-isollm-files"
            )
        for warning in coordination.warnings_for(
            self.ctx.client, self.ctx.hub, self.ctx.base_commit, self.ctx.prefix, self.task.id
        ):
            self.w.warn(warning)
        self.sandbox.delivered()
        return dataclasses.replace(run, head=head, files=files)

    # --- the agent's runs -------------------------------------------------------------
    def _run_agent(
        self, agent: Agent, prompt: str, role: str, *, installed: bool = False
    ) -> AttemptResult:
        ctx, task = self.ctx, self.task
        inv = Invocation(
            prompt,
            task.id,
            task.title,
            self.sandbox.workdir,
            model=agent.settings.model,
            home=self.sandbox.home_inside,
            sandboxed=self.sandbox.isolated,
        )
        agent, inv = staged(agent, inv)  # a prompt too long for argv goes in a file
        if not installed:
            self.sandbox.run_script(self._context_file(agent))
        self.sandbox.prepare_agent(agent, self.sandbox.workdir)
        token = ctx.task_token(self.w.agent_id)
        env = self.sandbox.agent_env(
            {**agent.env(ctx.host_env, inv), **worker_env(self._context(), token=token)},
            ctx.task_socket(),
        )
        self.w.steps.give_back()  # the agent's run is not one of the runner's steps
        try:
            return self._run_started(agent, agent.headless_argv(inv), env, role)
        finally:
            self.w.steps.take(finishing=True)

    def _run_started(
        self, agent: Agent, argv: list[str], env: dict[str, str], role: str
    ) -> AttemptResult:
        ctx = self.ctx
        if not self.w.gate.enter(ctx.aborting):
            return AttemptResult(Outcome.ABORTED, "the run was interrupted")
        self._record(EventType.AGENT_STARTED, role=role, agent=agent.name)
        with self._heartbeat() as beat:
            run = self.sandbox.run_agent(
                argv,
                env=env,
                log_path=ctx.paths.log(self.task.id, self.attempt),
                timeout=ctx.settings.agent_timeout,
                abort=ctx.aborting,
                heartbeat=beat,
                watch=watch_for(agent.name, ctx.settings, ctx.observer, self.w.name, self.task)(
                    lambda **facts: self._record(EventType.AGENT_STALLED, **facts)
                ),
            )
        code = run.exit_code
        report = agent.parse_result(code if code is not None else -1, run.output)
        self.reports.append(report)
        self._record(
            EventType.AGENT_FINISHED,
            exit=code,
            role=role,
            tokens_in=report.tokens_in,
            tokens_out=report.tokens_out,
            cost=report.cost_usd,
        )
        outcome = run.stopped or (Outcome.SUCCEEDED if report.success else Outcome.FAILED)
        reason = run.stopped_reason or (None if report.success else _failure(code, report))
        return AttemptResult(outcome, reason, exit_code=code, report=report)

    def _heartbeat(self) -> att.Heartbeat:
        ctx, task, claim = self.ctx, self.task, self.claim
        return att.Heartbeat(
            lambda: ctx.client.heartbeat(
                task.id, self.w.agent_id, claim.fence, ctx.settings.lease_seconds
            ),
            max(ctx.settings.lease_seconds / 3, 0.5),
        )

    def _review(self, head: str, round_no: int) -> tuple[Verdict, str]:
        ctx, task = self.ctx, self.task
        reviewer = ctx.reviewer or ctx.agent
        diff = self.sandbox.diff(ctx.base_commit, head)
        prompt = review_prompt(task.id, task.title, task.description or "", diff)
        run = self._run_agent(reviewer, prompt, "reviewer")
        self.sandbox.discard_changes()
        summary = run.report.summary if run.report else ""
        verdict, feedback = verdict_of(run.ok, summary, ctx.paths.log(task.id, self.attempt))
        self._record(EventType.REVIEW_FINISHED, round=round_no, verdict=verdict.value)
        return verdict, feedback

    # --- context for the agent ----------------------------------------------------------
    def _context(self) -> WorkerContext:
        ctx, task = self.ctx, self.task
        return from_config(
            ctx.config,
            self.w.name,
            project_path=str(self.sandbox.workdir),
            hub=str(ctx.hub.path),
            airyra_agent=self.w.agent_id,
        ).for_task(task.id, task.title)

    def _context_file(self, agent: Agent) -> AfterCheckout:
        """The instruction file (CLAUDE.md / AGENTS.md), written from inside the sandbox."""
        name = agent.instruction_file
        text = merge(self.sandbox.read_file(name), render_instructions(self._context()))
        return context_file(name, text, (name, *agent.workdir_ignores))

    def _dependency_branches(self) -> list[Found]:
        ctx = self.ctx
        found = []
        for dep in ctx.client.dependencies(self.task.id):
            branch = f"{ctx.prefix}{dep.parent_id}"
            commit = ctx.hub.head_of(branch)
            if commit is not None:
                found.append(Found(dep.parent_id, branch, commit))
        return found

    def _merge_dependencies(self, found: list[Found]) -> tuple[DependencyOutput, ...]:
        ctx = self.ctx
        outputs = []
        for dep in found:
            title = ctx.client.get_task(dep.task_id).title
            files = tuple(ctx.hub.git().changed_files(ctx.base_commit, dep.commit))
            merge = self.sandbox.merge(dep.branch)
            outputs.append(
                DependencyOutput(
                    dep.task_id,
                    title,
                    dep.branch,
                    dep.commit,
                    files,
                    merge.ok,
                    merge.conflicts,
                    merge.why,
                )
            )
        return tuple(outputs)


def _failure(code: int | None, outcome: AgentOutcome) -> str:
    """``the agent failed (exit 3): no compiler``, saying how it ended only once."""
    ended = exit_summary(code) if code is not None else "stopped"
    summary = outcome.summary.removeprefix(ended).lstrip(": ")
    return f"the agent failed ({ended}): {summary}" if summary else f"the agent failed ({ended})"


def _not_merged(dep: DependencyOutput) -> str:
    """``dependency ar-2 (isollm/ar-2) does not merge: conflicts in a.py, b.py``."""
    what = f"dependency {dep.task_id} ({dep.branch}) does not merge"
    if dep.conflicts:
        shown = ", ".join(dep.conflicts[:20])
        more = f" and {len(dep.conflicts) - 20} more" if len(dep.conflicts) > 20 else ""
        return f"{what}: conflicts in {shown}{more}"
    return f"{what}: {dep.why}" if dep.why else what


def _summed(last: AgentOutcome | None, reports: list[AgentOutcome]) -> AgentOutcome | None:
    """``last`` (the agent's last run) with the tokens and cost of every run added up."""
    if not reports:
        return last

    def total(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return sum(known) if known else None

    tokens_in = total([r.tokens_in for r in reports])
    tokens_out = total([r.tokens_out for r in reports])
    return dataclasses.replace(
        last or reports[-1],
        tokens_in=None if tokens_in is None else int(tokens_in),
        tokens_out=None if tokens_out is None else int(tokens_out),
        cost_usd=total([r.cost_usd for r in reports]),
    )


def _commit_message(task: Task) -> str:
    title = " ".join(task.title.split())[:72] or task.id
    return f"{title}\n\nisollm task {task.id}"
