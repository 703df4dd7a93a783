"""The coordination endpoints in the task server's OpenAPI document: file locks and the
context board (:mod:`isollm.tasks.server.coord_routes`); :mod:`isollm.tasks.server.openapi`
adds them to its paths and schemas."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from isollm.tasks.server.openapi_schemas import ID, TEXT, TIME, obj
from isollm.tasks.store.coordination import MAX_MESSAGE, MAX_PATHS, BoardStatus

_PATHS = {"type": "array", "items": TEXT, "maxItems": MAX_PATHS}
_BOARD_STATUS = {"type": "string", "enum": [s.value for s in BoardStatus]}

COORD_SCHEMAS: dict[str, Any] = {
    "FileLock": obj(
        ["path", "glob", "agent", "task_id", "acquired_at"],
        {
            "path": {**TEXT, "description": "relative to the repository root; a glob if glob"},
            "glob": {"type": "boolean"},
            "agent": TEXT,
            "task_id": ID,
            "acquired_at": TIME,
        },
    ),
    "LockRequest": obj(
        ["paths"],
        {
            "paths": {**_PATHS, "minItems": 1, "description": "all are locked, or none"},
            "task_id": {**TEXT, "description": "the claim to hold them by (default: the one)"},
        },
        closed=False,
    ),
    "UnlockRequest": obj(
        [], {"paths": {**_PATHS, "description": "default: every lock of the agent"}}, closed=False
    ),
    "Unlocked": obj(["released"], {"released": {"type": "array", "items": TEXT}}),
    "ContextEntry": obj(
        ["agent", "task_id", "status", "message", "files", "updated_at"],
        {
            "agent": TEXT,
            "task_id": ID,
            "status": _BOARD_STATUS,
            "message": TEXT,
            "files": {"type": "array", "items": TEXT},
            "updated_at": TIME,
        },
    ),
    "ContextUpdate": obj(
        ["status"],
        {
            "status": _BOARD_STATUS,
            "message": {"type": "string", "maxLength": MAX_MESSAGE},
            "files": {"type": "array", "items": TEXT},
            "task_id": TEXT,
        },
        closed=False,
    ),
}


def coordination_operations(op: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """The paths of the coordination endpoints, each operation made by ``op``
    (:func:`isollm.tasks.server.openapi._op`)."""
    project = "/v1/projects/{project}"
    body_errors = (400, 413)
    return {
        project + "/locks": {
            "get": op(
                "isollm: the file locks held under current claims", 200, "FileLock[]", (400,)
            ),
            "post": op(
                "isollm: lock paths or globs for the agent's claim, all or none (409 LOCK_HELD)",
                200,
                "FileLock[]",
                (*body_errors, 409),
                body="LockRequest",
            ),
            "delete": op(
                "isollm: release the agent's own locks",
                200,
                "Unlocked",
                body_errors,
                body="UnlockRequest",
            ),
        },
        project + "/context": {
            "get": op("isollm: the context board", 200, "ContextEntry[]", (400,)),
            "put": op(
                "isollm: publish what the agent works on (replaces its entry)",
                200,
                "ContextEntry",
                (*body_errors, 409),
                body="ContextUpdate",
            ),
        },
    }
