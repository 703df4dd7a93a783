"""The coordination endpoints of the task server (isollm's, not airyra's): file locks
and the context board of a project.

``POST /locks`` ``{paths, task_id?}`` locks every path for the requesting agent's claim or
none (409 ``LOCK_HELD``, ``context.held`` naming who holds what); ``DELETE /locks``
``{paths?}`` releases the agent's own locks (all without ``paths``); ``GET /locks``
lists them. ``PUT /context`` ``{status, message, files?, task_id?}`` replaces the
agent's board entry; ``GET /context`` shows the board. Any agent token of the project
may lock and publish (a headless agent's reader token too): what it writes lives only
as long as a claim its agent holds, which the store checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from isollm.tasks.server.asgi import Request, Response, Router
from isollm.tasks.server.parse import Body

if TYPE_CHECKING:
    from isollm.tasks.server.projects import Projects
    from isollm.tasks.store.protocol import TaskStore

LOCKS = "/v1/projects/{project}/locks"
CONTEXT = "/v1/projects/{project}/context"
# What an agent's token (worker or reader) may write: its own locks and board entry.
COORDINATION = frozenset({("POST", LOCKS), ("DELETE", LOCKS), ("PUT", CONTEXT)})


class CoordinationApi:
    def __init__(self, projects: Projects) -> None:
        self.projects = projects

    def store(self, request: Request) -> TaskStore:
        return self.projects.for_request(request)

    def list_locks(self, request: Request) -> Response:
        return Response(200, [lock.to_json() for lock in self.store(request).locks()])

    def lock(self, request: Request) -> Response:
        body = Body(request)
        paths, task_id = body.strings("paths"), body.text("task_id")
        body.check()
        locks = self.store(request).lock(request.agent, paths, task_id)
        return Response(200, [lock.to_json() for lock in locks])

    def unlock(self, request: Request) -> Response:
        body = Body(request)
        paths = body.strings("paths") if body.has("paths") else None
        body.check()
        released = self.store(request).unlock(request.agent, paths)
        return Response(200, {"released": released})

    def board(self, request: Request) -> Response:
        return Response(200, [entry.to_json() for entry in self.store(request).context_board()])

    def set_context(self, request: Request) -> Response:
        body = Body(request)
        status, message = body.required_text("status"), body.text("message") or ""
        files, task_id = body.strings("files"), body.text("task_id")
        body.check()
        store = self.store(request)
        entry = store.set_context(request.agent, status, message, files, task_id)
        return Response(200, entry.to_json())


def add_coordination_routes(router: Router, projects: Projects) -> None:
    api = CoordinationApi(projects)
    router.add("GET", LOCKS, api.list_locks)
    router.add("POST", LOCKS, api.lock)
    router.add("DELETE", LOCKS, api.unlock)
    router.add("GET", CONTEXT, api.board)
    router.add("PUT", CONTEXT, api.set_context)
