"""Delivery of an interactive agent's work from inside its sandbox, through the task server.

In an interactive session (``isollm up``) the agent delivers itself: ``airyra push ID``
(or ``airyra done ID``) makes a git bundle of its HEAD and posts it to the task server
with its own worker token. The server applies it to the project's hub with the host's
intake code (:func:`isollm.git.intake.deliver_bundle`: bounded, every object checked,
hooks off, compare-and-set), to the task's branch only, while the agent still holds the
task's claim.

The server learns where a project's work goes (its base branch, its task-branch prefix,
its hub) from the delivery record the host writes when a session starts (:func:`register`,
called by ``isollm up``): ``$ISOLLM_HOME/tasks/delivery/<project>.json``. A project
without one takes no deliveries (409): headless ``isollm run`` keeps its own host-side
intake.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from isollm import records
from isollm.errors import IsollmError, StateError
from isollm.git import intake
from isollm.git.hub import Hub, hub_path
from isollm.tasks.server import parse
from isollm.tasks.server.asgi import Receive, Request, Response, Router
from isollm.tasks.server.options import tasks_home
from isollm.tasks.server.projects import TASK, Projects
from isollm.tasks.server.tokens import Grant, Role
from isollm.tasks.store import errors, validate
from isollm.tasks.store.model import Status, Task, utcnow
from isollm.tasks.store.protocol import TaskStore

PUSH = TASK + "/push"
BUNDLE_TYPE = "application/x-git-bundle"
MAX_PUSH_BYTES = 256 << 20  # 256 MiB: one push larger than this is refused (413)
PUSH_SECONDS = 300.0  # the whole bundle must arrive within this (408 otherwise)
APPLY_SECONDS = 600.0  # fetching and checking it in the hub
NO_SESSION = "no interactive session registered for this project: run `isollm up`"
SCHEMA = records.Schema(
    "delivery record",
    1,
    hint="delete it and run `isollm up` again; it is written when a session starts",
)


@dataclass(frozen=True)
class DeliveryTarget:
    """Where a project's interactive deliveries go."""

    project: str
    base_branch: str
    branch_prefix: str
    hub: Path

    def grant(self, task_id: str, still_held: intake.StillHeld | None) -> intake.Grant:
        """The task's branch, if the agent still holds the task (IntakeRefusedError if
        the id cannot name a branch or the branch would be the base branch)."""
        return intake.task_grant(self.branch_prefix, task_id, self.base_branch, still_held)


def record_dir() -> Path:
    return tasks_home() / "delivery"


def record_path(project: str) -> Path:
    validate.check_project(project)
    return record_dir() / f"{project}.json"


def _checked(project: str, base_branch: str, branch_prefix: str) -> None:
    validate.check_project(project)
    if not base_branch:
        raise StateError("a delivery record needs a base branch")
    # The grant of a task named like the base branch is refused later; a prefix or a
    # base that can name no branch at all is refused now (IntakeRefusedError).
    intake.task_grant(branch_prefix, "0", base_branch, None)
    intake.check_branch_name(base_branch)


def register(
    project: str, base_branch: str, branch_prefix: str, hub: Path | None = None
) -> DeliveryTarget:
    """Let ``project``'s agents deliver to ``hub`` (default: the project's hub) on task
    branches ``<branch_prefix><id>`` beside ``base_branch`` (host side: ``isollm up``).
    Writing the same record again is harmless."""
    _checked(project, base_branch, branch_prefix)
    target = DeliveryTarget(project, base_branch, branch_prefix, hub or hub_path(project))
    data = {
        "project": project,
        "base_branch": base_branch,
        "branch_prefix": branch_prefix,
        "hub": str(target.hub),
    }
    records.write(record_path(project), data, SCHEMA)
    return target


def unregister(project: str) -> bool:
    """Stop deliveries for ``project`` (``isollm down``); whether a record was removed."""
    try:
        record_path(project).unlink()
    except FileNotFoundError:
        return False
    return True


def load(project: str) -> DeliveryTarget | None:
    """The project's delivery record; None when no session registered one. A record
    that is not one (edited, torn) raises a RecordError (a StateError)."""
    path = record_path(project)
    try:
        data = records.read(path, SCHEMA)
    except FileNotFoundError:
        return None
    values = [data.get(k) for k in ("project", "base_branch", "branch_prefix", "hub")]
    if not all(isinstance(v, str) for v in values):
        raise _corrupt(path, "a field is missing or not a string")
    name, base, prefix, hub = (str(v) for v in values)
    if name != project or not hub:
        raise _corrupt(path, f"it names project {name!r} and hub {hub!r}")
    try:
        _checked(project, base, prefix)
    except IsollmError as exc:
        raise _corrupt(path, exc.message) from None
    return DeliveryTarget(project, base, prefix, Path(hub))


