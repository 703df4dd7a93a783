"""Everything one run works with, resolved once at start (or resume)."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from isollm.agents.base import Agent
from isollm.config.model import AgentConfig, AiryraConfig, Config, RunnerConfig
from isollm.errors import IsollmError
from isollm.git.hub import Hub
from isollm.runner.events import Observer, Progress
from isollm.runner.layout import RunPaths
from isollm.runner.ledger import LedgerWriter
from isollm.tasks.client.http import TaskClient
from isollm.tasks.server.control import agent_token, task_socket
from isollm.tasks.server.tokens import Role

log = logging.getLogger(__name__)

_RUNNER, _AGENT, _AIRYRA = RunnerConfig(), AgentConfig(), AiryraConfig()


@dataclass(frozen=True)
class RunSettings:
    """The knobs of one run, from config and command-line options."""

    workers: int
    agent_name: str
    watch: bool = False
    # Defaults are the config's (one place: isollm.config.model); from_config maps them.
    lease_seconds: float = float(_AIRYRA.lease_seconds)
    max_attempts: int = _RUNNER.max_attempts
    backoff_seconds: float = _RUNNER.backoff_seconds
    stagger_seconds: float = _RUNNER.stagger_seconds
    max_concurrent_starts: int = _RUNNER.max_concurrent_starts
    agent_timeout: float = float(_AGENT.timeout)
    poll_seconds: float = 1.0
    # How long the runner waits out a task server it cannot reach (claims, done,
    # release) while the running agents go on; their heartbeats keep trying meanwhile.
    server_patience: float = 300.0
    only: tuple[str, ...] = ()  # `isollm run --task ID`: claim only these tasks
    review: bool = _RUNNER.review
    review_agent: str = _RUNNER.review_agent
    max_review_rounds: int = _RUNNER.max_review_rounds
    review_required: bool = _RUNNER.review_required
    on_conflict: str = _RUNNER.on_conflict
    empty: str = _RUNNER.empty
    stall_after: float = float(_RUNNER.stall_after)  # seconds without output; 0: off
    stall_action: str = _RUNNER.stall_action  # "flag" or "stop"
    # Workers in the runner's own steps at once (see StepGate): a few more than the
    # cores, as the steps also wait for processes and the disk.
    step_slots: int = field(default_factory=lambda: (os.cpu_count() or 1) + 2)

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
            review_required=r.review_required,
            on_conflict=r.on_conflict,
            empty=r.empty,
            stall_after=float(r.stall_after),
            stall_action=r.stall_action,
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
    upkeep: HubUpkeep = field(init=False)

    def __post_init__(self) -> None:
        self.upkeep = HubUpkeep(self.hub)
        self.observer = Shown(self.observer)

    @property
    def project(self) -> str:
        return self.config.project

    @property
    def prefix(self) -> str:
        return self.config.git.branch_prefix

    def agent_id(self, worker: int) -> str:
        """The identity worker ``worker`` claims tasks with (stable across a resume)."""
        return f"isollm-{self.run_id}-w{worker}"

    def task_token(self, agent_id: str) -> str:
        """The bearer token of the agent a worker runs: scoped to this project and to
        ``agent_id``, reading only (the runner holds the claim, heartbeats and
        finishes it). Empty for an external airyra, which has no isollm tokens."""
        if self.config.airyra.external:
            return ""
        return agent_token(self.project, agent_id, Role.READER)

    def task_socket(self) -> str:
        """The host path of the task server's Unix socket, bound into sandboxes."""
        path = task_socket(self.config)
        return str(path) if path is not None else ""

    def sandbox_name(self, worker: int) -> str:
        return f"run-{self.run_id}-w{worker}"


class Shown:
    """An observer that never fails the run: the progress display is output, and an
    output error (stdout closed by ``| head``, a full disk) must not kill a worker. On
    the first error the display stops (the ledger still records every step)."""

    def __init__(self, observer: Observer) -> None:
        self._observer = observer
        self.broken: BaseException | None = None
        self._lock = threading.Lock()

    def __call__(self, progress: Progress) -> None:
        if self.broken is not None:
            return
        try:
            with self._lock:
                self._observer(progress)
        except Exception as exc:  # whatever the display hits, the run goes on
            if self.broken is None:
                self.broken = exc
                log.debug("progress display stopped: %s", exc)


class HubUpkeep:
    """Packs the hub's refs after every ``every`` pushes of the run (see
    :meth:`~isollm.git.hub.Hub.pack_refs`), in the thread that made the last one."""

    def __init__(self, hub: Hub, every: int = 64) -> None:
        self._hub = hub
        self._every = every
        self._count = 0
        self._lock = threading.Lock()
        self._packing = threading.Lock()

    def pushed(self) -> None:
        with self._lock:
            self._count += 1
            if self._count < self._every:
                return
            self._count = 0
        self.pack()

    def pack(self) -> None:
        if not self._packing.acquire(blocking=False):
            return  # another worker is packing right now
        try:
            self._hub.pack_refs()
        except IsollmError as exc:  # only slower pushes if it fails
            log.warning("packing the hub's refs failed: %s", exc)
        finally:
            self._packing.release()


class StepGate:
    """At most ``slots`` workers at a time in the runner's own steps: refreshing the
    sandbox, claiming, checking out, committing, pushing, marking done. That part of a
    task is CPU-bound, the agent's run (outside the gate) rarely is; with more workers
    than cores, every step of every worker would otherwise crawl at once.

    A worker finishing a task goes before one about to claim its next, and one slot
    (of three or more) is kept for finishing: a finished task is never stuck behind
    new claims. A worker claims a task only when it can start it at once: no lease
    runs down while it waits for a CPU.
    """

    def __init__(self, slots: int) -> None:
        self._cond = threading.Condition()
        self._free = max(1, slots)
        self._kept = 1 if slots >= 3 else 0  # slots only a finishing worker may take
        self._finishing = 0  # finishing workers waiting for a slot

    def acquire(self, *, finishing: bool, abort: threading.Event) -> bool:
        """Wait for a slot; False (and no slot) when ``abort`` is set meanwhile."""
        with self._cond:
            self._finishing += finishing
            try:
                while self._free <= (0 if finishing else self._kept) or (
                    self._finishing and not finishing
                ):
                    if abort.is_set():
                        return False
                    self._cond.wait(timeout=0.1)
            finally:
                self._finishing -= finishing
            self._free -= 1
            return True

    def release(self) -> None:
        with self._cond:
            self._free += 1
            self._cond.notify_all()


class Steps:
    """One worker's turn at the :class:`StepGate`: taken and given back around the
    agent's runs."""

    def __init__(self, gate: StepGate, abort: threading.Event) -> None:
        self._gate = gate
        self._abort = abort
        self._held = False

    def take(self, *, finishing: bool = False) -> None:
        if not self._held:
            self._held = self._gate.acquire(finishing=finishing, abort=self._abort)

    def give_back(self) -> None:
        if self._held:
            self._held = False
            self._gate.release()


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
