"""What each interactive agent is doing, as its hooks report it (``airyra hook``).

``PUT /v1/projects/{p}/agents/{agent}/state`` (the agent's own worker token, or the
host's) records ``working``, ``waiting`` (for a person), ``idle`` or ``exited`` with
a short detail and the agent's session id; ``GET /v1/projects/{p}/agents`` lists them
with ``since``: when, in the server's time, the agent entered that state. Kept in
memory only (a restarted server knows nothing until the next hook), at most
:data:`MAX_AGENTS` per project (the one updated longest ago is forgotten first), also
for a project with no task yet (no database): a session may start on an empty queue.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from isollm.tasks.server.asgi import Request, Response, Router
from isollm.tasks.server.parse import Body
from isollm.tasks.server.projects import PROJECT
from isollm.tasks.server.tokens import Grant
from isollm.tasks.store import errors, validate
from isollm.tasks.store.model import format_time, utcnow

AGENTS = PROJECT + "/agents"
AGENT_STATE = AGENTS + "/{agent}/state"
STATES = ("working", "waiting", "idle", "exited")
MAX_AGENTS = 1000
MAX_DETAIL = 200
MAX_SESSION_ID = 100


@dataclass(frozen=True)
class AgentEntry:
    state: str
    since: datetime  # when the agent entered this state
    detail: str
    session_id: str | None
    updated_at: datetime  # the last report

    def to_json(self, agent: str) -> dict[str, Any]:
        return {
            "agent": agent,
            "state": self.state,
            "since": format_time(self.since),
            "detail": self.detail,
            "session_id": self.session_id,
            "updated_at": format_time(self.updated_at),
        }


class AgentStates:
    """The latest state of each agent, per project, bounded."""

    def __init__(self, max_agents: int = MAX_AGENTS) -> None:
        self._max = max_agents
        self._projects: dict[str, OrderedDict[str, AgentEntry]] = {}

    def report(
        self, project: str, agent: str, state: str, detail: str, session_id: str | None
    ) -> AgentEntry:
        """Record a report; ``since`` stays when the state did not change, and a report
        without a session id keeps the one known."""
        agents = self._projects.setdefault(project, OrderedDict())
        old, now = agents.pop(agent, None), utcnow()
        entry = AgentEntry(
            state,
            old.since if old is not None and old.state == state else now,
            detail,
            session_id if session_id is not None else (old.session_id if old else None),
            now,
        )
        agents[agent] = entry
        while len(agents) > self._max:
            agents.popitem(last=False)
        return entry

    def of(self, project: str) -> list[tuple[str, AgentEntry]]:
        return sorted(self._projects.get(project, {}).items())


class AgentStateApi:
    def __init__(self, states: AgentStates | None = None) -> None:
        self.states = states or AgentStates()

    def put(self, request: Request) -> Response:
        # Kept in memory: a session's agents report before the project's first task
        # exists (the token already binds the request to its project).
        project, agent = request.params["project"], request.params["agent"]
        validate.check_project(project)
        validate.check_agent(agent)
        grant: Grant | None = request.grant
        if grant is not None and not grant.is_host and grant.agent != agent:
            raise errors.ForbiddenError(
                f"agent {grant.agent!r} may set its own state only, not {agent!r}'s",
                context={"token_agent": grant.agent, "agent": agent, "required": "host"},
            )
        body = Body(request)
        state, detail = body.required_text("state"), body.text("detail") or ""
        session_id = body.text("session_id")
        body.check()
        problems = [f"state must be one of {', '.join(STATES)}"] if state not in STATES else []
        if len(detail) > MAX_DETAIL:
            problems.append(f"detail must be at most {MAX_DETAIL} characters")
        if session_id is not None and not 0 < len(session_id) <= MAX_SESSION_ID:
            problems.append(f"session_id must be 1 to {MAX_SESSION_ID} characters")
        if problems:
            raise errors.ValidationFailedError.of(*problems)
        entry = self.states.report(project, agent, state, detail, session_id)
        return Response(200, entry.to_json(agent))

    def list(self, request: Request) -> Response:
        validate.check_project(request.params["project"])
        entries = self.states.of(request.params["project"])
        return Response(200, [entry.to_json(agent) for agent, entry in entries])


def add_agent_state_routes(router: Router) -> None:
    api = AgentStateApi()
    router.add("GET", AGENTS, api.list)
    router.add("PUT", AGENT_STATE, api.put)
