"""Which tasks a run takes: ``isollm run --task ID`` (only those) and ``--dry-run`` (what
would run, claiming nothing and starting no sandbox).

:func:`claim_next` is the scheduler's claim: the queue's own claim-next, or with a
selection the first ready task of it in the queue's order (the same order claim-next
uses). :func:`plan` reads the queue without changing it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from isollm.agents.registry import get_agent, locate
from isollm.config import Config
from isollm.errors import RunError
from isollm.tasks.client.http import TaskClient
from isollm.tasks.store import errors
from isollm.tasks.store.model import Claim, Status, Task


def claim_next(
    client: TaskClient, agent_id: str, lease_seconds: float, only: Sequence[str] = ()
) -> Claim | None:
    """The next task claimed for ``agent_id``: any ready one, or one of ``only``."""
    if not only:
        return client.claim_next(agent_id, lease_seconds)
    wanted = set(only)
    for task in client.all_ready():
        if task.id not in wanted:
            continue
        try:
            return client.claim(task.id, agent_id, lease_seconds)
        except (errors.AlreadyClaimedError, errors.InvalidTransitionError):
            continue  # claimed by another worker meanwhile: the next one
    return None


def check_selection(client: TaskClient, only: Sequence[str]) -> list[Task]:
    """The tasks named by ``--task``; RunError naming those that do not exist."""
    found, missing = [], []
    for task_id in dict.fromkeys(only):
        try:
            found.append(client.get_task(task_id))
        except errors.TaskNotFoundError:
            missing.append(task_id)
    if missing:
        raise RunError(
            f"no task {', '.join(missing)} in the queue",
            hint="see the task ids with `isollm task list`",
        )
    return found


@dataclass(frozen=True)
class Plan:
    """What ``isollm run`` would do now."""

    workers: int
    agent: str
    agent_path: str  # "" when its CLI is not found
    backend: str
    ready: list[Task]  # in the order they would be claimed
    waiting: list[Task]  # open, waiting for dependencies
    skipped: list[Task]  # selected with --task but not open (done, blocked, in progress)

    def to_json(self) -> dict[str, object]:
        def ids(tasks: list[Task]) -> list[dict[str, str]]:
            return [{"id": t.id, "title": t.title, "status": t.status.value} for t in tasks]

        return {
            "workers": self.workers,
            "agent": self.agent,
            "agent_path": self.agent_path,
            "backend": self.backend,
            "ready": ids(self.ready),
            "waiting": ids(self.waiting),
            "skipped": ids(self.skipped),
        }


def plan(
    config: Config,
    client: TaskClient,
    *,
    workers: int | None,
    agent: str | None,
    only: Sequence[str] = (),
) -> Plan:
    """The run ``isollm run`` would start, read from the queue without claiming."""
    chosen = get_agent(agent, config.agent)
    named = check_selection(client, only) if only else []
    selected = {t.id for t in named} if only else None

    def keep(task: Task) -> bool:
        return selected is None or task.id in selected

    ready = [t for t in client.all_ready() if keep(t)]
    ready_ids = {t.id for t in ready}
    waiting = [t for t in client.all_tasks(Status.OPEN) if keep(t) and t.id not in ready_ids]
    skipped = [t for t in named if t.status is not Status.OPEN]
    return Plan(
        workers=workers or config.workers,
        agent=chosen.name,
        agent_path=locate(chosen) or "",
        backend=config.sandbox.backend,
        ready=ready,
        waiting=waiting,
        skipped=skipped,
    )
