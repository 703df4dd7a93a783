"""Reply shapes shared by the protocols: one JSON body, or a stream of SSE events."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    events: list[bytes] = field(default_factory=list)

    @property
    def streaming(self) -> bool:
        return bool(self.events)


def json_reply(value: Any, status: int = 200) -> Reply:
    return Reply(status=status, body=json.dumps(value).encode())


def sse_event(name: str | None, data: Any) -> bytes:
    """One server-sent event; ``data`` is JSON-encoded unless it is already text."""
    payload = data if isinstance(data, str) else json.dumps(data)
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {payload}\n\n".encode()
