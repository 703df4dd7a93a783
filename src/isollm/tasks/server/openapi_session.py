"""The interactive-session endpoints in the task server's OpenAPI document: an agent's
delivery of its work (:mod:`isollm.tasks.server.delivery`) and agent state
(:mod:`isollm.tasks.server.agentstate`); :mod:`isollm.tasks.server.openapi` adds them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from isollm.tasks.server.agentstate import MAX_DETAIL, MAX_SESSION_ID, STATES
from isollm.tasks.server.delivery import BUNDLE_TYPE
from isollm.tasks.server.openapi_schemas import TEXT, TIME, obj

_SHA = {"type": "string", "pattern": "^[0-9a-f]{40}([0-9a-f]{24})?$"}
_MAYBE_SHA = {"anyOf": [_SHA, {"type": "null"}]}
_STATE = {"type": "string", "enum": list(STATES)}

SESSION_SCHEMAS: dict[str, Any] = {
    "PushBase": obj(
        ["have", "base", "branch", "max_bytes"],
        {
            "have": {
                "type": "array",
                "items": _SHA,
                "description": "commits the hub has that HEAD likely builds on",
            },
            "base": TEXT,
            "branch": {**TEXT, "description": "the task's branch, where a push goes"},
            "max_bytes": {"type": "integer", "minimum": 1},
        },
    ),
    "Delivery": obj(
        ["ref", "old", "new", "backup"],
        {
            "ref": TEXT,
            "old": _MAYBE_SHA,
            "new": {**_SHA, "description": "what the hub now holds, read back from it"},
            "backup": {
                "anyOf": [TEXT, {"type": "null"}],
                "description": "where a rewritten tip was kept",
            },
        },
    ),
    "AgentStateUpdate": obj(
        ["state"],
        {
            "state": _STATE,
            "detail": {"type": "string", "maxLength": MAX_DETAIL},
            "session_id": {"type": "string", "minLength": 1, "maxLength": MAX_SESSION_ID},
        },
        closed=False,
    ),
    "AgentState": obj(
        ["agent", "state", "since", "detail", "session_id", "updated_at"],
        {
            "agent": TEXT,
            "state": _STATE,
            "since": {**TIME, "description": "when the agent entered this state (server time)"},
            "detail": TEXT,
            "session_id": {"anyOf": [TEXT, {"type": "null"}]},
            "updated_at": {**TIME, "description": "the last report"},
        },
    ),
}


def session_operations(op: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """The paths of the session endpoints, each operation made by ``op``
    (:func:`isollm.tasks.server.openapi._op`)."""
    project = "/v1/projects/{project}"
    push = op(
        "isollm: deliver a git bundle of HEAD to the task's branch (the claim holder's "
        "worker token; 409 NO_SESSION without `isollm up`)",
        200,
        "Delivery",
        (400, 409, 413, 422),
    )
    push["requestBody"] = {
        "required": True,
        "content": {BUNDLE_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    }
    return {
        project + "/tasks/{id}/push": {
            "get": op(
                "isollm: the commits a push of the task's branch can build on",
                200,
                "PushBase",
                (400, 409),
            ),
            "post": push,
        },
        project + "/agents": {
            "get": op("isollm: each agent's state, as its hooks report it", 200, "AgentState[]", ())
        },
        project + "/agents/{agent}/state": {
            "put": op(
                "isollm: set the agent's state (its own token, or the host's)",
                200,
                "AgentState",
                (400, 413),
                body="AgentStateUpdate",
            )
        },
    }
