"""Calls to the task server that outlive a short outage: retried with backoff while the
server cannot be reached, for at most ``patience`` seconds.

Only an unreachable server is retried (:class:`ServerUnavailableError`): an answer,
even an error, is the server's word and goes back to the caller at once. A call that
changed the server's state before the connection broke is retried as well; the runner's
calls (heartbeat, done, release, block) give the same result when repeated, or report
the claim as lost, which is then true.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from isollm.tasks.store.errors import ServerUnavailableError

T = TypeVar("T")

UNREACHABLE = "task server unreachable, retrying"


@dataclass(frozen=True)
class Backoff:
    """Waits of ``first`` seconds, doubling up to ``most``, for ``patience`` seconds in all."""

    patience: float = 300.0
    first: float = 0.5
    most: float = 8.0


def retrying(
    call: Callable[[], T],
    *,
    backoff: Backoff = Backoff(),
    stop: threading.Event | None = None,
    notify: Callable[[str], None] | None = None,
) -> T:
    """``call()``, again after a growing wait each time the server is unreachable.

    ``notify`` hears about the first failure of the call (once, not on every try);
    the last :class:`ServerUnavailableError` is raised when ``patience`` runs out or
    ``stop`` is set.
    """
    deadline = time.monotonic() + backoff.patience
    wait = backoff.first
    told = False
    while True:
        try:
            return call()
        except ServerUnavailableError as exc:
            left = deadline - time.monotonic()
            if left <= 0 or (stop is not None and stop.is_set()):
                raise
            if notify is not None and not told:
                notify(f"{UNREACHABLE} for up to {round(left)}s: {exc}")
                told = True
            pause = min(wait, left)
            if stop is not None:
                if stop.wait(pause):
                    raise
            else:
                time.sleep(pause)
            wait = min(wait * 2, backoff.most)
