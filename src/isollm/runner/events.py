"""The run's one event vocabulary: what the ledger records, what progress shows of it,
and which phase the replayed view puts a task in afterwards.

:data:`STEPS` is the single table: a step of a task is recorded once
(:func:`isollm.runner.steps.record`), as a ledger event; the progress line and the
replayed view (:mod:`isollm.runner.view`) are derived from that event through this
table. Run-level notices that are not ledger events (idle, stopping, warnings) are
:class:`Kind` values of their own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    """Every event type the ledger knows; others are counted and otherwise ignored."""

    LEDGER_OPENED = "ledger.opened"
    RUN_STARTED = "run.started"
    RUN_RESUMED = "run.resumed"
    RUN_FINISHED = "run.finished"
    TASK_CLAIMED = "task.claimed"
    SANDBOX_READY = "sandbox.ready"
    AGENT_STARTED = "agent.started"
    AGENT_FINISHED = "agent.finished"
    AGENT_STALLED = "agent.stalled"
    TASK_COMMITTED = "task.committed"
    TASK_PUSHED = "task.pushed"
    TASK_DONE = "task.done"
    TASK_FAILED = "task.failed"
    TASK_BLOCKED = "task.blocked"
    TASK_RELEASED = "task.released"
    RECEIPT_WRITTEN = "receipt.written"
    REVIEW_FINISHED = "review.finished"


class Phase(StrEnum):
    """Where a task stands after an event (the replayed view's state)."""

    CLAIMED = "claimed"
    SANDBOX_READY = "sandbox_ready"
    AGENT_STARTED = "agent_started"
    AGENT_FINISHED = "agent_finished"
    COMMITTED = "committed"
    PUSHED = "pushed"
    DONE = "done"
    FAILED = "failed"
    BLOCKED = "blocked"
    RELEASED = "released"


# Work that was under way when the ledger stopped: never lost, resume must reconcile it.
IN_FLIGHT = frozenset(
    {
        Phase.CLAIMED,
        Phase.SANDBOX_READY,
        Phase.AGENT_STARTED,
        Phase.AGENT_FINISHED,
        Phase.COMMITTED,
        Phase.PUSHED,
    }
)


class Kind(StrEnum):
    """What a progress line or board row shows."""

    RUN_STARTED = "run started"
    CLAIMED = "claimed"
    SANDBOX_READY = "sandbox ready"
    AGENT_STARTED = "agent started"
    AGENT_FINISHED = "agent finished"
    ACTIVITY = "activity"  # the agent's latest activity (not a ledger event)
    STALLED = "stalled"
    REVIEWED = "reviewed"
    PUSHED = "pushed"
    DONE = "done"
    FAILED = "failed"
    BLOCKED = "blocked"
    RELEASED = "released"
    RECOVERED = "recovered"
    IDLE = "idle"
    STOPPING = "stopping"
    WARNING = "warning"
    RUN_FINISHED = "run finished"


Facts = Mapping[str, Any]


def _fact(name: str) -> Callable[[Facts], str]:
    return lambda f: str(f.get(name) or "")


def _stall(f: Facts) -> str:
    """``no activity for 300 s (last: Bash(pytest)); stopping it``."""
    text = f"no activity for {f.get('idle')} s"
    if f.get("last"):
        text += f" (last: {f['last']})"
    return text + ("; stopping it" if f.get("action") == "stop" else "")


def _done_detail(f: Facts) -> str:
    """``2 file(s) changed``, or ``partial: ...; dependency ar-2 ... (left out)``: a
    delivered task that is not plainly done says so, and what was left out or saved."""
    text = f"{f.get('files', 0)} file(s) changed"
    result = f.get("result") or "done"
    if result == "no changes":
        text = "no changes"
    elif result != "done":
        text = f"{result}: {text}"
    notes = [str(n) for n in f.get("notes") or ()]
    return "; ".join([text, *notes])


@dataclass(frozen=True)
class Step:
    """One task event: its progress rendering and the replayed phase after it."""

    event: EventType
    kind: Kind | None  # the progress shown; None: nothing
    phase: Phase | None  # the task's phase afterwards; None: unchanged
    durable: bool  # appended with fdatasync; progress-only events ride on the next one
    detail: Callable[[Facts], str] = field(default=lambda f: "")


STEPS: dict[EventType, Step] = {
    s.event: s
    for s in (
        Step(
            EventType.TASK_CLAIMED,
            Kind.CLAIMED,
            Phase.CLAIMED,
            True,
            lambda f: f"attempt {f.get('attempt')}",
        ),
        Step(
            EventType.SANDBOX_READY, Kind.SANDBOX_READY, Phase.SANDBOX_READY, False, _fact("branch")
        ),
        Step(
            EventType.AGENT_STARTED,
            Kind.AGENT_STARTED,
            Phase.AGENT_STARTED,
            False,
            lambda f: f"{f.get('agent')} ({f.get('role')})",
        ),
        Step(
            EventType.AGENT_FINISHED,
            Kind.AGENT_FINISHED,
            Phase.AGENT_FINISHED,
            False,
            lambda f: f"exit {f.get('exit')}",
        ),
        Step(EventType.AGENT_STALLED, Kind.STALLED, None, False, _stall),
        Step(EventType.TASK_COMMITTED, None, Phase.COMMITTED, False),
        Step(
            EventType.TASK_PUSHED,
            Kind.PUSHED,
            Phase.PUSHED,
            False,
            lambda f: f"{f.get('branch')} at {str(f.get('sha') or '')[:10]}",
        ),
        Step(
            EventType.TASK_DONE,
            Kind.DONE,
            Phase.DONE,
            True,
            _done_detail,
        ),
        Step(
            EventType.TASK_FAILED,
            Kind.FAILED,
            Phase.FAILED,
            True,
            lambda f: f"attempt {f.get('attempt')}: {f.get('reason')}",
        ),
        Step(EventType.TASK_BLOCKED, Kind.BLOCKED, Phase.BLOCKED, True, _fact("reason")),
        Step(EventType.TASK_RELEASED, Kind.RELEASED, Phase.RELEASED, True, _fact("reason")),
        Step(EventType.RECEIPT_WRITTEN, None, None, False),
        Step(
            EventType.REVIEW_FINISHED,
            Kind.REVIEWED,
            None,
            False,
            lambda f: f"round {f.get('round')}: {f.get('verdict')}",
        ),
    )
}

RUN_EVENTS = frozenset(
    {EventType.LEDGER_OPENED, EventType.RUN_STARTED, EventType.RUN_RESUMED, EventType.RUN_FINISHED}
)


@dataclass(frozen=True)
class Progress:
    kind: Kind
    worker: str = ""
    task_id: str = ""
    title: str = ""
    detail: str = ""
    at: float = field(default_factory=time.monotonic)


Observer = Callable[[Progress], None]


def ignore(_: Progress) -> None:
    """An observer that shows nothing."""
