"""Everything one run works with, resolved once at start (or resume)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from isollm.agents.base import Agent
from isollm.config.model import Config
from isollm.git.hub import Hub
from isollm.runner.events import Observer
from isollm.runner.layout import RunPaths
from isollm.runner.ledger import LedgerWriter
from isollm.tasks.client import TaskClient


@dataclass(frozen=True)
class RunSettings:
    """The knobs of one run, from config and command-line options."""

    workers: int
    agent_name: str
    watch: bool = False
    lease_seconds: float = 300.0
    max_attempts: int = 3
    backoff_seconds: float = 2.0
    stagger_seconds: float = 0.5
    max_concurrent_starts: int = 4
    agent_timeout: float = 1800.0
    poll_seconds: float = 1.0
    review: bool = False
    review_agent: str = ""
    max_review_rounds: int = 2

    @classmethod
    def from_config(
        cls, config: Config, *, workers: int | None, agent: str | None, watch: bool
    ) -> RunSettings:
        r = config.runner
        return cls(
            workers=workers or config.workers,
            agent_name=agent or config.agent.name,
            watch=watch,
            lease_seconds=float(config.airyra.lease_seconds),
            max_attempts=r.max_attempts,
            backoff_seconds=r.backoff_seconds,
            stagger_seconds=r.stagger_seconds,
            max_concurrent_starts=r.max_concurrent_starts,
            agent_timeout=float(config.agent.timeout),
            review=r.review,
            review_agent=r.review_agent,
            max_review_rounds=r.max_review_rounds,
        )


@dataclass
class RunContext:
    root: Path
    config: Config
    run_id: str
    paths: RunPaths
    client: TaskClient
    hub: Hub
    agent: Agent
    reviewer: Agent | None
    ledger: LedgerWriter
    settings: RunSettings
    base_commit: str
    host_env: Mapping[str, str]
    observer: Observer
    expose: tuple[str, ...] = ()  # host paths the sandboxes show read-only (agent installs)
    stopping: threading.Event = field(default_factory=threading.Event)
    aborting: threading.Event = field(default_factory=threading.Event)

    @property
    def project(self) -> str:
        return self.config.project

    @property
    def prefix(self) -> str:
        return self.config.git.branch_prefix

    def agent_id(self, worker: int) -> str:
        """The identity worker ``worker`` claims tasks with (stable across a resume)."""
        return f"isollm-{self.run_id}-w{worker}"

    def sandbox_name(self, worker: int) -> str:
        return f"run-{self.run_id}-w{worker}"


class StartGate:
    """Agent starts at least ``gap`` seconds apart and at most ``cap`` starting at once
    (an agent counts as starting for its first ``gap`` seconds), so many agents
    starting together do not trip a provider's burst limits."""

    def __init__(self, gap: float, cap: int) -> None:
        self._gap = gap
        self._slots = threading.BoundedSemaphore(cap)
        self._lock = threading.Lock()
        self._next = 0.0

    def enter(self, abort: threading.Event) -> bool:
        """Wait for a turn; False when ``abort`` was set while waiting."""
        while not self._slots.acquire(timeout=0.1):
            if abort.is_set():
                return False
        with self._lock:
            now = time.monotonic()
            wait = max(0.0, self._next - now)
            self._next = max(now, self._next) + self._gap
        if wait and abort.wait(wait):
            self._slots.release()
            return False
        if self._gap > 0:
            timer = threading.Timer(self._gap, self._slots.release)
            timer.daemon = True
            timer.start()
        else:
            self._slots.release()
        return True
