"""An agent's output on its way to the attempt's log: redacted, capped, its tail kept.

The agent writes to a pipe, never to a host file: :class:`LogPump` reads the pipe in a
thread, masks every registered secret (:mod:`isollm.redaction`, with an overlap so a
key split across two reads is still masked), writes at most ``limit`` bytes to the
log, then notes the truncation and keeps only the last ``kept`` bytes in memory, which
end the log when the agent is done. A chatty or hostile agent can neither fill the disk
through its log nor grow the runner's memory. ``on_data`` (the agent's watch:
:class:`isollm.runner.watch.AgentWatch`) sees every piece as it is read, before the
redactor holds back the end that might begin a secret (the watch redacts each line it
reads itself): the board's "latest activity" and the stall check; what it raises is
ignored.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from collections.abc import Callable
from typing import IO

from isollm import redaction

LOG_LIMIT = 64 << 20  # bytes of an attempt's log kept from its start
TAIL_KEPT = 256 << 10  # bytes kept from its end (the agent's final report is there)
_CHUNK = 256 << 10
_POLL_MS = 100
_GRACE_SECONDS = 2.0  # after the agent ended: how long output of its leftovers is drained


class LogPump:
    """Copies output from the pipe ``source`` into ``log`` until end of file (or
    :meth:`finish`): redacted, at most ``limit`` bytes, the last ``kept`` bytes kept."""

    def __init__(
        self,
        source: IO[bytes],
        log: IO[bytes],
        *,
        limit: int = LOG_LIMIT,
        kept: int = TAIL_KEPT,
        on_data: Callable[[bytes], None] | None = None,
    ) -> None:
        self._source = source
        self._on_data = on_data
        self._log = log
        self._limit = limit
        self._kept = kept
        self._redactor = redaction.StreamRedactor()
        self._tail = bytearray()
        self._written = self._total = 0
        self._ended = threading.Event()
        self._thread = threading.Thread(target=self._run, name="agent-log", daemon=True)

    def start(self) -> LogPump:
        self._thread.start()
        return self

    def finish(self) -> bytes:
        """After the agent exited: drain what is left (stopping after a short grace if
        something it left behind keeps writing), end the log; the kept tail."""
        self._ended.set()
        self._thread.join()
        return bytes(self._tail)

    @property
    def truncated(self) -> bool:
        return self._total > self._written

    def _run(self) -> None:
        try:
            self._pump()
            self._take(self._redactor.flush())
            self._end_log()
        finally:
            self._source.close()

    def _pump(self) -> None:
        fd = self._source.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP)
        deadline: float | None = None
        while deadline is None or time.monotonic() < deadline:
            if deadline is None and self._ended.is_set():
                deadline = time.monotonic() + _GRACE_SECONDS
            if not poller.poll(_POLL_MS):
                if self._ended.is_set():
                    return  # the agent is gone and nothing more came
                continue
            data = os.read(fd, _CHUNK)
            if not data:
                return
            if self._on_data is not None:
                with contextlib.suppress(Exception):  # the watch must never stop the log
                    self._on_data(data)
            self._take(self._redactor.feed(data))

    def _take(self, data: bytes) -> None:
        if not data:
            return
        self._total += len(data)
        self._tail += data
        if len(self._tail) > 2 * self._kept:
            del self._tail[: -self._kept]
        room = self._limit - self._written
        if room > 0:
            self._write(data[:room])

    def _write(self, data: bytes) -> None:
        with contextlib.suppress(OSError):  # a full disk loses log lines, never the run
            self._log.write(data)
            self._written += len(data)

    def _end_log(self) -> None:
        if len(self._tail) > self._kept:
            del self._tail[: -self._kept]
        left_out = self._total - self._written
        if left_out > 0:
            shown = bytes(self._tail[-min(left_out, self._kept) :])
            note = (
                f"\n[isollm: the log reached its limit of {self._limit} bytes; "
                f"{left_out - len(shown)} bytes were left out; the last {len(shown)} follow]\n"
            )
            with contextlib.suppress(OSError):
                self._log.write(note.encode() + shown)
        with contextlib.suppress(OSError):
            self._log.flush()
