"""What a run's ledger says happened: events folded into a :class:`RunView`.

Each task moves through phases (claimed → sandbox ready → agent started → agent
finished → committed → pushed → done, or failed / blocked / released); the view keeps
the latest phase of every task with the facts of its current attempt, every failure,
and the receipts written. Idempotency keys seen in events are sorted into started and
completed, so a command whose completion was recorded is never run again
(:mod:`isollm.runner.idempotency`).

:meth:`RunView.fold_lines` is the replay hot path: it parses and applies raw ledger
lines with as little work per event as it can.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from isollm.runner.events import IN_FLIGHT, RUN_EVENTS, STEPS, EventType, Phase

__all__ = ["IN_FLIGHT", "BadLine", "EventType", "Failure", "Phase", "RunView", "TaskView"]

Event = dict[str, Any]


@dataclass(frozen=True)
class Failure:
    attempt: int
    reason: str


@dataclass(slots=True)
class TaskView:
    """The latest known state of one task in a run."""

    task_id: str
    phase: Phase = Phase.CLAIMED
    attempt: int = 0
    worker: str | None = None
    exit_code: int | None = None
    commit: str | None = None
    pushed: str | None = None
    branch: str | None = None
    reason: str | None = None
    failures: tuple[Failure, ...] = ()  # those that count (not excused); tuples: cheap
    receipts: tuple[str, ...] = ()
    reviews: tuple[str, ...] = ()  # the verdicts of review rounds, in order
    stalls: int = 0  # times an agent of this task was flagged for no activity

    @property
    def in_flight(self) -> bool:
        return self.phase in IN_FLIGHT


class BadLine(Exception):  # noqa: N818 - internal signal, not an error users see
    """A ledger line that cannot be applied; ``line`` is the raw bytes."""

    def __init__(self, line: bytes, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


@dataclass
class RunView:
    """The fold of a ledger. Compare two views with ``==``."""

    run_id: str | None = None
    last_seq: int = 0
    tasks: dict[str, TaskView] = field(default_factory=dict)
    run_events: list[Event] = field(default_factory=list)
    started_keys: set[str] = field(default_factory=set)
    completed_keys: set[str] = field(default_factory=set)
    unknown_events: int = 0

    @property
    def events(self) -> int:
        return self.last_seq

    @property
    def status(self) -> str | None:
        """The status recorded by the last ``run.finished`` event, if any."""
        for event in reversed(self.run_events):
            if event["type"] == EventType.RUN_FINISHED:
                return str(event.get("status"))
        return None

    def in_flight(self) -> list[TaskView]:
        return [t for t in self.tasks.values() if t.in_flight]

    def with_phase(self, *phases: Phase) -> list[TaskView]:
        return [t for t in self.tasks.values() if t.phase in phases]

    def apply(self, event: Event) -> None:
        """Apply one parsed event; ValueError if it cannot follow the events so far."""
        try:
            self.fold_lines([orjson.dumps(event)])
        except BadLine as bad:
            raise ValueError(bad.reason) from None

    def fold_events(self, events: Iterable[Event]) -> RunView:
        for event in events:
            self.apply(event)
        return self

    def fold_lines(self, lines: list[bytes]) -> None:
        """Parse and apply raw ledger lines in order; BadLine at the first that fails."""
        loads = orjson.loads
        tasks = self.tasks
        handlers = _TASK_HANDLERS
        started, completed = self.started_keys, self.completed_keys
        expect = self.last_seq + 1
        try:
            for line in lines:
                try:
                    event = loads(line)
                    seq = event["seq"]
                    kind = event["type"]
                except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                    raise BadLine(line, _parse_problem(exc)) from None
                if seq != expect:
                    raise BadLine(line, f"sequence number {seq!r} where {expect} was expected")
                key = event.get("ik")
                if key is not None and type(key) is not str:
                    raise BadLine(line, "'ik' is not a string")
                task_id = event.get("task")
                if task_id is None:
                    self._apply_run_event(line, event)
                elif type(task_id) is not str:
                    raise BadLine(line, "'task' is not a string")
                elif (handler := handlers.get(kind)) is None:
                    self.unknown_events += 1
                else:
                    task = tasks.get(task_id)
                    if task is None:
                        task = tasks[task_id] = TaskView(task_id)
                    handler(task, event)
                if key is not None:
                    (completed if event.get("end") else started).add(key)
                expect += 1
        finally:
            self.last_seq = expect - 1

    def _apply_run_event(self, line: bytes, event: Event) -> None:
        run_id = event.get("run")
        if self.run_id is None:
            self.run_id = run_id
        elif run_id != self.run_id:
            raise BadLine(line, f"event of run {run_id!r} in the ledger of run {self.run_id!r}")
        if event["type"] not in _RUN_EVENT_TYPES:
            self.unknown_events += 1
        self.run_events.append(event)


def _parse_problem(exc: Exception) -> str:
    if isinstance(exc, orjson.JSONDecodeError):
        return f"not valid JSON ({exc})"
    if isinstance(exc, KeyError):
        return f"no {exc.args[0]!r} field"
    return "not a JSON object"


_RUN_EVENT_TYPES = RUN_EVENTS


# -- task event handlers -------------------------------------------------------------------
# The phase each event leaves a task in comes from the vocabulary (events.STEPS); what is
# here is only the facts an event carries. A handler is made per event with its phase
# bound in a closure: reading ``Phase.X`` costs a slow enum class lookup on Python 3.11,
# and these run once per event of every replay.

Handler = Callable[[TaskView, Event], None]


def _claimed(phase: Phase) -> Handler:
    def handler(task: TaskView, event: Event) -> None:
        task.phase = phase
        task.attempt = event.get("attempt") or task.attempt + 1
        task.worker = event.get("worker")
        task.exit_code = task.commit = task.pushed = task.reason = None

    return handler


def _phase(phase: Phase) -> Handler:
    def handler(task: TaskView, event: Event) -> None:
        task.phase = phase

    return handler


def _agent_finished(phase: Phase) -> Handler:
    def handler(task: TaskView, event: Event) -> None:
        task.phase = phase
        task.exit_code = event.get("exit")

    return handler


def _committed(phase: Phase) -> Handler:
    def handler(task: TaskView, event: Event) -> None:
        task.phase = phase
        task.commit = event.get("sha")

    return handler


def _pushed(phase: Phase) -> Handler:
    def handler(task: TaskView, event: Event) -> None:
        task.phase = phase
        task.pushed = event.get("sha")
        task.branch = event.get("branch") or task.branch

    return handler


def _failed(phase: Phase) -> Handler:
    def handler(task: TaskView, event: Event) -> None:
        task.phase = phase
        task.reason = event.get("reason") or "unknown"
        if not event.get("excused"):  # failed while the task server was away: not counted
            task.failures += (Failure(event.get("attempt") or task.attempt, task.reason),)

    return handler


def _stopped(phase: Phase) -> Handler:
    def handler(task: TaskView, event: Event) -> None:
        task.phase = phase
        task.reason = event.get("reason")

    return handler


def _receipt(task: TaskView, event: Event) -> None:
    path = event.get("path")
    if isinstance(path, str):
        task.receipts += (path,)


def _stalled(task: TaskView, event: Event) -> None:
    task.stalls += 1


def _reviewed(task: TaskView, event: Event) -> None:
    verdict = event.get("verdict")
    if isinstance(verdict, str):
        task.reviews += (verdict,)


# Events whose facts the view keeps; every other step of the table only moves the phase.
_WITH_PHASE: dict[EventType, Callable[[Phase], Handler]] = {
    EventType.TASK_CLAIMED: _claimed,
    EventType.AGENT_FINISHED: _agent_finished,
    EventType.TASK_COMMITTED: _committed,
    EventType.TASK_PUSHED: _pushed,
    EventType.TASK_FAILED: _failed,
    EventType.TASK_BLOCKED: _stopped,
    EventType.TASK_RELEASED: _stopped,
}
_NO_PHASE: dict[EventType, Handler] = {
    EventType.RECEIPT_WRITTEN: _receipt,
    EventType.REVIEW_FINISHED: _reviewed,
    EventType.AGENT_STALLED: _stalled,
}


def _handler(event: EventType, phase: Phase | None) -> Handler:
    if phase is None:
        return _NO_PHASE[event]
    return _WITH_PHASE.get(event, _phase)(phase)


_TASK_HANDLERS: dict[str, Handler] = {e: _handler(e, s.phase) for e, s in STEPS.items()}
