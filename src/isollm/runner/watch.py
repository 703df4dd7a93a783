"""Watching a running agent: its latest activity, and whether it has stalled.

The log pump (:class:`isollm.runner.agentlog.LogPump`, in its own thread) hands every
piece of the agent's output to :meth:`AgentWatch.feed` as it is read: any output counts
as a sign of life, and each complete line, redacted (:func:`redacted_line`), is read by
the adapter's activity reader (:mod:`isollm.agents.activity`) into a short text. (The
pump's redactor holds back the end of the output that could begin a secret; a complete
line needs no such wait, so the line an agent printed before going silent is shown.)
The loop that waits for the agent (:func:`isollm.runner.attempt.run_agent`, in the
worker's thread) calls
:meth:`AgentWatch.poll` a few times a second: it shows a changed activity (at most once
a second), flags a stall once after ``stall_after`` seconds without output (0: never)
and answers whether the agent must be stopped for it (``stall_action: stop``).

Memory is bounded: an unfinished line is kept up to :data:`LINE_LIMIT` bytes; a longer
one still counts as output but is not read for activity.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from isollm import redaction, terminal
from isollm.agents.activity import Activity
from isollm.agents.activity import of as activity_of
from isollm.runner.events import Kind, Observer, Progress

if TYPE_CHECKING:
    from isollm.runner.context import RunSettings
    from isollm.tasks.store.model import Task

LINE_LIMIT = 64 << 10
SHOW_EVERY = 1.0  # seconds between two activity updates of one worker

Clock = Callable[[], float]
Stalled = Callable[..., object]  # called with the stall's facts as keywords


def redacted_line(line: bytes) -> bytes:
    """One complete line (without its newline) with every registered secret masked, and
    every line of a secret that spans lines (a PEM key), as long as a secret may be."""
    line = redaction.redact_bytes(line)
    mask = redaction.MASK.encode()
    for secret in redaction.registered():
        for part in secret.split("\n") if "\n" in secret else ():
            raw = part.strip().encode("utf-8", "surrogateescape")
            if len(raw) >= redaction.MIN_LENGTH and raw in line:
                line = line.replace(raw, mask)
    return line


class AgentWatch:
    def __init__(
        self,
        activity: Activity,
        *,
        stall_after: float,
        stop: bool,
        show: Callable[[str], None],
        stalled: Stalled,
        clock: Clock = time.monotonic,
    ) -> None:
        self._activity = activity
        self._stall_after = stall_after
        self._stop = stop
        self._show = show
        self._stalled = stalled
        self._clock = clock
        self._lock = threading.Lock()
        self._line = bytearray()
        self._skipping = False  # inside a line longer than LINE_LIMIT
        self._last_output = clock()
        self.latest = ""  # the latest activity read from the output
        self._shown = ""
        self._shown_at = float("-inf")
        self.flagged = False
        self.why = ""  # why the agent was stopped, when it was

    # --- the pump's thread -----------------------------------------------------------
    def feed(self, data: bytes) -> None:
        """A piece of the agent's output: a sign of life, and lines to read."""
        found: str | None = None
        *ended, rest = data.split(b"\n")
        for piece in ended:
            line = self._take(piece)
            self._line.clear()
            self._skipping = False
            text = self._read(line) if line is not None else None
            found = text or found
        self._take(rest)
        with self._lock:
            self._last_output = self._clock()
            if found:
                self.latest = found

    def _take(self, piece: bytes) -> bytes | None:
        """Add ``piece`` to the unfinished line; the line so far (None while skipping)."""
        if not self._skipping:
            if len(self._line) + len(piece) > LINE_LIMIT:
                self._skipping = True
                self._line.clear()
            else:
                self._line += piece
        return None if self._skipping else bytes(self._line)

    def _read(self, line: bytes) -> str | None:
        try:
            text = self._activity(redacted_line(line).decode(errors="replace"))
        except Exception:  # a reader's bug must never stop the log
            return None
        return terminal.safe_line(text) if text else None

    # --- the worker's thread ---------------------------------------------------------
    def poll(self) -> bool:
        """Show news, flag a stall once; True when the agent must be stopped for it."""
        now = self._clock()
        with self._lock:
            latest, idle = self.latest, now - self._last_output
        stalled = self._stall_after > 0 and idle >= self._stall_after
        if self.flagged and not stalled:
            self.flagged = False
            self._shown = ""  # active again: show it even if the text is the same
        if latest and latest != self._shown and now - self._shown_at >= SHOW_EVERY:
            self._shown, self._shown_at = latest, now
            self._show(latest)
        if not stalled:
            return False
        if not self.flagged:
            self.flagged = True
            self.why = f"no activity for {idle:.0f} s"
            action = "stop" if self._stop else "flag"
            self._stalled(idle=round(idle), last=latest, action=action)
        return self._stop


def watch_for(
    agent_name: str, settings: RunSettings, observer: Observer, worker: str, task: Task
) -> Callable[[Stalled], AgentWatch]:
    """The watch of one agent run, given how to record a stall (the ledger's
    ``agent.stalled``): its activity is shown through ``observer`` as ``worker``'s."""

    def show(text: str) -> None:
        observer(Progress(Kind.ACTIVITY, worker, task.id, task.title, text))

    def make(record_stall: Stalled) -> AgentWatch:
        return AgentWatch(
            activity_of(agent_name),
            stall_after=settings.stall_after,
            stop=settings.stall_action == "stop",
            show=show,
            stalled=record_stall,
        )

    return make
