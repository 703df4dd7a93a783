"""Who may do what on the task server: bearer tokens checked per request (see
:mod:`isollm.tasks.server.tokens` for what a token grants)."""

from __future__ import annotations

from typing import Any

from isollm.tasks.server import tokens
from isollm.tasks.server.asgi import Request
from isollm.tasks.server.coord_routes import COORDINATION
from isollm.tasks.server.projects import PROJECT, TASK
from isollm.tasks.server.tokens import Grant, Role
from isollm.tasks.store import errors

OPEN_PATHS = frozenset({"/v1/health", "/openapi.json"})
# What an agent's token may do beside reading its project (every GET under it):
# claims for itself and the transitions of claims it holds. Everything else needs the
# host's token.
AGENT_ACTIONS = frozenset(
    ("POST", f"{TASK}/{action}") for action in ("claim", "done", "release", "block", "heartbeat")
) | {("POST", PROJECT + "/tasks/claim-next"), ("POST", TASK + "/push")}
AGENT_ACTIONS |= {("PUT", PROJECT + "/agents/{agent}/state")}  # its own (checked there)


def require_host(request: Request, what: str) -> None:
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
        if (request.method, request.route) in COORDINATION:  # own locks, own board entry
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
