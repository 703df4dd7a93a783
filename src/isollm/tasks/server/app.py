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
from typing import Any

from isollm.tasks.server import parse
from isollm.tasks.server.agentstate import add_agent_state_routes
from isollm.tasks.server.asgi import App, Request, Response, Router, paged
from isollm.tasks.server.auth import bearer_auth, require_host
from isollm.tasks.server.coord_routes import add_coordination_routes
from isollm.tasks.server.delivery import DeliveryApi, add_delivery_routes
from isollm.tasks.server.openapi import document
from isollm.tasks.server.options import DEFAULT_REAP_INTERVAL
from isollm.tasks.server.parse import Body
from isollm.tasks.server.projects import PROJECT, TASK, ClaimBatcher, Projects, claim_headers
from isollm.tasks.server.spec_routes import add_spec_routes
from isollm.tasks.server.tokens import Grant
from isollm.tasks.store import errors, validate
from isollm.tasks.store.model import (
    DEFAULT_PRIORITY,
    ImportItem,
    NewTask,
    TaskPatch,
)
from isollm.tasks.store.protocol import StoreBackend, TaskStore

log = logging.getLogger(__name__)


class TaskApi:
    """Handlers for the task endpoints; each parses, calls the store once, answers."""

    def __init__(self, projects: Projects, lease_seconds: float, home: str = "") -> None:
        self.projects = projects
        self.lease_seconds = lease_seconds
        self.home = home  # options.home_id of the databases: whose server this is
        self.batcher = ClaimBatcher()

    def store(self, request: Request) -> TaskStore:
        return self.projects.for_request(request)

    def _lease(self, body: Body) -> float:
        seconds = body.number("lease_seconds")
        return self.lease_seconds if seconds is None else seconds

    # system
    def health(self, request: Request) -> Response:
        answer = {"status": "ok", "server": "isollm", "pid": os.getpid(), "home": self.home}
        return Response(200, answer)

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
            require_host(request, "releasing another agent's claim (force)")
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
    add_coordination_routes(router, api.projects)
    add_delivery_routes(router, DeliveryApi(api.projects, api.lease_seconds))
    add_agent_state_routes(router)
    return router


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
    home: str = "",
) -> App:
    """The ASGI app; with ``secret`` every request needs a bearer token. ``home``
    (:func:`~isollm.tasks.server.options.home_id`) is told in the health check."""
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
        build_router(TaskApi(projects, lease_seconds, home)),
        authenticate=bearer_auth(secret) if secret is not None else None,
        on_startup=startup,
        on_shutdown=shutdown,
    )
