"""The schemas of the task server's OpenAPI document: airyra's bodies plus isollm's
(claims with their fence, imports); :mod:`isollm.tasks.server.openapi` uses them."""

from __future__ import annotations

from typing import Any

JSON = "application/json"
TIME = {"type": "string", "format": "date-time"}
TEXT = {"type": "string"}
ID = {"type": "string", "minLength": 1}
PRIORITY = {"type": "integer", "minimum": 0, "maximum": 4}
STATUS = {"type": "string", "enum": ["open", "in_progress", "blocked", "done"]}
SPEC_STATUS = {"type": "string", "enum": ["draft", "active", "done", "cancelled"]}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: list[str], props: dict[str, Any], *, closed: bool = True) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "required": required, "properties": props}
    if closed:
        schema["additionalProperties"] = False
    return schema


def list_of(name: str) -> dict[str, Any]:
    return obj(
        ["data", "pagination"],
        {"data": {"type": "array", "items": ref(name)}, "pagination": ref("Pagination")},
    )


SCHEMAS: dict[str, Any] = {
    "Task": obj(
        ["id", "title", "status", "priority", "created_at", "updated_at"],
        {
            "id": ID,
            "parent_id": TEXT,
            "spec_id": TEXT,
            "title": TEXT,
            "description": TEXT,
            "status": STATUS,
            "priority": PRIORITY,
            "claimed_by": TEXT,
            "claimed_at": TIME,
            "lease_expires_at": {**TIME, "description": "isollm: when the claim's lease ends"},
            "created_at": TIME,
            "updated_at": TIME,
        },
    ),
    "Pagination": obj(
        ["page", "per_page", "total", "total_pages"],
        {
            k: {"type": "integer", "minimum": 0}
            for k in ("page", "per_page", "total", "total_pages")
        },
    ),
    "TaskList": list_of("Task"),
    "Claim": obj(
        ["task", "fence", "lease_expires_at"],
        {
            "task": ref("Task"),
            "fence": {"type": "integer", "minimum": 1},
            "lease_expires_at": TIME,
        },
    ),
    "Dependency": obj(["child_id", "parent_id"], {"child_id": ID, "parent_id": ID}),
    "AuditEntry": obj(
        ["id", "task_id", "action", "changed_at", "changed_by"],
        {
            "id": {"type": "integer"},
            "task_id": TEXT,
            "action": TEXT,
            "field": TEXT,
            "old_value": TEXT,
            "new_value": TEXT,
            "changed_at": TIME,
            "changed_by": TEXT,
        },
    ),
    "AuditList": list_of("AuditEntry"),
    "Spec": obj(
        ["id", "title", "status", "task_count", "done_count", "created_at", "updated_at"],
        {
            "id": ID,
            "title": TEXT,
            "description": TEXT,
            "status": SPEC_STATUS,
            "task_count": {"type": "integer", "minimum": 0},
            "done_count": {"type": "integer", "minimum": 0},
            "created_at": TIME,
            "updated_at": TIME,
        },
    ),
    "SpecList": list_of("Spec"),
    "Error": obj(
        ["error"],
        {
            "error": obj(
                ["code", "message"],
                {"code": TEXT, "message": TEXT, "context": {"type": "object"}},
            )
        },
    ),
    "NewTask": obj(
        ["title"],
        {
            "title": {"type": "string", "minLength": 1},
            "description": TEXT,
            "priority": PRIORITY,
            "parent_id": TEXT,
            "spec_id": TEXT,
        },
        closed=False,
    ),
    "TaskPatch": obj(
        [],
        {
            "title": {"type": "string", "minLength": 1},
            "description": TEXT,
            "priority": PRIORITY,
            "parent_id": TEXT,
        },
        closed=False,
    ),
    "NewSpec": obj(
        ["title"], {"title": {"type": "string", "minLength": 1}, "description": TEXT}, closed=False
    ),
    "SpecPatch": obj(
        [], {"title": {"type": "string", "minLength": 1}, "description": TEXT}, closed=False
    ),
    "NewDependency": obj(["parent_id"], {"parent_id": ID}, closed=False),
    "Lease": obj(
        [],
        {"lease_seconds": {"type": "number", "minimum": 1, "maximum": 604800}},
        closed=False,
    ),
    "Fence": obj(
        [],
        {
            "fence": {"type": "integer", "description": "the claim's fencing token"},
            "lease_seconds": {"type": "number", "minimum": 1, "maximum": 604800},
        },
        closed=False,
    ),
    "BlockReason": obj([], {"reason": TEXT}, closed=False),
    "ImportRequest": obj(
        ["tasks"],
        {
            "tasks": {
                "type": "array",
                "minItems": 1,
                "items": obj(
                    ["title"],
                    {
                        "key": TEXT,
                        "title": {"type": "string", "minLength": 1},
                        "description": TEXT,
                        "priority": PRIORITY,
                        "parent": {**TEXT, "description": "a key in this import or a task id"},
                        "spec_id": TEXT,
                        "after": {"type": "array", "items": TEXT},
                    },
                    closed=False,
                ),
            }
        },
        closed=False,
    ),
    "ImportResult": obj(
        ["data", "keys"],
        {
            "data": {"type": "array", "items": ref("Task")},
            "keys": {"type": "object", "additionalProperties": TEXT},
        },
    ),
}
