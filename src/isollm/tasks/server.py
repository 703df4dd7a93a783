"""The task server: airyra's v1 HTTP API over a store, plus isollm's extensions.

airyra's endpoints keep airyra's status codes, bodies and error codes. The extensions
sit beside them: ``POST /tasks/claim-next``, ``POST /tasks/{id}/heartbeat``,
``POST /tasks/import``, ``POST /tasks/clear-done``; claims carry a lease and a
fencing token (``X-Airyra-Fence`` header on claim, ``fence`` in the extension
bodies), which done/release/heartbeat accept as a body field or that header.
A client that sends no fence gets airyra's semantics (only the claimant may act).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from isollm.tasks import errors, parse, tokens, validate
from isollm.tasks.asgi import App, Request, Response, Router, paged
from isollm.tasks.model import DEFAULT_PRIORITY, Claim, ImportItem, NewTask, TaskPatch, format_time
from isollm.tasks.openapi import document
from isollm.tasks.options import DEFAULT_REAP_INTERVAL
from isollm.tasks.parse import Body
from isollm.tasks.server_specs import SPECS, add_spec_routes
from isollm.tasks.store import StoreBackend, TaskStore
from isollm.tasks.tokens import Grant, Role

log = logging.getLogger(__name__)

PROJECT = "/v1/projects/{project}"
TASK = PROJECT + "/tasks/{id}"
OPEN_PATHS = frozenset({"/v1/health", "/openapi.json"})
# The requests that create a project's database when it has none (every other request
# on an unknown project is 404 PROJECT_NOT_FOUND, and opens and creates nothing).
CREATING = frozenset({("POST", PROJECT + "/tasks"), ("POST", PROJECT + "/tasks/import")})
CREATING |= {("POST", SPECS)}
# What an agent's token may do beside reading its project (every GET under it):
# claims for itself and the transitions of claims it holds. Everything else needs the
# host's token.
AGENT_ACTIONS = frozenset(
    ("POST", f"{TASK}/{action}") for action in ("claim", "done", "release", "block", "heartbeat")
) | {("POST", PROJECT + "/tasks/claim-next")}

T = TypeVar("T")


class Projects:
    """The stores of the projects in use, opened on first use; a project exists once a
    creating request made its database. Bulk operations (import, clear) run on a
    connection of their own in a thread of their own, in short transactions, so the
    event loop keeps serving claims and heartbeats while one runs."""

    def __init__(self, backend: StoreBackend) -> None:
        self._backend = backend
        self._open: dict[str, TaskStore] = {}
        self._bulk_open: dict[str, TaskStore] = {}
        self._bulk = ThreadPoolExecutor(1, thread_name_prefix="task-bulk")

    def store(self, project: str, *, create: bool = False) -> TaskStore:
        store = self._open.get(project)
        if store is None:
            validate.check_project(project)
            if not create and not self._backend.exists(project):
                raise errors.ProjectNotFoundError.of(project)
            store = self._open[project] = self._backend.open(project)
            # What an import killed with an earlier server left staged (invisible) goes
            # now, in the bulk thread, in short transactions.
            stale = getattr(store, "stale_imports", None)
            if stale is not None and stale():
                self._bulk.submit(self._remove_stale_imports, project)
        return store

    def _bulk_store(self, project: str) -> TaskStore:
        store = self._bulk_open.get(project)
        if store is None:
            store = self._bulk_open[project] = self._backend.open(project)
        return store

    def _remove_stale_imports(self, project: str) -> None:
        try:
            remove = getattr(self._bulk_store(project), "remove_stale_imports", None)
            if remove is not None:
                remove()
        except Exception:
            log.exception("removing stale imports of %s failed", project)

    def for_request(self, request: Request) -> TaskStore:
        create = (request.method, request.route) in CREATING
        return self.store(request.params["project"], create=create)

    async def bulk(self, request: Request, work: Callable[[TaskStore], T]) -> T:
        """``work`` on the project's bulk connection, off the event loop."""
        self.for_request(request)  # 404 or create, as for any request
        project = request.params["project"]

        def run() -> T:
            return work(self._bulk_store(project))

        return await asyncio.get_running_loop().run_in_executor(self._bulk, run)

    def names(self) -> list[str]:
        return sorted(set(self._backend.projects()) | set(self._open))

    def opened(self) -> list[TaskStore]:
        return list(self._open.values())

    def close(self) -> None:
        self._bulk.shutdown(wait=True)
        for store in [*self._open.values(), *self._bulk_open.values()]:
            store.close()
        self._open.clear()
        self._bulk_open.clear()


