"""``isollm status --watch``: redraw every few seconds, and call the human when an
agent starts waiting for them.

Each round collects a snapshot (saved for ``--brief``), compares it with the previous
one and, for every worker that moved into ``waiting`` (once per move; a worker already
waiting when the watch starts is on screen, not announced), rings the terminal bell,
shows a desktop notification when ``notify-send`` is on PATH, and runs the user's
``session.notify`` command: an argv list (never a shell string), with ISOLLM_WORKER,
ISOLLM_TASK and ISOLLM_STATE in its environment, through :mod:`isollm.proc` with a
timeout, in the background so a slow command never freezes the dashboard.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from isollm import proc
from isollm.errors import CommandError, IsollmError
from isollm.session.status.model import AgentState, Snapshot, WorkerView
from isollm.terminal import safe_line

NOTIFY_TIMEOUT = 10.0
BELL = "\a"


def started_waiting(before: Snapshot | None, after: Snapshot) -> list[WorkerView]:
    """Workers waiting in ``after`` that were not in ``before`` (none on a first look)."""
    if before is None:
        return []
    return [
        w
        for w in after.workers
        if w.state is AgentState.WAITING
        and (old := before.worker(w.name)) is not None
        and old.state is not AgentState.WAITING
    ]


def markup_free(text: str) -> str:
    """``text`` with the characters of notification markup (``<b>``, ``<a href>``) escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def notify_env(worker: WorkerView) -> dict[str, str]:
    return {
        "ISOLLM_WORKER": worker.name,
        "ISOLLM_TASK": worker.task_id,
        "ISOLLM_STATE": worker.state.value,
    }


@dataclass
class Notifier:
    """Calls the human about a worker: bell, desktop notification, ``session.notify``."""

    command: Sequence[str] = ()
    bell: Callable[[str], None] = lambda text: None  # writes to the dashboard's terminal
    notify_send: str | None = field(default_factory=lambda: shutil.which("notify-send"))
    problems: list[str] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, worker: WorkerView) -> None:
        self.bell(BELL)
        runs: list[tuple[list[str], dict[str, str] | None]] = []
        if self.notify_send:
            task = f"task {worker.task_id}: {worker.task_title}" if worker.task_id else "no task"
            summary = f"isollm: {worker.name} is waiting for you"
            body = markup_free(safe_line(task))  # notify-send reads markup in the body
            runs.append(([self.notify_send, safe_line(summary), body], None))
        if self.command:
            runs.append((list(self.command), proc.clean_env(notify_env(worker))))
        for argv, env in runs:
            thread = threading.Thread(target=self._run, args=(argv, env), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _run(self, argv: list[str], env: dict[str, str] | None) -> None:
        try:
            result = proc.run(argv, env=env, timeout=NOTIFY_TIMEOUT, check=False)
        except CommandError as exc:
            self._problem(f"notification {argv[0]}: {str(exc).splitlines()[0]}")
            return
        if not result.ok:
            self._problem(f"notification {argv[0]} exited with status {result.returncode}")

    def _problem(self, text: str) -> None:
        with self._lock:
            self.problems = [*self.problems[-4:], text]

    def wait(self, timeout: float = NOTIFY_TIMEOUT) -> None:
        """Wait for the commands started so far (tests, and before exiting)."""
        for thread in self._threads:
            thread.join(timeout)
        self._threads = [t for t in self._threads if t.is_alive()]


def watch(
    take: Callable[[], Snapshot],
    show: Callable[[Snapshot, list[str]], None],
    notifier: Notifier,
    *,
    interval: float,
    sleep: Callable[[float], None],
    rounds: int | None = None,
) -> None:
    """Take, notify, show; every ``interval`` seconds (``rounds`` times, or until
    interrupted). ``show`` gets the problems to display with the view: the notification
    commands' and a look that failed (the last snapshot is shown again meanwhile)."""
    previous: Snapshot | None = None
    done = 0
    while rounds is None or done < rounds:
        failed = []
        try:
            snapshot = take()
        except IsollmError as exc:
            if previous is None:
                raise
            snapshot, failed = previous, [f"this look failed: {str(exc).splitlines()[0]}"]
        for worker in started_waiting(previous, snapshot):
            notifier(worker)
        show(snapshot, [*failed, *notifier.problems])
        previous = snapshot
        done += 1
        if rounds is None or done < rounds:
            sleep(interval)
    notifier.wait()
