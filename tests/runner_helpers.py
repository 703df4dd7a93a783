"""Builders shared by the runner tests: views from events, receipts with defaults."""

from __future__ import annotations

from typing import Any

from isollm.runner.receipts import Receipt
from isollm.runner.view import RunView

RUN = "20261121-190512-ab12"


def fold(*events: tuple[str, dict[str, Any]]) -> RunView:
    """A view of ``(type, fields)`` events numbered from 1 in run :data:`RUN`."""
    return RunView().fold_events(
        {"seq": seq, "ts": f"t{seq}", "run": RUN, "type": kind, **fields}
        for seq, (kind, fields) in enumerate(events, 1)
    )


def make_receipt(task: str = "ar-0001", attempt: int = 1, **fields: Any) -> Receipt:
    """A done receipt of run :data:`RUN`; ``fields`` override the defaults."""
    values: dict[str, Any] = {
        "run_id": RUN,
        "task_id": task,
        "attempt": attempt,
        "outcome": "done",
        "worker": "w1",
        "agent": "claude",
        "branch": f"isollm/{task}",
        "base_commit": "a" * 40,
        "started": "2026-11-21T19:05:12.000000Z",
        "ended": "2026-11-21T19:06:42.000000Z",
        "duration_s": 90.0,
        "log_path": f"logs/{task}-{attempt}.log",
    }
    return Receipt(**{**values, **fields})