def _corrupt(path: Path, reason: str) -> records.CorruptRecordError:
    return records.CorruptRecordError(
        f"{SCHEMA.what} {path}: {reason}", reason=reason, hint=SCHEMA.hint
    )


# --- the HTTP side --------------------------------------------------------------------


class NoSessionError(errors.ApiError):
    """No interactive session registered for this project."""

    code = "NO_SESSION"
    http_status = 409


class DeliveryRefusedError(errors.ApiError):
    """The hub refused the pushed work."""

    code = "DELIVERY_REFUSED"
    http_status = 422


class BundleIncompleteError(DeliveryRefusedError):
    """The bundle builds on commits the hub does not have: send it whole."""

    code = "BUNDLE_INCOMPLETE"


class DeliveryFailedError(errors.ApiError):
    """The pushed work could not be applied to the hub."""

    code = "DELIVERY_FAILED"
    http_status = 409


class PushInProgressError(DeliveryFailedError):
    """The agent is already uploading a bundle."""

    code = "PUSH_IN_PROGRESS"


class DeliveryApi:
    """``GET`` and ``POST /v1/projects/{p}/tasks/{id}/push``: what the hub has, and a
    worker's bundle applied to its task's branch while it holds the task's claim."""

    def __init__(self, projects: Projects, lease_seconds: float) -> None:
        self.projects = projects
        self.lease_seconds = lease_seconds
        # one delivery per hub (project) at a time in this server (and the hub's file lock
        # against the host's own commands): waiting pushes hold no thread
        self._busy: dict[str, asyncio.Lock] = {}
        # the agents whose push is in flight: each upload fills a file on the host's
        # disk, so one agent has one at a time (not N times MAX_PUSH_BYTES)
        self._uploading: set[tuple[str, str]] = set()

    async def haves(self, request: Request) -> Response:
        target, *_ = self._checked(request)
        task_id = request.params["id"]
        hub = _hub(target)
        branches = (target.base_branch, f"{target.branch_prefix}{task_id}")
        try:
            tips = await asyncio.to_thread(lambda: [hub.head_of(b) for b in branches])
        except IsollmError as exc:  # a tampered hub, say
            raise DeliveryFailedError(exc.message, hint=exc.hint) from None
        have = list(dict.fromkeys(t for t in tips if t))
        answer = {"have": have, "base": branches[0], "branch": branches[1]}
        return Response(200, {**answer, "max_bytes": MAX_PUSH_BYTES})

    async def push(self, request: Request) -> Response:
        target, store, agent = self._checked(request)
        task_id, fence = request.params["id"], parse.fence(request)
        media = (request.header("content-type") or "").split(";")[0].strip().lower()
        if media != BUNDLE_TYPE:
            raise errors.ValidationFailedError.of(f"the body must be {BUNDLE_TYPE}")
        declared = request.header("content-length") or ""
        if declared.isdigit() and int(declared) > MAX_PUSH_BYTES:
            raise _too_large()
        hub = _hub(target)
        loop = asyncio.get_running_loop()

        def still_held() -> object:
            check = self._renew(store, task_id, agent, fence)
            return asyncio.run_coroutine_threadsafe(check, loop).result(APPLY_SECONDS)

        try:
            grant = target.grant(task_id, still_held)
        except intake.IntakeRefusedError as exc:
            raise DeliveryRefusedError(exc.message, hint=exc.hint) from None
        pusher = (target.project, agent)
        if pusher in self._uploading:
            raise PushInProgressError(
                f"agent {agent} is already pushing to project {target.project}",
                context={"agent": agent},
                hint="wait for the push in flight to end, then push again",
            )
        self._uploading.add(pusher)
        try:
            delivery = await self._receive_and_apply(request.receive, hub, grant, agent)
        finally:
            self._uploading.discard(pusher)
        body = {k: getattr(delivery, k) for k in ("ref", "old", "new", "backup")}
        return Response(200, body)

    async def _receive_and_apply(
        self, receive: Receive, hub: Hub, grant: intake.Grant, agent: str
    ) -> intake.Delivery:
        with tempfile.TemporaryDirectory(prefix=".push-", dir=hub.path.parent) as tmp:
            bundle = Path(tmp) / "push.bundle"
            with bundle.open("xb") as out:
                await _receive_bundle(receive, out)
            async with self._busy.setdefault(str(hub.path), asyncio.Lock()):
                return await asyncio.to_thread(_apply, hub, bundle, grant, agent)

    def _checked(self, request: Request) -> tuple[DeliveryTarget, TaskStore, str]:
        """The project's delivery target, its store and the pushing agent, who must hold
        the task's claim with a worker token (checked before any body is read)."""
        store = self.projects.for_request(request)
        grant: Grant | None = request.grant
        if grant is not None and grant.role is not Role.WORKER:
            raise errors.ForbiddenError(
                f"pushing a task's work needs a worker token; this is a {grant.role.value} token",
                context={"required": "worker", "role": grant.role.value},
                hint="only the agent holding the task's claim pushes its branch; "
                "the host takes work with `isollm run` or `isollm worker save`",
            )
        project = request.params["project"]
        try:
            target = load(project)
        except StateError as exc:
            raise DeliveryFailedError(exc.message, hint=exc.hint) from None
        if target is None:
            raise NoSessionError(NO_SESSION, context={"project": project})
        _hold(store, request.params["id"], request.agent)
        return target, store, request.agent

    async def _renew(self, store: TaskStore, task_id: str, agent: str, fence: int | None) -> None:
        """Right before the branch moves: the agent still holds the claim (its lease is
        renewed, never shortened); NotOwnerError or StaleClaimError otherwise."""
        task = _hold(store, task_id, agent)
        left = (task.lease_expires_at - utcnow()).total_seconds() if task.lease_expires_at else 0
        store.heartbeat(task_id, agent, fence, max(self.lease_seconds, left))


