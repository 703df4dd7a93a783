"""The OpenAPI 3.1 document of the task server, served at ``GET /openapi.json``.

Built from small helpers so each operation reads as one line: its method, path,
summary, request body and the statuses it can answer. A test checks that the
document and the router name the same operations, and schemathesis checks every
response against it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from isollm import __version__
from isollm.tasks.server.openapi_coord import COORD_SCHEMAS, coordination_operations
from isollm.tasks.server.openapi_schemas import (
    JSON,
    SCHEMAS,
    SPEC_STATUS,
    STATUS,
    TEXT,
    TIME,
    ref,
)
from isollm.tasks.server.openapi_session import SESSION_SCHEMAS, session_operations

_CODES = {
    400: "invalid request (VALIDATION_FAILED, INVALID_TRANSITION, CYCLE_DETECTED, ...)",
    401: "a valid bearer token is required (context.hint says where to get one)",
    403: "NOT_OWNER, or FORBIDDEN: the token does not allow this (context.required)",
    404: "TASK_NOT_FOUND, PROJECT_NOT_FOUND, SPEC_NOT_FOUND, DEPENDENCY_NOT_FOUND, ...",
    408: "the request body did not arrive in time",
    409: "ALREADY_CLAIMED, NOT_READY, STALE_CLAIM, SPEC_ALREADY_CANCELLED, LOCK_HELD, NO_CLAIM, "
    "NO_SESSION, DELIVERY_FAILED, PUSH_IN_PROGRESS",
    413: "request body too large",
    422: "DELIVERY_REFUSED, BUNDLE_INCOMPLETE: the hub refused the pushed work",
}
_AGENT = {
    "name": "X-Airyra-Agent",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "who acts (default: anonymous)",
}
_PAGE = [
    {"name": "page", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}},
    {
        "name": "per_page",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
    },
]


def _content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {JSON: {"schema": schema}}}


def _op(
    summary: str,
    ok: int,
    result: str | None,
    errors: tuple[int, ...],
    *,
    body: str | None = None,
    query: list[dict[str, Any]] | None = None,
    ok_text: str = "success",
    auth: bool = True,
) -> dict[str, Any]:
    responses: dict[str, Any] = {
        str(ok): {"description": ok_text, **(_content(_result(result)) if result else {})}
    }
    for code in (*errors, 401, 403, 404, 408) if auth else errors:
        responses[str(code)] = {"description": _CODES[code], **_content(ref("Error"))}
    op: dict[str, Any] = {
        "summary": summary,
        "parameters": [_AGENT, *(query or [])],
        "responses": responses,
    }
    if body:
        op["requestBody"] = {"required": False, **_content(ref(body))}
    return op


def _result(name: str) -> dict[str, Any]:
    if name == "string[]":
        return {"type": "array", "items": TEXT}
    if name.endswith("[]"):
        return {"type": "array", "items": ref(name[:-2])}
    if name in SCHEMAS or name in COORD_SCHEMAS or name in SESSION_SCHEMAS:
        return ref(name)
    return {"type": "object"}


PROJECT_NAME = {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,64}$"}


def _path_params(path: str) -> list[dict[str, Any]]:
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    return [
        {
            "name": n,
            "in": "path",
            "required": True,
            "schema": PROJECT_NAME if n == "project" else {"type": "string", "minLength": 1},
        }
        for n in names
    ]


_FENCE_HEADER = {
    "name": "X-Airyra-Fence",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"},
    "description": "isollm: the claim's fencing token",
}
_STATUS_QUERY = [{"name": "status", "in": "query", "required": False, "schema": STATUS}]
_SPEC_STATUS_QUERY = [{"name": "status", "in": "query", "required": False, "schema": SPEC_STATUS}]
_FORCE = [
    {
        "name": "force",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "enum": ["true", "false"]},
    }
]
_AUDIT_QUERY = [
    {"name": n, "in": "query", "required": False, "schema": s}
    for n, s in (("action", TEXT), ("agent", TEXT), ("start", TIME), ("end", TIME))
]

P = "/v1/projects/{project}"
T = P + "/tasks/{id}"
S = P + "/specs/{id}"
V, NF, C = 400, 404, 409


def _operations() -> dict[str, dict[str, dict[str, Any]]]:
    body_errors = (V, 413)
    return {
        "/v1/health": {"get": _op("Health check", 200, "object", (), auth=False)},
        "/v1/projects": {"get": _op("List projects", 200, "string[]", ())},
        "/openapi.json": {"get": _op("This document", 200, "object", (), auth=False)},
        P + "/tasks": {
            "get": _op(
                "List tasks by priority, then age",
                200,
                "TaskList",
                (V,),
                query=[*_STATUS_QUERY, *_PAGE],
            ),
            "post": _op("Create a task", 201, "Task", (*body_errors, NF), body="NewTask"),
        },
        P + "/tasks/ready": {
            "get": _op("Open tasks whose dependencies are done", 200, "TaskList", (V,), query=_PAGE)
        },
        P + "/tasks/claim-next": {
            "post": _op(
                "isollm: claim the most urgent ready task (204: none)",
                200,
                "Claim",
                body_errors,
                body="Lease",
            )
        },
        P + "/tasks/import": {
            "post": _op(
                "isollm: create tasks with dependencies, all or nothing",
                201,
                "ImportResult",
                (*body_errors, NF),
                body="ImportRequest",
            )
        },
        P + "/tasks/clear-done": {
            "post": _op(
                "isollm: delete done tasks no unfinished task needs", 200, "object", body_errors
            )
        },
        T: {
            "get": _op("Get a task", 200, "Task", (V, NF)),
            "patch": _op(
                "Edit a task (not its status)", 200, "Task", (*body_errors, NF), body="TaskPatch"
            ),
            "delete": _op("Delete a task and its subtasks", 204, None, (V, NF)),
        },
        T + "/claim": {
            "post": _op(
                "Claim an open, ready task", 200, "Task", (*body_errors, NF, C), body="Lease"
            )
        },
        T + "/done": {
            "post": _op(
                "Finish a claimed task (claimant only)",
                200,
                "Task",
                (*body_errors, 403, NF, C),
                body="Fence",
            )
        },
        T + "/release": {
            "post": _op(
                "Put a claimed task back",
                200,
                "Task",
                (*body_errors, 403, NF, C),
                body="Fence",
                query=_FORCE,
            )
        },
        T + "/block": {
            "post": _op("Block a task", 200, "Task", (*body_errors, NF), body="BlockReason")
        },
        T + "/unblock": {"post": _op("Unblock a task", 200, "Task", (V, NF))},
        T + "/heartbeat": {
            "post": _op(
                "isollm: renew a claim's lease",
                200,
                "Claim",
                (*body_errors, 403, NF, C),
                body="Fence",
            )
        },
        T + "/deps": {
            "get": _op("What the task depends on", 200, "Dependency[]", (V, NF)),
            "post": _op(
                "Make the task depend on another",
                201,
                "Dependency",
                (*body_errors, NF),
                body="NewDependency",
            ),
        },
        T + "/deps/{dep_id}": {"delete": _op("Remove a dependency", 204, None, (V, NF))},
        T + "/history": {
            "get": _op("The task's audit history, newest first", 200, "AuditEntry[]", (V, NF))
        },
        P + "/audit": {
            "get": _op(
                "The audit log, newest first", 200, "AuditList", (V,), query=[*_AUDIT_QUERY, *_PAGE]
            )
        },
        P + "/specs": {
            "get": _op("List specs", 200, "SpecList", (V,), query=[*_SPEC_STATUS_QUERY, *_PAGE]),
            "post": _op("Create a spec", 201, "Spec", body_errors, body="NewSpec"),
        },
        P + "/specs/ready": {
            "get": _op("Specs whose dependencies are done", 200, "SpecList", (V,), query=_PAGE)
        },
        S: {
            "get": _op("Get a spec", 200, "Spec", (V, NF)),
            "patch": _op("Edit a spec", 200, "Spec", (*body_errors, NF), body="SpecPatch"),
            "delete": _op("Delete a spec (its tasks stay)", 204, None, (V, NF)),
        },
        S + "/cancel": {"post": _op("Cancel a spec", 200, "Spec", (V, NF, C))},
        S + "/reopen": {"post": _op("Reopen a cancelled spec", 200, "Spec", (V, NF))},
        S + "/tasks": {"get": _op("The spec's tasks", 200, "TaskList", (V, NF), query=_PAGE)},
        S + "/deps": {
            "get": _op("What the spec depends on", 200, "Dependency[]", (V, NF)),
            "post": _op(
                "Make the spec depend on another",
                204,
                None,
                (*body_errors, NF),
                body="NewDependency",
            ),
        },
        S + "/deps/{parent_id}": {"delete": _op("Remove a spec dependency", 204, None, (V, NF))},
    }


def _finish(paths: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    for path, methods in paths.items():
        for method, op in methods.items():
            op["parameters"] = [*_path_params(path), *op["parameters"]]
            if path.endswith(("/done", "/release", "/heartbeat", "/push")):
                op["parameters"].append(_FENCE_HEADER)
            if method == "post" and path.endswith("claim-next"):
                op["responses"]["204"] = {"description": "no task is ready"}
            op["operationId"] = (
                f"{method}_{path}".replace("/", "_").replace("{", "").replace("}", "")
            )
    return paths


@cache
def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "isollm task server (airyra v1 API)",
            "version": __version__,
            "description": "airyra's task API with leases, fencing tokens and claim-next.",
        },
        "paths": _finish(
            {**_operations(), **coordination_operations(_op), **session_operations(_op)}
        ),
        "components": {
            "schemas": {**SCHEMAS, **COORD_SCHEMAS, **SESSION_SCHEMAS},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
