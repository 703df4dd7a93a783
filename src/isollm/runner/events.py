"""What a run reports as it goes, for whoever shows progress (the CLI renders these)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    RUN_STARTED = "run started"
    CLAIMED = "claimed"
    SANDBOX_READY = "sandbox ready"
    AGENT_STARTED = "agent started"
    AGENT_FINISHED = "agent finished"
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
