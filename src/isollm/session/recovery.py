"""The workers of a session, found again or made: what ``isollm up`` re-adopts.

After the multiplexer's server was killed or the machine restarted, the workers are
still there: their records in ``.isollm/workers/``, their sandboxes (stopped after a
reboot), the work in them, the tasks they hold on the task server and their branches.
``isollm up`` takes them back: the workers are reconciled with their sandboxes
(:func:`isollm.sandbox.reconcile.list_workers`, which also adopts a sandbox a crash left
without a record), stopped sandboxes are started, and only the missing number of new
workers is created. Nothing is reset: a worker comes back exactly as it was left, and
its pane's agent continues its conversation.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from isollm.errors import IsollmError
from isollm.land.testing import SANDBOX_NAME as MERGE_SANDBOX
from isollm.sandbox import reconcile, workers
from isollm.sandbox.base import Sandbox, SandboxStatus
from isollm.sandbox.workers import Project
from isollm.session import prepare
from isollm.state import Session, WorkerStatus
from isollm.tasks.store.model import Task

T = TypeVar("T")
R = TypeVar("R")
THREADS = 4  # sandboxes created or started at once
_NUMBER = re.compile(r"(\d+)")
MAX_BRANCH = 200
USABLE = (str(SandboxStatus.RUNNING), str(SandboxStatus.STOPPED))


class How(StrEnum):
    CREATED = "created"
    RUNNING = "running"  # found running: taken as it is
    RESTARTED = "restarted"  # found stopped (a reboot, `isollm down --save`): started


@dataclass(frozen=True)
class FoundWorker:
    """One worker of the session and how ``up`` got it."""

    name: str
    how: How
    task: str = ""  # the task its agent holds on the task server
    title: str = ""
    branch: str = ""  # the branch its workspace is on (a worker found, not created)

    def describe(self) -> str:
        on = f", on {self.branch}" if self.branch else ""
        held = f", holds task {self.task}" if self.task else ""
        return f"{self.name}: {self.how}{on}{held}"


@dataclass(frozen=True)
class Found:
    """What ``up`` found and did: the workers, the previous session it takes over (its
    process and multiplexer gone), and workers it could not use."""

    workers: tuple[FoundWorker, ...]
    previous: Session | None = None
    skipped: tuple[str, ...] = ()  # "<name>: why", for workers left alone

    @property
    def names(self) -> list[str]:
        return [w.name for w in self.workers]

    def lines(self) -> list[str]:
        out = []
        if self.previous is not None:
            out.append(
                f"took over the session started {self.previous.started_at:%Y-%m-%d %H:%M} "
                f"UTC (its {self.previous.multiplexer or 'process'} is gone)"
            )
        out += [w.describe() for w in self.workers]
        out += [f"{line} (left alone; see `isollm worker list`)" for line in self.skipped]
        return out


def natural_key(name: str) -> list[int | str]:
    """worker-2 before worker-10."""
    return [int(p) if p.isdigit() else p for p in _NUMBER.split(name)]


def parallel(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``fn`` over ``items`` in a few threads, results in order (the first error raised)."""
    if len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(min(THREADS, len(items))) as pool:
        return list(pool.map(fn, items))


@dataclass(frozen=True)
class Roster:
    """The project's workers (not a run's sandboxes), reconciled, in natural order."""

    running: tuple[str, ...]
    stopped: tuple[str, ...]
    unusable: tuple[str, ...]  # "<name>: why"

    @property
    def usable(self) -> list[str]:
        return sorted((*self.running, *self.stopped), key=natural_key)

    def session(self, count: int) -> tuple[list[str], list[str]]:
        """The ``count`` workers of a session: (existing ones taken, new names)."""
        chosen = self.usable[:count]
        taken = [*chosen, *self.usable, *(u.split(":")[0] for u in self.unusable)]
        new: list[str] = []
        while len(chosen) + len(new) < count:
            new.append(workers.next_name(taken + new))
        return chosen, new


def roster(project: Project) -> Roster:
    """The workers as they are now (:func:`isollm.sandbox.reconcile.list_workers`)."""
    rows, _errors = reconcile.list_workers(project)
    running, stopped, unusable = [], [], []
    for row in sorted(rows, key=lambda r: natural_key(r.name)):
        if row.run or row.name == MERGE_SANDBOX:  # a run's, or one `isollm merge` left
            continue
        if row.sandbox not in USABLE or row.status == str(WorkerStatus.ERROR):
            unusable.append(f"{row.name}: {row.problem or 'its sandbox is ' + row.sandbox}")
        elif row.sandbox == str(SandboxStatus.RUNNING):
            running.append(row.name)
        else:
            stopped.append(row.name)
    return Roster(tuple(running), tuple(stopped), tuple(unusable))


def gather(
    project: Project, count: int, held: dict[str, Task], expose: Sequence[str] | None = None
) -> tuple[Found, list[Sandbox]]:
    """``count`` workers ready to run, their sandboxes running: the existing ones first
    (in name order), then new ones (showing ``expose``). ``held``: task by the agent id
    holding it."""
    found_now = roster(project)
    chosen, new = found_now.session(count)
    stopped = found_now.stopped

    def ready(name: str) -> tuple[FoundWorker, Sandbox]:
        branch = ""
        if name in new:
            sb, how = workers.add_worker(project, name, expose=expose), How.CREATED
        else:
            sb = workers.open_worker(project, name)  # started if it was stopped
            how = How.RESTARTED if name in stopped else How.RUNNING
            _mark_running(project, name)
            branch = current_branch(sb)
        task = held.get(prepare.agent_id(name))
        found = FoundWorker(name, how, task.id if task else "", task.title if task else "", branch)
        return found, sb

    made = parallel(ready, [*chosen, *new])
    found = Found(tuple(f for f, _ in made), skipped=found_now.unusable)
    return found, [sb for _, sb in made]


def current_branch(sb: Sandbox) -> str:
    """The branch ``sb``'s workspace is on ("" if unknown); the agent's git answers, so
    the text is bounded (and made safe where it is printed)."""
    result = sb.exec(["git", "rev-parse", "--abbrev-ref", "HEAD"], timeout=30, max_output=4096)
    lines = result.stdout.splitlines() if result.ok else []
    return lines[0][:MAX_BRANCH] if lines else ""


def _mark_running(project: Project, name: str) -> None:
    """A worker whose sandbox was stopped runs again (its record says so)."""
    try:
        project.state.update_worker(
            name,
            lambda w: workers.move(w, WorkerStatus.IDLE) if w.status is WorkerStatus.STOPPED else w,
        )
    except IsollmError:  # the record is a cache for display: `worker list` reconciles it
        return


def with_previous(found: Found, previous: Session | None) -> Found:
    return dataclasses.replace(found, previous=previous)
