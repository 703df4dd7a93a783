"""The spec (epic) endpoints of the task server, as airyra serves them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from isollm.tasks.server import parse
from isollm.tasks.server.asgi import Request, Response, Router, paged
from isollm.tasks.server.parse import Body
from isollm.tasks.store.model import SpecPatch

if TYPE_CHECKING:
    from isollm.tasks.server.projects import Projects
    from isollm.tasks.store.protocol import TaskStore

SPECS = "/v1/projects/{project}/specs"
SPEC = SPECS + "/{id}"


class SpecApi:
    def __init__(self, projects: Projects) -> None:
        self.projects = projects

    def store(self, request: Request) -> TaskStore:
        return self.projects.for_request(request)

    def list_specs(self, request: Request) -> Response:
        page = self.store(request).list_specs(parse.spec_status(request), parse.page(request))
        return paged(page)

    def ready_specs(self, request: Request) -> Response:
        return paged(self.store(request).ready_specs(parse.page(request)))

    def create_spec(self, request: Request) -> Response:
        body = Body(request)
        title, description = body.required_text("title"), body.text("description")
        body.check()
        spec = self.store(request).add_spec(title, description, request.agent)
        return Response(201, spec.to_json())

    def get_spec(self, request: Request) -> Response:
        return Response(200, self.store(request).get_spec(request.params["id"]).to_json())

    def update_spec(self, request: Request) -> Response:
        body = Body(request)
        patch = SpecPatch(title=body.text("title"), description=body.text("description"))
        body.check()
        spec = self.store(request).update_spec(request.params["id"], patch, request.agent)
        return Response(200, spec.to_json())

    def delete_spec(self, request: Request) -> Response:
        self.store(request).delete_spec(request.params["id"], request.agent)
        return Response(204)

    def cancel_spec(self, request: Request) -> Response:
        spec = self.store(request).cancel_spec(request.params["id"], request.agent)
        return Response(200, spec.to_json())

    def reopen_spec(self, request: Request) -> Response:
        spec = self.store(request).reopen_spec(request.params["id"], request.agent)
        return Response(200, spec.to_json())

    def spec_tasks(self, request: Request) -> Response:
        page = self.store(request).spec_tasks(request.params["id"], parse.page(request))
        return paged(page)

    def list_deps(self, request: Request) -> Response:
        deps = self.store(request).spec_dependencies(request.params["id"])
        return Response(200, [d.to_json() for d in deps])

    def add_dep(self, request: Request) -> Response:
        body = Body(request)
        parent = body.required_text("parent_id")
        body.check()
        self.store(request).add_spec_dependency(request.params["id"], parent, request.agent)
        return Response(204)

    def remove_dep(self, request: Request) -> Response:
        child, parent = request.params["id"], request.params["parent_id"]
        self.store(request).remove_spec_dependency(child, parent, request.agent)
        return Response(204)


def add_spec_routes(router: Router, projects: Projects) -> None:
    api = SpecApi(projects)
    router.add("GET", SPECS, api.list_specs)
    router.add("POST", SPECS, api.create_spec)
    router.add("GET", SPECS + "/ready", api.ready_specs)
    router.add("GET", SPEC, api.get_spec)
    router.add("PATCH", SPEC, api.update_spec)
    router.add("DELETE", SPEC, api.delete_spec)
    router.add("POST", SPEC + "/cancel", api.cancel_spec)
    router.add("POST", SPEC + "/reopen", api.reopen_spec)
    router.add("GET", SPEC + "/tasks", api.spec_tasks)
    router.add("GET", SPEC + "/deps", api.list_deps)
    router.add("POST", SPEC + "/deps", api.add_dep)
    router.add("DELETE", SPEC + "/deps/{parent_id}", api.remove_dep)
