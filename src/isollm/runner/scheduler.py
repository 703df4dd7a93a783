"""N workers over the queue: claim-next, execute, repeat, until nothing is left to do.

A worker that finds no ready task waits while another worker is busy (its task may be
what the remaining ones depend on) and stops when nobody is; with ``watch`` it keeps
polling for new tasks. ``stop`` lets running tasks finish and claims no more;
``abort`` stops the agents and gives their tasks back to the queue.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from isollm.errors import IsollmError
from isollm.runner.context import RunContext, StartGate, StepGate, Steps
from isollm.runner.events import Kind, Progress
from isollm.runner.ports import Workspace
from isollm.runner.sandboxes import WorkerSandbox
from isollm.runner.view import RunView
from isollm.runner.worker import Worker
from isollm.tasks.store.model import Claim

log = logging.getLogger(__name__)


@dataclass
class Tally:
    """Counts kept while the run goes (the ledger is the record; this is for display)."""

    claimed: int = 0
    errors: list[str] = field(default_factory=list)


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
        self.ctx.stopping.set()
        self.ctx.observer(Progress(Kind.STOPPING, detail="finishing running tasks"))
        with self._cond:
            self._cond.notify_all()

    def abort(self) -> None:
        """Stop the agents now and give their tasks back."""
        self.ctx.aborting.set()
        self.stop()

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
        ends up: recorded as the run's, and the run aborted."""
        try:
            self._serve(worker)
        except IsollmError as exc:
            self.tally.errors.append(f"{worker.name}: {exc}")
            self.ctx.observer(Progress(Kind.WARNING, worker.name, detail=str(exc)))
            self.abort()
        finally:
            worker.steps.give_back()
            worker.sandbox.finish()

    def _serve(self, worker: Worker) -> None:
        """Claim and execute tasks until the run stops or nothing is left to do."""
        while not self.ctx.stopping.is_set():
            worker.steps.take()
            self._ready(worker)
            claim = self.ctx.client.claim_next(worker.agent_id, self.ctx.settings.lease_seconds)
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

    def _execute(self, worker: Worker, claim: Claim) -> None:
        task_id = claim.task.id
        attempt = self._attempts.get(task_id, 0) + 1
        failures = self._failures.setdefault(task_id, [])
        self._attempts[task_id] = worker.execute(claim, attempt, failures)

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
