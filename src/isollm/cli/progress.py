"""Live progress of a run: a rich table on a terminal, plain lines otherwise.

Both keep one row per worker (:class:`Rows`): its task, its state and since when, the
agent's latest activity and since when, and whether it is flagged as stalled. The board
is drawn again four times a second from those rows, so its times keep moving between
events; the plain output prints a line per event and, for a worker busy with a task
that printed nothing for :data:`HEARTBEAT_SECONDS`, a heartbeat line with its time in
that state and its latest activity, so a log shows that work goes on.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from rich.live import Live
from rich.table import Table
from rich.text import Text

from isollm import redaction, terminal
from isollm.cli import output
from isollm.runner.events import Kind, Observer, Progress

_QUIET = frozenset({Kind.IDLE, Kind.ACTIVITY})  # never a plain line of their own
_COUNTED = (Kind.DONE, Kind.FAILED, Kind.BLOCKED, Kind.RELEASED)
# States of a worker busy with a task (the others: between tasks, or waiting to retry).
_BUSY = frozenset(
    {
        Kind.CLAIMED,
        Kind.SANDBOX_READY,
        Kind.AGENT_STARTED,
        Kind.AGENT_FINISHED,
        Kind.REVIEWED,
        Kind.PUSHED,
    }
)
HEARTBEAT_SECONDS = 30.0
_ACTIVITY_SHOWN = 60  # characters of the latest activity on the board

_WRITE = threading.Lock()

Clock = Callable[[], float]


def line(p: Progress) -> str:
    """One plain line for an event: ``12:00:01 w1 ar-1a2b claimed  Add slugify() - detail``."""
    who = " ".join(x for x in (p.worker, p.task_id) if x)
    text = f"{who} {p.kind.value}" if who else p.kind.value
    if p.title:
        text += f"  {p.title}"
    if p.detail:
        text += f" - {p.detail}"
    return _stamped(text)


def _stamped(text: str) -> str:
    # a title or an agent's message could otherwise move the cursor or rewrite the screen
    return terminal.safe_line(redaction.redact(f"{time.strftime('%H:%M:%S')} {text}"))


def _write(text: str) -> None:
    """Writes the line itself: rich's rendering of a line cost more CPU than some of the
    run's own steps (a run prints about ten lines a task)."""
    with _WRITE, output.tolerant():
        stream = output.out.file
        stream.write(text)
        stream.flush()


def plain_observer(p: Progress) -> None:
    if p.kind not in _QUIET:
        _write(line(p) + "\n")


def since(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``: a duration as the board shows it."""
    s = max(int(seconds), 0)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


@dataclass
class _Row:
    task: str = ""
    title: str = ""
    state: Kind = Kind.CLAIMED
    since: float = 0.0  # when the state began
    activity: str = ""  # the agent's latest activity, safe for a terminal
    active_at: float | None = None  # when it was seen
    stalled: bool = False
    said_at: float = 0.0  # when the plain output last said something of this worker


class Rows:
    """Each worker's row, folded from progress events (callers hold their own lock)."""

    def __init__(self) -> None:
        self.rows: dict[str, _Row] = {}

    def apply(self, p: Progress) -> None:
        if not p.worker or p.kind is Kind.IDLE:
            return
        row = self.rows.setdefault(p.worker, _Row(since=p.at))
        if p.kind not in _QUIET:
            row.said_at = p.at  # a plain line was printed
        if p.kind is Kind.ACTIVITY:
            row.activity, row.active_at, row.stalled = _cell(p.detail), p.at, False
        elif p.kind is Kind.STALLED:
            row.stalled = True
        elif p.kind is not Kind.WARNING:
            if p.task_id and p.task_id != row.task:
                row.activity, row.active_at = "", None
            if p.task_id:
                row.task, row.title = _cell(p.task_id), _cell(p.title)
            row.state, row.since, row.stalled = p.kind, p.at, False

    def ordered(self) -> list[tuple[str, _Row]]:
        return [(n, self.rows[n]) for n in sorted(self.rows, key=lambda n: (len(n), n))]

    def heartbeats(self, now: float, every: float = HEARTBEAT_SECONDS) -> list[str]:
        """Lines for the busy workers the plain output said nothing of for ``every``
        seconds (each then counts as said): ``w1 ar-1 still agent started 1m30s ...``."""
        lines = []
        for name, r in self.ordered():
            if r.state in _BUSY and now - r.said_at >= every:
                r.said_at = now
                text = f"{name} {r.task} still {r.state.value} {since(now - r.since)}"
                if r.stalled:
                    text += " - STALLED"
                lines.append(_stamped(text + _activity_note(r, now)))
        return lines


def _activity_note(r: _Row, now: float) -> str:
    if r.active_at is None:
        return " - no agent activity yet" if r.state is Kind.AGENT_STARTED else ""
    return f" - last activity {since(now - r.active_at)} ago: {r.activity}"


class PlainLog:
    """``--plain``: a line per event, and heartbeats from a thread of its own."""

    def __init__(self, every: float = HEARTBEAT_SECONDS, clock: Clock = time.monotonic):
        self.rows = Rows()
        self.every = every
        self._clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="heartbeats", daemon=True)

    def __call__(self, p: Progress) -> None:
        with self._lock:
            self.rows.apply(p)
        plain_observer(p)

    def tick(self) -> None:
        with self._lock:
            lines = self.rows.heartbeats(self._clock(), self.every)
        if lines:
            _write("".join(f"{x}\n" for x in lines))

    def _beat(self) -> None:
        while not self._stop.wait(min(self.every, 1.0)):
            self.tick()

    @contextlib.contextmanager
    def running(self) -> Iterator[PlainLog]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join()


