"""What the task server knows for ``isollm status``: the queue, who holds which task,
the states agents' hooks reported, the context board and the file claims.

The server is never started here (``status`` only looks): a server that is down shows
as down; a read that fails shows as unavailable, never as an error. A plain airyra
without isollm's extensions reports no agent states and an empty board.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from isollm.config import Config
from isollm.errors import IsollmError
from isollm.session.status.agentstate import Reported
from isollm.session.status.model import Board, BoardEntry, Health, Service, TaskCounts
from isollm.tasks.client import host
from isollm.tasks.client.http import TaskClient
from isollm.tasks.server import control
from isollm.tasks.server.options import connect_host
from isollm.tasks.store.coordination import ContextEntry, FileLock
from isollm.tasks.store.model import Status, Task

SERVICE = "task server"
TIMEOUT = 5.0
FAILURES = (IsollmError, httpx.HTTPError, ValueError, KeyError, TypeError)


@dataclass(frozen=True)
class Held:
    task_id: str
    title: str


@dataclass(frozen=True)
class Coordination:
    """The running tasks, file locks and context board as the server said them once:
    what the conflict check reads (a :class:`~isollm.coordination.conflicts.CoordinationSource`)."""

    running: tuple[Task, ...] = ()
    held_locks: tuple[FileLock, ...] = ()
    entries: tuple[ContextEntry, ...] = ()

    def all_tasks(self, status: Status | None = None) -> list[Task]:
        return [t for t in self.running if status is None or t.status is status]

    def locks(self, project: str | None = None) -> list[FileLock]:
        return list(self.held_locks)

    def context_board(self, project: str | None = None) -> list[ContextEntry]:
        return list(self.entries)


@dataclass(frozen=True)
class ServerFacts:
    service: Service
    tasks: TaskCounts = field(default_factory=TaskCounts)
    held: Mapping[str, Held] = field(default_factory=dict)  # by agent (worker) name
    reported: Mapping[str, Reported] = field(default_factory=dict)
    hooks_note: str = ""  # why hook-reported states are not available
    board: Board = field(default_factory=Board)
    coordination: Coordination | None = None  # None: the server could not be read


def read(config: Config) -> ServerFacts:
    """Everything the project's task server says, or a service that is down."""
    options = control.options_from_config(config)
    url = f"http://{connect_host(options.host)}:{options.port}"
    external = config.airyra.external
    try:
        answer = control.status(options)
    except FAILURES as exc:
        return ServerFacts(Service(SERVICE, Health.UNAVAILABLE, _why(exc)))
    if not answer.healthy:
        down = Service(SERVICE, Health.DOWN, f"nothing answers at {url}")
        return ServerFacts(down, board=Board(note="unavailable (the task server is not up)"))
    if answer.foreign and not external:
        return ServerFacts(
            Service(SERVICE, Health.UNAVAILABLE, f"{url} is not this isollm home's task server")
        )
    try:
        token = os.environ.get("AIRYRA_TOKEN") if external else control.host_token()
        client = TaskClient(
            url, config.project, agent=control.host_agent(), token=token, timeout=TIMEOUT
        )
    except FAILURES as exc:
        return ServerFacts(Service(SERVICE, Health.UNAVAILABLE, _why(exc)))
    with client:
        return _ask(client, Service(SERVICE, Health.UP, url))


def _why(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _ask(client: TaskClient, service: Service) -> ServerFacts:
    try:
        tasks, held, running = _queue(client)
    except FAILURES as exc:
        tasks, held, running = TaskCounts(error=_why(exc)), {}, None
    reported, hooks_note = _reported(client)
    board, context, locks = _board(client)
    seen = None if running is None or board.note else Coordination(running, locks, context)
    return ServerFacts(service, tasks, held, reported, hooks_note, board, seen)


def _queue(client: TaskClient) -> tuple[TaskCounts, dict[str, Held], tuple[Task, ...]]:
    board = host.board(client)
    groups = board.groups
    opened = groups.get(Status.OPEN, [])
    counts = TaskCounts(
        available=True,
        ready=sum(1 for t in opened if t.id not in board.waiting),
        waiting=sum(1 for t in opened if t.id in board.waiting),
        in_progress=len(groups.get(Status.IN_PROGRESS, [])),
        blocked=len(groups.get(Status.BLOCKED, [])),
        done=len(groups.get(Status.DONE, [])),
    )
    held = {
        t.claimed_by: Held(t.id, t.title)
        for t in groups.get(Status.IN_PROGRESS, [])
        if t.claimed_by
    }
    return counts, held, tuple(groups.get(Status.IN_PROGRESS, []))


def _reported(client: TaskClient) -> tuple[dict[str, Reported], str]:
    try:
        states = client.agent_states()
    except FAILURES as exc:
        return {}, f"agent states unavailable: {_why(exc)}"
    return {a.agent: Reported(a.state, a.since, a.detail, a.updated_at) for a in states}, ""


def _board(client: TaskClient) -> tuple[Board, tuple[ContextEntry, ...], tuple[FileLock, ...]]:
    try:
        context, locks = client.context_board(), client.locks()
    except FAILURES as exc:
        return Board(note=f"unavailable: {_why(exc)}"), (), ()
    board = Board(
        available=True,
        context=tuple(
            BoardEntry(e.agent, e.status.value, e.message, e.files, "", e.task_id, e.updated_at)
            for e in context
        ),
        locks=tuple(
            BoardEntry(lock.agent, path=lock.path, task_id=lock.task_id, since=lock.acquired_at)
            for lock in locks
        ),
    )
    return board, tuple(context), tuple(locks)
