"""N workers over the queue: claim-next, execute, repeat, until nothing is left to do.

A worker that finds no ready task waits while another worker is busy (its task may be
what the remaining ones depend on) and stops when nobody is; with ``watch`` it keeps
polling for new tasks. ``stop`` lets running tasks finish and claims no more;
``abort`` stops the agents and gives their tasks back to the queue. Any error a worker
meets outside an attempt (ours or not) ends the run ``failed``; a task server that is
away is waited for (with backoff) while the running agents go on.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from isollm.errors import IsollmError
from isollm.runner import selection
from isollm.runner.context import RunContext, StartGate, StepGate, Steps
from isollm.runner.crashes import disk_full, disk_full_error
from isollm.runner.events import Kind, Progress
from isollm.runner.ports import Workspace
from isollm.runner.sandboxes import WorkerSandbox
from isollm.runner.view import RunView
from isollm.runner.worker import Worker
from isollm.tasks.client.retry import Backoff, retrying
from isollm.tasks.store.errors import ServerUnavailableError
from isollm.tasks.store.model import Claim

log = logging.getLogger(__name__)

STOP_MESSAGE = "finishing running tasks, Ctrl-C again to stop them now"
ABORT_MESSAGE = "stopping running agents now; their work is salvaged"


@dataclass
class Tally:
    """Counts kept while the run goes (the ledger is the record; this is for display)."""

    claimed: int = 0
    errors: list[str] = field(default_factory=list)
    crashes: list[BaseException] = field(default_factory=list)  # not isollm's own errors


class Scheduler:
    def __init__(
        self,
        ctx: RunContext,
        view: RunView,
        workspaces: Callable[[RunContext, str], Workspace] = WorkerSandbox,
    ) -> None:
        self.ctx = ctx
        self._attempts: dict[str, int] = {t.task_id: t.attempt for t in view.tasks.values()}
        self._failures: dict[str, list[str]] = {
            t.task_id: [f.reason for f in t.failures] for t in view.tasks.values()
        }
        self._busy = 0
        self._cond = threading.Condition()
        self.tally = Tally()
        gate = StartGate(ctx.settings.stagger_seconds, ctx.settings.max_concurrent_starts)
        steps = StepGate(ctx.settings.step_slots)
        self.workers = [
            Worker(ctx, n, gate, Steps(steps, ctx.aborting), workspaces(ctx, ctx.sandbox_name(n)))
            for n in range(1, ctx.settings.workers + 1)
        ]

    # --- control from the outside (signal handlers, tests) -----------------------------
    def stop(self) -> None:
        """Finish the tasks under way, claim no more."""
        if not self.ctx.stopping.is_set():
            self._halt(STOP_MESSAGE)

    def abort(self) -> None:
        """Stop the agents now and give their tasks back (their work salvaged)."""
        if not self.ctx.aborting.is_set():
            self.ctx.aborting.set()
            self._halt(ABORT_MESSAGE)

    def _halt(self, message: str) -> None:
        self.ctx.stopping.set()
        self.ctx.observer(Progress(Kind.STOPPING, detail=message))
        with self._cond:
            self._cond.notify_all()

    # --- the loop ----------------------------------------------------------------------
    def run(self) -> Tally:
        threads = [
            threading.Thread(target=self._loop, args=(w,), name=w.name, daemon=True)
            for w in self.workers
        ]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(timeout=0.2)  # wake up regularly so signal handlers can run
        return self.tally

    def _loop(self, worker: Worker) -> None:
        """A worker's thread. The one place an error a worker could not put on a task
        ends up, ours or not: recorded as the run's (which then ends failed), and the
        run aborted. Nothing escapes: a dead thread would leave its task stranded."""
        try:
            self._serve(worker)
        except Exception as exc:  # the run's last line: record, never die
            self._failed(worker, exc)
        finally:
            worker.steps.give_back()
            with contextlib.suppress(Exception):  # already recorded if it matters
                worker.sandbox.finish()

    def _failed(self, worker: Worker, exc: Exception) -> None:
        full = disk_full(exc)
        if full is not None:  # not a bug: said plainly, no crash log (none would fit)
            said = disk_full_error(exc, full, self.ctx.run_id)
            self.tally.errors.append(f"{worker.name}: {said.message}")
        elif isinstance(exc, IsollmError):
            self.tally.errors.append(f"{worker.name}: {exc}")
        else:
            log.debug("%s crashed", worker.name, exc_info=exc)
            self.tally.crashes.append(exc)
            self.tally.errors.append(f"{worker.name}: unexpected {type(exc).__name__}: {exc}")
        with contextlib.suppress(Exception):
            self.ctx.observer(Progress(Kind.WARNING, worker.name, detail=self.tally.errors[-1]))
        self.abort()

    def _serve(self, worker: Worker) -> None:
        """Claim and execute tasks until the run stops or nothing is left to do."""
        while not self.ctx.stopping.is_set():
            worker.steps.take()
            self._ready(worker)
            claim = self._claim(worker)
            if claim is None and self.ctx.stopping.is_set():
                return
            if claim is None:
                worker.steps.give_back()
                if not self._wait_for_work():
                    return
                continue
            with self._cond:
                self._busy += 1
                self.tally.claimed += 1
            try:
                self._execute(worker, claim)
            finally:
                worker.steps.give_back()
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _claim(self, worker: Worker) -> Claim | None:
        """The next ready task, or None; waits out a task server that is away (None if
        the run stops meanwhile, the error once the patience runs out)."""
        ctx = self.ctx
        try:
            return retrying(
                lambda: selection.claim_next(
                    ctx.client, worker.agent_id, ctx.settings.lease_seconds, ctx.settings.only
                ),
                backoff=Backoff(ctx.settings.server_patience),
                stop=ctx.stopping,
                notify=worker.warn,
            )
        except ServerUnavailableError:
            if ctx.stopping.is_set():
                return None
            raise

    def _execute(self, worker: Worker, claim: Claim) -> None:
        task_id = claim.task.id
        attempt = self._attempts.get(task_id, 0) + 1
        failures = self._failures.setdefault(task_id, [])
        try:
            self._attempts[task_id] = worker.execute(claim, attempt, failures)
        except BaseException:  # outside any attempt: the task goes back, the run fails
            worker.give_back(claim)
            raise

    def _ready(self, worker: Worker) -> None:
        """A fresh sandbox before the claim. If it cannot be made now, the attempt after
        the claim tries again, and fails (retried, then blocked) if it still cannot."""
        try:
            worker.sandbox.ready()
        except IsollmError as exc:
            self.ctx.observer(Progress(Kind.WARNING, worker.name, detail=str(exc)))

    def _wait_for_work(self) -> bool:
        """Wait for a chance of new ready tasks; False when the run should end."""
        with self._cond:
            if self._busy == 0 and not self.ctx.settings.watch:
                return False
            self.ctx.observer(Progress(Kind.IDLE))
            self._cond.wait(timeout=self.ctx.settings.poll_seconds)
            return not self.ctx.stopping.is_set()
