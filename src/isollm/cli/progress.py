"""Live progress of a run: a rich table on a terminal, plain lines otherwise."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from rich.live import Live
from rich.table import Table
from rich.text import Text

from isollm import redaction, terminal
from isollm.cli import output
from isollm.runner.events import Kind, Observer, Progress

_QUIET = frozenset({Kind.IDLE})
_COUNTED = (Kind.DONE, Kind.FAILED, Kind.BLOCKED, Kind.RELEASED)


_WRITE = threading.Lock()


def line(p: Progress) -> str:
    """One plain line for an event: ``12:00:01 w1 ar-1a2b claimed  Add slugify() - detail``."""
    stamp = time.strftime("%H:%M:%S")
    who = " ".join(x for x in (p.worker, p.task_id) if x)
    text = f"{stamp} {who} {p.kind.value}" if who else f"{stamp} {p.kind.value}"
    if p.title:
        text += f"  {p.title}"
    if p.detail:
        text += f" - {p.detail}"
    # a title or an agent's message could otherwise move the cursor or rewrite the screen
    return terminal.safe_line(redaction.redact(text))


def plain_observer(p: Progress) -> None:
    """Writes the line itself: rich's rendering of a line cost more CPU than some of the
    run's own steps (a run prints about ten lines a task)."""
    if p.kind not in _QUIET:
        text = line(p) + "\n"
        with _WRITE:
            stream = output.out.file
            stream.write(text)
            stream.flush()


@dataclass
class _Row:
    task: str = ""
    title: str = ""
    state: str = "starting"
    since: float = 0.0


class LiveBoard:
    """Workers as rows (task, state, time in state), counts of outcomes below."""

    def __init__(self) -> None:
        self.rows: dict[str, _Row] = {}
        self.counts: Counter[Kind] = Counter()
        self.notes: list[str] = []
        self._lock = threading.Lock()
        self.live = Live(self.render(), console=output.out, refresh_per_second=4)

    def __call__(self, p: Progress) -> None:
        with self._lock:
            if p.kind in _COUNTED:
                self.counts[p.kind] += 1
            if p.kind is Kind.WARNING or p.kind is Kind.STOPPING:
                self.notes = [*self.notes[-3:], _cell(f"{p.kind.value}: {p.detail}")]
            if p.worker and p.kind not in _QUIET:
                row = self.rows.setdefault(p.worker, _Row())
                if p.task_id:
                    row.task, row.title = _cell(p.task_id), _cell(p.title)
                row.state, row.since = p.kind.value, p.at
            self.live.update(self.render())

    def render(self) -> Table:
        table = Table(box=None, pad_edge=False, show_edge=False)
        for header in ("worker", "task", "title", "state", "for"):
            table.add_column(header)
        now = time.monotonic()
        for name in sorted(self.rows, key=lambda n: (len(n), n)):
            r = self.rows[name]
            cells = (name, r.task, r.title[:50], r.state, f"{now - r.since:.0f}s")
            table.add_row(*(Text(c) for c in cells))  # Text: never parsed as markup
        c = self.counts
        table.caption = Text(
            f"done {c[Kind.DONE]}  failed attempts {c[Kind.FAILED]}  "
            f"blocked {c[Kind.BLOCKED]}  released {c[Kind.RELEASED]}"
            + "".join(f"\n{n}" for n in self.notes)
        )
        return table


def _cell(text: str) -> str:
    return terminal.safe_line(redaction.redact(text))


@contextlib.contextmanager
def make_observer(*, plain: bool) -> Iterator[Observer]:
    if plain:
        yield plain_observer
        return
    board = LiveBoard()
    with board.live:
        yield board