def _hold(store: TaskStore, task_id: str, agent: str) -> Task:
    task = store.get_task(task_id)
    if task.status is not Status.IN_PROGRESS or task.claimed_by != agent:
        holder = f", claimed by {task.claimed_by}" if task.claimed_by else ""
        raise errors.NotOwnerError(
            f"agent {agent} does not hold the claim of task {task_id} "
            f"(it is {task.status.value}{holder}); only the holder may push its branch",
            context={"id": task_id, "status": task.status.value, "claimed_by": task.claimed_by},
            hint=f"claim it first: `airyra claim {task_id}`",
        )
    return task


def _hub(target: DeliveryTarget) -> Hub:
    hub = Hub(target.hub)
    if not hub.exists():
        raise DeliveryFailedError(
            f"project {target.project} has no hub at {target.hub}", hint="run `isollm up`"
        )
    return hub


def _too_large() -> errors.PayloadTooLargeError:
    return errors.PayloadTooLargeError.of(
        f"the bundle is over {MAX_PUSH_BYTES} bytes; refused",
    )


async def _receive_bundle(receive: Receive, out: IO[bytes]) -> None:
    """Copy the request body to ``out``: at most MAX_PUSH_BYTES, within PUSH_SECONDS."""
    deadline, size = time.monotonic() + PUSH_SECONDS, 0
    while True:
        try:
            message = await asyncio.wait_for(receive(), max(deadline - time.monotonic(), 0.01))
        except TimeoutError:
            raise errors.RequestTimeoutError(
                f"the bundle did not arrive within {PUSH_SECONDS:g}s"
            ) from None
        if message.get("type") == "http.disconnect":
            raise errors.ValidationFailedError.of("the client hung up before the bundle arrived")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_PUSH_BYTES:
            raise _too_large()
        out.write(chunk)
        if not message.get("more_body", False):
            return


def _apply(hub: Hub, bundle: Path, grant: intake.Grant, agent: str) -> intake.Delivery:
    """The bundle applied in the hub, one delivery of the project at a time (thread)."""
    try:
        with hub.lock():
            return intake.deliver_bundle(hub, bundle, grant, agent=agent)
    except intake.IntakeIncompleteError as exc:
        raise BundleIncompleteError(exc.message, hint=exc.hint) from None
    except intake.IntakeRefusedError as exc:
        raise DeliveryRefusedError(exc.message, hint=exc.hint) from None
    except errors.ApiError:
        raise  # the claim was lost (still_held): nothing moved
    except IsollmError as exc:  # the ref moved meanwhile, a tampered hub
        raise DeliveryFailedError(exc.message, hint=exc.hint) from None


def add_delivery_routes(router: Router, api: DeliveryApi) -> None:
    router.add("GET", PUSH, api.haves)
    router.add("POST", PUSH, api.push, stream=True)