def claim_headers(claim: Claim) -> list[tuple[bytes, bytes]]:
    return [
        (b"x-airyra-fence", str(claim.fence).encode()),
        (b"x-airyra-lease-expires", format_time(claim.expires_at).encode()),
    ]


class ClaimBatcher:
    """Group commit for claim-next: requests arriving in one event-loop turn share a
    transaction (in arrival order), so under load a commit serves many claims."""

    def __init__(self) -> None:
        self._pending: dict[TaskStore, list[tuple[str, float, asyncio.Future[Claim | None]]]] = {}
        self._scheduled = False

    def claim_next(
        self, store: TaskStore, agent: str, lease: float
    ) -> asyncio.Future[Claim | None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Claim | None] = loop.create_future()
        self._pending.setdefault(store, []).append((agent, lease, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, {}
        for store, waiting in pending.items():
            try:
                claims = store.claim_next_many([(agent, lease) for agent, lease, _ in waiting])
            except Exception as exc:
                for *_, future in waiting:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (*_, future), claim in zip(waiting, claims, strict=True):
                if not future.done():  # a client that hung up loses its claim to the lease
                    future.set_result(claim)


class TaskApi:
    """Handlers for the task endpoints; each parses, calls the store once, answers."""

    def __init__(self, projects: Projects, lease_seconds: float) -> None:
        self.projects = projects
        self.lease_seconds = lease_seconds
        self.batcher = ClaimBatcher()

    def store(self, request: Request) -> TaskStore:
        return self.projects.for_request(request)

    def _lease(self, body: Body) -> float:
        seconds = body.number("lease_seconds")
        return self.lease_seconds if seconds is None else seconds

    # system
    def health(self, request: Request) -> Response:
        return Response(200, {"status": "ok", "server": "isollm", "pid": os.getpid()})

    def list_projects(self, request: Request) -> Response:
        grant: Grant | None = request.grant
        names = self.projects.names()
        if grant is not None and not grant.is_host:  # an agent sees its own project only
            names = [n for n in names if n == grant.project]
        return Response(200, names)

    def openapi(self, request: Request) -> Response:
        return Response(200, document())

    # tasks
    def list_tasks(self, request: Request) -> Response:
        return paged(self.store(request).list_tasks(parse.status(request), parse.page(request)))

    def ready(self, request: Request) -> Response:
        return paged(self.store(request).ready(parse.page(request)))

    def create_task(self, request: Request) -> Response:
        body = Body(request)
        new = _new_task(body, parent_field="parent_id")
        body.check()
        return Response(201, self.store(request).add_task(new, request.agent).to_json())

    def get_task(self, request: Request) -> Response:
        return Response(200, self.store(request).get_task(request.params["id"]).to_json())

    def update_task(self, request: Request) -> Response:
        body = Body(request)
        patch = TaskPatch(
            title=body.text("title"),
            description=body.text("description"),
            priority=body.integer("priority"),
            parent_id=body.text("parent_id"),
        )
        body.check()
        task = self.store(request).update_task(request.params["id"], patch, request.agent)
        return Response(200, task.to_json())

    def delete_task(self, request: Request) -> Response:
        self.store(request).delete_task(request.params["id"], request.agent)
        return Response(204)

    # transitions
    def claim(self, request: Request) -> Response:
        body = Body(request)
        lease = self._lease(body)
        body.check()
        claim = self.store(request).claim(request.params["id"], request.agent, lease)
        return Response(200, claim.task.to_json(), claim_headers(claim))

    def done(self, request: Request) -> Response:
        body = Body(request)
        fence = parse.fence(request, body)
        body.check()
        task = self.store(request).done(request.params["id"], request.agent, fence)
        return Response(200, task.to_json())

    def release(self, request: Request) -> Response:
        body = Body(request)
        fence = parse.fence(request, body)
        body.check()
        force = parse.flag(request, "force")
        if force:
            _require_host(request, "releasing another agent's claim (force)")
        task = self.store(request).release(request.params["id"], request.agent, fence, force)
        return Response(200, task.to_json())

    def block(self, request: Request) -> Response:
        body = Body(request)
        reason = body.text("reason")
        fence = parse.fence(request, body)
        body.check()
        grant: Grant | None = request.grant
        holder = grant is not None and not grant.is_host  # an agent blocks its own claim only
        store = self.store(request)
        task = store.block(request.params["id"], request.agent, reason, holder=holder, fence=fence)
        return Response(200, task.to_json())

    def unblock(self, request: Request) -> Response:
        task = self.store(request).unblock(request.params["id"], request.agent)
        return Response(200, task.to_json())

    # dependencies and audit
    def list_deps(self, request: Request) -> Response:
        deps = self.store(request).dependencies(request.params["id"])
        return Response(200, [d.to_json() for d in deps])

    def add_dep(self, request: Request) -> Response:
        body = Body(request)
        parent = body.required_text("parent_id")
        body.check()
        dep = self.store(request).add_dependency(request.params["id"], parent, request.agent)
        return Response(201, dep.to_json())

    def remove_dep(self, request: Request) -> Response:
        child, parent = request.params["id"], request.params["dep_id"]
        self.store(request).remove_dependency(child, parent, request.agent)
        return Response(204)

    def history(self, request: Request) -> Response:
        entries = self.store(request).history(request.params["id"])
        return Response(200, [e.to_json() for e in entries])

    def audit(self, request: Request) -> Response:
        store = self.store(request)
        return paged(store.audit(parse.audit_query(request), parse.page(request)))

    # isollm extensions
    async def claim_next(self, request: Request) -> Response:
        body = Body(request)
        lease = self._lease(body)
        body.check()
        validate.check_agent(request.agent)
        validate.check_lease(lease)
        try:
            store = self.store(request)
        except errors.ProjectNotFoundError:
            return Response(204)  # nothing to claim in a project nobody created
        claim = await self.batcher.claim_next(store, request.agent, lease)
        if claim is None:
            return Response(204)
        return Response(200, claim.to_json(), claim_headers(claim))

    def heartbeat(self, request: Request) -> Response:
        body = Body(request)
        lease, fence = self._lease(body), parse.fence(request, body)
        body.check()
        claim = self.store(request).heartbeat(request.params["id"], request.agent, fence, lease)
        return Response(200, claim.to_json(), claim_headers(claim))

    async def import_tasks(self, request: Request) -> Response:
        items = await asyncio.to_thread(_import_items, request)  # 10,000 items: 0.1 s
        agent = request.agent
        result = await self.projects.bulk(request, lambda s: s.import_tasks(items, agent))
        return Response(201, await asyncio.to_thread(result.to_json))

    async def clear_done(self, request: Request) -> Response:
        agent = request.agent
        return Response(
            200, {"deleted": await self.projects.bulk(request, lambda s: s.clear_done(agent))}
        )


def _new_task(body: Body, *, parent_field: str) -> NewTask:
    priority = body.integer("priority")
    return NewTask(
        title=body.required_text("title"),
        description=body.text("description"),
        priority=DEFAULT_PRIORITY if priority is None else priority,
        parent_id=body.text(parent_field),
        spec_id=body.text("spec_id"),
    )


def _import_items(request: Request) -> list[ImportItem]:
    body = Body(request)
    items = [_import_item(i, raw) for i, raw in enumerate(body.objects("tasks"))]
    body.check()
    return items


def _import_item(index: int, raw: dict[str, Any]) -> ImportItem:
    """One item of an import body (its parent is ``parent``: a key or an id)."""
    body = Body(raw)
    item = ImportItem(
        task=_new_task(body, parent_field="parent"),
        key=body.text("key"),
        after=tuple(body.strings("after")),
    )
    try:
        body.check()
    except errors.ValidationFailedError as exc:
        raise errors.ValidationFailedError.of(
            *(f"task {index + 1}: {d}" for d in exc.details)
        ) from None
    return item


def build_router(api: TaskApi) -> Router:
    router = Router()
    add = router.add
    add("GET", "/v1/health", api.health)
    add("GET", "/v1/projects", api.list_projects)
    add("GET", "/openapi.json", api.openapi)
    add("GET", PROJECT + "/tasks", api.list_tasks)
    add("POST", PROJECT + "/tasks", api.create_task)
    add("GET", PROJECT + "/tasks/ready", api.ready)
    add("POST", PROJECT + "/tasks/claim-next", api.claim_next)
    add("POST", PROJECT + "/tasks/import", api.import_tasks)
    add("POST", PROJECT + "/tasks/clear-done", api.clear_done)
    add("GET", TASK, api.get_task)
    add("PATCH", TASK, api.update_task)
    add("DELETE", TASK, api.delete_task)
    for name in ("claim", "done", "release", "block", "unblock", "heartbeat"):
        add("POST", f"{TASK}/{name}", getattr(api, name))
    add("GET", TASK + "/deps", api.list_deps)
    add("POST", TASK + "/deps", api.add_dep)
    add("DELETE", TASK + "/deps/{dep_id}", api.remove_dep)
    add("GET", TASK + "/history", api.history)
    add("GET", PROJECT + "/audit", api.audit)
    add_spec_routes(router, api.projects)
    return router


def _require_host(request: Request, what: str) -> None:
    grant: Grant | None = request.grant
    if grant is not None and not grant.is_host:
        raise errors.ForbiddenError(
            f"{what} needs the host's token; this is agent {grant.agent!r}'s",
            context={"required": "host", "agent": grant.agent, "project": grant.project},
            hint="run it on the host with `isollm task ...`",
        )


def bearer_auth(secret: bytes) -> Any:
    """Require a valid token and allow what it grants.

    The host token may do anything as any agent (``X-Airyra-Agent``). An agent's
    token acts as its agent in its project only: it reads the queue, claims for
    itself and acts on claims it holds (the store checks holder and fence); a reader
    token only reads. Anything else is 403 naming what it needs.
    """

    def authenticate(request: Request) -> None:
        if request.path in OPEN_PATHS:
            return
        scheme, _, token = (request.header("authorization") or "").partition(" ")
        grant = tokens.verify(secret, token) if scheme.lower() == "bearer" else None
        if grant is None:
            outdated = scheme.lower() == "bearer" and tokens.is_outdated(token)
            raise errors.UnauthorizedError(
                "this token is from an older isollm and no longer accepted"
                if outdated
                else "a valid bearer token is required (Authorization: Bearer <token>)",
                hint="agents get theirs in AIRYRA_TOKEN from isollm; "
                "`isollm server token --project P AGENT` prints one",
            )
        request.grant = grant
        if grant.is_host:
            return
        claimed = request.header("x-airyra-agent")
        if claimed and claimed != grant.agent:
            raise errors.ForbiddenError(
                f"this token belongs to agent {grant.agent!r}, not {claimed!r}",
                context={"token_agent": grant.agent, "agent": claimed, "required": "host"},
            )
        request.agent = grant.agent
        project = request.params.get("project")
        if project is None:  # /v1/projects: filtered to the token's project
            return
        if project != grant.project:
            raise errors.ForbiddenError(
                f"this token is for project {grant.project!r}, not {project!r}",
                context={"token_project": grant.project, "project": project},
            )
        if request.method == "GET":
            return
        if (request.method, request.route) in AGENT_ACTIONS and grant.role is Role.WORKER:
            return
        required = "worker" if (request.method, request.route) in AGENT_ACTIONS else "host"
        raise errors.ForbiddenError(
            f"{request.method} {request.route} needs the {required} token; "
            f"agent {grant.agent!r} holds a {grant.role.value} token",
            context={"required": required, "agent": grant.agent, "role": grant.role.value},
            hint="deleting, editing, importing, clearing, unblocking and dependencies "
            "are for the host (`isollm task ...`)",
        )

    return authenticate


async def _reap_forever(projects: Projects, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        for store in projects.opened():
            try:
                reaped = store.reap_expired()
            except Exception:
                log.exception("returning expired leases failed")
                continue
            if reaped:
                log.info("leases expired, tasks back in the queue: %s", ", ".join(reaped))


def create_app(
    backend: StoreBackend,
    *,
    lease_seconds: float = 300.0,
    secret: bytes | None = None,
    reap_interval: float = DEFAULT_REAP_INTERVAL,
) -> App:
    """The ASGI app; with ``secret`` every request needs a bearer token."""
    projects = Projects(backend)
    reaper: list[asyncio.Task[None]] = []

    async def startup() -> None:
        reaper.append(asyncio.create_task(_reap_forever(projects, reap_interval)))

    async def shutdown() -> None:
        for task in reaper:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        projects.close()

    return App(
        build_router(TaskApi(projects, lease_seconds)),
        authenticate=bearer_auth(secret) if secret is not None else None,
        on_startup=startup,
        on_shutdown=shutdown,
    )
