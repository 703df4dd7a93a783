"""What a worker needs of the things it drives, as Protocols: the task queue, the
hub and the worker's sandbox. The real ones are :class:`isollm.tasks.client.TaskClient`,
:class:`isollm.git.hub.Hub` and :class:`isollm.runner.sandboxes.WorkerSandbox`; the
tests drive :class:`~isollm.runner.worker.Worker` and
:class:`~isollm.runner.scheduler.Scheduler` with in-memory ones (``tests/fakes.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from isollm.agents.base import Agent
from isollm.git import intake
from isollm.sandbox.gitops import AfterCheckout

if TYPE_CHECKING:
    from isollm.runner.attempt import AgentRun, Heartbeat, Merge
    from isollm.runner.watch import AgentWatch


class Workspace(Protocol):
    """One worker's sandbox, task after task."""

    name: str

    def ready(self) -> None: ...
    def enter(self, branch: str, then: AfterCheckout | None = None) -> object: ...
    def delivered(self) -> None: ...
    def finish(self) -> None: ...
    def discard_changes(self) -> None: ...
    def diff(self, base: str, head: str) -> str: ...
    def read_file(self, rel: str) -> str | None: ...
    def run_script(self, script: AfterCheckout) -> None: ...
    def prepare_agent(self, agent: Agent, workdir: Path) -> None: ...

    @property
    def home_inside(self) -> Path: ...
    def agent_env(self, env: Mapping[str, str], host_socket: str) -> dict[str, str]: ...
    @property
    def workdir(self) -> Path: ...
    @property
    def isolated(self) -> bool: ...

    def run_agent(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        log_path: Path,
        timeout: float,
        abort: threading.Event,
        heartbeat: Heartbeat,
        watch: AgentWatch | None = None,
    ) -> AgentRun: ...
    def commit(self, message: str) -> str: ...
    def deliver(
        self, grant: intake.Grant, *, haves: Sequence[str], message: str | None
    ) -> intake.Delivery: ...
    def head(self) -> str: ...
    def merge(self, branch: str) -> Merge: ...
    def take_salvaged(self) -> tuple[str, ...]: ...
