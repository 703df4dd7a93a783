"""Reading request bodies and query strings the way airyra does.

Bodies are strict: a field of the wrong type is a VALIDATION_FAILED naming it.
Query parameters are lenient, as in airyra: a bad ``page`` falls back to 1, a bad
``per_page`` to 50 (and more than 100 means 100), an unknown ``status`` means none.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from isollm.tasks.server.asgi import Request
from isollm.tasks.store import errors
from isollm.tasks.store.model import (
    DEFAULT_PER_PAGE,
    MAX_PAGE,
    MAX_PER_PAGE,
    AuditQuery,
    PageRequest,
    SpecStatus,
    Status,
    parse_time,
)

FENCE_HEADER = "x-airyra-fence"


class Body:
    """Typed access to a JSON object body; collects every problem, then raises once."""

    def __init__(self, source: Request | dict[str, Any]) -> None:
        self._data = source if isinstance(source, dict) else source.json_object()
        self._problems: list[str] = []

    def has(self, name: str) -> bool:
        return self._data.get(name) is not None

    def text(self, name: str) -> str | None:
        value = self._data.get(name)
        if value is None or isinstance(value, str):
            return value
        self._problems.append(f"{name} must be a string")
        return None

    def required_text(self, name: str) -> str:
        value = self.text(name)
        if value is None and name in self._data and self._data[name] is not None:
            return ""  # wrong type: already reported
        if value is None:
            self._problems.append(f"{name} is required")
        return value or ""

    def integer(self, name: str) -> int | None:
        value = self._data.get(name)
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        self._problems.append(f"{name} must be an integer")
        return None

    def number(self, name: str) -> float | None:
        value = self._data.get(name)
        if value is None:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        self._problems.append(f"{name} must be a number")
        return None

    def strings(self, name: str) -> list[str]:
        value = self._data.get(name)
        if value is None:
            return []
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        self._problems.append(f"{name} must be a list of strings")
        return []

    def objects(self, name: str) -> list[dict[str, Any]]:
        value = self._data.get(name)
        if isinstance(value, list) and all(isinstance(v, dict) for v in value):
            return value
        self._problems.append(f"{name} must be a list of objects")
        return []

    def check(self) -> None:
        if self._problems:
            raise errors.ValidationFailedError.of(*self._problems)


def _whole(text: str | None) -> int | None:
    if text and text.isascii() and text.isdigit() and len(text) < 19:
        return int(text)
    return None


def page(request: Request) -> PageRequest:
    number = _whole(request.query.get("page"))
    per_page = _whole(request.query.get("per_page"))
    return PageRequest(
        page=number if number and number <= MAX_PAGE else 1,
        per_page=min(per_page, MAX_PER_PAGE) if per_page else DEFAULT_PER_PAGE,
    )


def status(request: Request) -> Status | None:
    try:
        return Status(request.query.get("status", ""))
    except ValueError:
        return None


def spec_status(request: Request) -> SpecStatus | None:
    try:
        return SpecStatus(request.query.get("status", ""))
    except ValueError:
        return None


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parse_time(text)
    except ValueError:
        return None


def audit_query(request: Request) -> AuditQuery:
    q = request.query
    return AuditQuery(
        action=q.get("action") or None,
        agent=q.get("agent") or None,
        start=_time(q.get("start")),
        end=_time(q.get("end")),
    )


def flag(request: Request, name: str) -> bool:
    return request.query.get(name) == "true"


def fence(request: Request, body: Body | None = None) -> int | None:
    """The fencing token from the body's ``fence`` or the ``X-Airyra-Fence`` header."""
    value = body.integer("fence") if body is not None else None
    if value is not None:
        return value
    header = (request.header(FENCE_HEADER) or "").strip()
    if not header:
        return None
    if (number := _whole(header)) is not None:
        return number
    raise errors.ValidationFailedError.of("the X-Airyra-Fence header must be a whole number")
