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
from enum import StrEnum
from typing import Any

import orjson

Event = dict[str, Any]


class Phase(StrEnum):
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
    TASK_COMMITTED = "task.committed"
    TASK_PUSHED = "task.pushed"
    TASK_DONE = "task.done"
    TASK_FAILED = "task.failed"
    TASK_BLOCKED = "task.blocked"
    TASK_RELEASED = "task.released"
    RECEIPT_WRITTEN = "receipt.written"


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
    failures: tuple[Failure, ...] = ()  # tuples: nothing to allocate for most tasks
    receipts: tuple[str, ...] = ()

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


_RUN_EVENT_TYPES = frozenset(
    {EventType.LEDGER_OPENED, EventType.RUN_STARTED, EventType.RUN_RESUMED, EventType.RUN_FINISHED}
)


# -- task event handlers: each sets the phase and the facts its event carries --------------
# Phases are bound as default arguments: reading ``Phase.X`` costs a slow enum class
# lookup on Python 3.11, and these run once per event of every replay.


def _claimed(task: TaskView, event: Event, phase: Phase = Phase.CLAIMED) -> None:
    task.phase = phase
    task.attempt = event.get("attempt") or task.attempt + 1
    task.worker = event.get("worker")
    task.exit_code = task.commit = task.pushed = task.reason = None


def _phase(phase: Phase) -> Callable[[TaskView, Event], None]:
    def handler(task: TaskView, event: Event) -> None:
        task.phase = phase

    return handler


def _agent_finished(task: TaskView, event: Event, phase: Phase = Phase.AGENT_FINISHED) -> None:
    task.phase = phase
    task.exit_code = event.get("exit")


def _committed(task: TaskView, event: Event, phase: Phase = Phase.COMMITTED) -> None:
    task.phase = phase
    task.commit = event.get("sha")


def _pushed(task: TaskView, event: Event, phase: Phase = Phase.PUSHED) -> None:
    task.phase = phase
    task.pushed = event.get("sha")
    task.branch = event.get("branch") or task.branch


def _failed(task: TaskView, event: Event, phase: Phase = Phase.FAILED) -> None:
    task.phase = phase
    task.reason = event.get("reason") or "unknown"
    task.failures += (Failure(event.get("attempt") or task.attempt, task.reason),)


def _stopped(phase: Phase) -> Callable[[TaskView, Event], None]:
    def handler(task: TaskView, event: Event) -> None:
        task.phase = phase
        task.reason = event.get("reason")

    return handler


def _receipt(task: TaskView, event: Event) -> None:
    path = event.get("path")
    if isinstance(path, str):
        task.receipts += (path,)


_TASK_HANDLERS: dict[str, Callable[[TaskView, Event], None]] = {
    EventType.TASK_CLAIMED: _claimed,
    EventType.SANDBOX_READY: _phase(Phase.SANDBOX_READY),
    EventType.AGENT_STARTED: _phase(Phase.AGENT_STARTED),
    EventType.AGENT_FINISHED: _agent_finished,
    EventType.TASK_COMMITTED: _committed,
    EventType.TASK_PUSHED: _pushed,
    EventType.TASK_DONE: _phase(Phase.DONE),
    EventType.TASK_FAILED: _failed,
    EventType.TASK_BLOCKED: _stopped(Phase.BLOCKED),
    EventType.TASK_RELEASED: _stopped(Phase.RELEASED),
    EventType.RECEIPT_WRITTEN: _receipt,
}