class LiveBoard:
    """Workers as rows (task, state, time in state, latest activity), counts of outcomes
    below; drawn anew on every refresh, so its times tick between events."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.rows = Rows()
        self.counts: Counter[Kind] = Counter()
        self.notes: list[str] = []
        self._clock = clock
        self._lock = threading.Lock()
        self.live = Live(console=output.out, refresh_per_second=4, get_renderable=self.render)

    def __call__(self, p: Progress) -> None:
        with self._lock:
            if p.kind in _COUNTED:
                self.counts[p.kind] += 1
            if p.kind in (Kind.WARNING, Kind.STOPPING, Kind.STALLED):
                who = " ".join(x for x in (p.worker, p.task_id) if x)
                note = (
                    f"{p.kind.value}: {who}: {p.detail}" if who else f"{p.kind.value}: {p.detail}"
                )
                self.notes = [*self.notes[-3:], _cell(note)]
            self.rows.apply(p)

    def render(self, now: float | None = None) -> Table:
        now = self._clock() if now is None else now
        table = Table(box=None, pad_edge=False, show_edge=False)
        for header in ("worker", "task", "title", "state", "for", "latest activity"):
            table.add_column(header)
        with self._lock:
            for name, r in self.rows.ordered():
                table.add_row(*_cells(name, r, now))
            c = self.counts
            table.caption = Text(
                f"done {c[Kind.DONE]}  failed attempts {c[Kind.FAILED]}  "
                f"blocked {c[Kind.BLOCKED]}  released {c[Kind.RELEASED]}"
                + "".join(f"\n{n}" for n in self.notes)
            )
        return table


def _cells(name: str, r: _Row, now: float) -> list[Text]:
    """One row's cells; Text, never markup: titles and activity come from outside."""
    state = Text(r.state.value)
    if r.stalled:
        state = Text(f"{r.state.value} (STALLED)", style="bold red")
    activity = ""
    if r.active_at is not None:
        activity = f"{since(now - r.active_at)} ago: {r.activity[:_ACTIVITY_SHOWN]}"
    cells = (name, r.task, r.title[:50])
    return [*(Text(c) for c in cells), state, Text(since(now - r.since)), Text(activity)]


def _cell(text: str) -> str:
    return terminal.safe_line(redaction.redact(text))


@contextlib.contextmanager
def make_observer(*, plain: bool) -> Iterator[Observer]:
    if plain:
        with PlainLog().running() as log:
            yield log
        return
    board = LiveBoard()
    with board.live:
        yield board
