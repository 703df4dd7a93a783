"""Recording one step of a task: the one call that writes the ledger event and shows
the progress derived from it (through :data:`isollm.runner.events.STEPS`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from isollm.runner.events import STEPS, EventType, Observer, Progress
from isollm.runner.ledger import LedgerWriter


@dataclass(frozen=True)
class Recorder:
    """Where a worker's steps go: the run's ledger and whoever shows progress."""

    ledger: LedgerWriter
    observer: Observer
    worker: str = ""

    def record(
        self,
        event: EventType,
        task_id: str,
        *,
        title: str = "",
        attempt: int | None = None,
        detail: str | None = None,
        show: bool = True,
        **facts: Any,
    ) -> int:
        """Append ``event`` (durable or not, as the table says) and show its progress;
        ``detail`` overrides the table's rendering of the facts; ``show=False`` records
        only (a fact learnt on resume, not something this run did). The event's ``seq``."""
        step = STEPS[event]
        seq = self.ledger.append(event, task=task_id, attempt=attempt, sync=step.durable, **facts)
        if show and step.kind is not None:
            if detail is None:
                detail = step.detail({**facts, "attempt": attempt})
            self.observer(Progress(step.kind, self.worker, task_id, title, detail))
        return seq
