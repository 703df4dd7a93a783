"""The agent-state calls of the task client: what each interactive agent reports doing.

Agents report through their hooks (``airyra hook``, see
:mod:`isollm.tasks.server.agentstate`); the host reads the reports here. An unknown
project, or a server without the endpoint (a plain airyra, an older isollm), reads as
no reports; a state this isollm does not know reads as ``unknown``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from isollm.tasks.client.connection import Connection
from isollm.tasks.store import errors
from isollm.tasks.store.model import parse_time

STATES = ("working", "waiting", "idle", "exited", "unknown")


@dataclass(frozen=True, slots=True)
class AgentState:
    """An agent's latest report: ``since`` is when it entered ``state`` (server time)."""

    agent: str
    state: str  # one of STATES
    since: datetime
    detail: str = ""
    session_id: str | None = None
    updated_at: datetime | None = None  # its last report (server time)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AgentState:
        state = str(data.get("state", ""))
        session = data.get("session_id")
        updated = data.get("updated_at")
        return cls(
            agent=str(data["agent"]),
            state=state if state in STATES else "unknown",
            since=parse_time(str(data["since"])),
            detail=str(data.get("detail") or ""),
            session_id=session if isinstance(session, str) and session else None,
            updated_at=parse_time(updated) if isinstance(updated, str) and updated else None,
        )


class AgentStateCalls(Connection):
    def _agents_path(self, project: str | None) -> str:
        prefix = self._prefix if project is None else f"/v1/projects/{quote(project, safe='')}"
        return f"{prefix}/agents"

    def agent_states(self, project: str | None = None) -> list[AgentState]:
        """The agents of ``project`` (default: this client's) with their latest state."""
        try:
            found, data = self._extension("GET", self._agents_path(project))
        except errors.ProjectNotFoundError:
            return []
        if not found or not isinstance(data, list):
            return []
        return [AgentState.from_json(d) for d in data if isinstance(d, dict)]

    def set_agent_state(
        self, agent: str, state: str, detail: str = "", session_id: str | None = None
    ) -> AgentState:
        """Report ``agent``'s state (the host's token may report any agent's: an agent
        whose pane is gone, say)."""
        body: dict[str, Any] = {"state": state, "detail": detail}
        if session_id is not None:
            body["session_id"] = session_id
        path = f"{self._agents_path(None)}/{quote(agent, safe='')}/state"
        return AgentState.from_json(self._call("PUT", path, json=body))
