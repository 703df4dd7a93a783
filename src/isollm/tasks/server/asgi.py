"""A small ASGI core for the task server: routing, bounded JSON bodies, error envelopes.

Written directly on ASGI (served by uvicorn) rather than through a framework because
claims are the hot path: this layer costs a few microseconds per request. Handlers
are plain functions ``(Request) -> Response`` run on the event loop (or coroutines,
for the few that wait); the SQLite work they do takes well under a millisecond, so
nothing is gained by a thread hop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson

from isollm.tasks.store import errors
from isollm.tasks.store.model import Page

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
BODY_SECONDS = 10.0  # a request body must arrive within this (a stalled one gets 408)
JSON = b"application/json"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""
    agent: str = "anonymous"
    route: str = ""  # the pattern of the matched route
    grant: Any = None  # what the bearer token allows (None: no tokens on this server)
    receive: Any = None  # a streamed route's ASGI receive: its handler reads the body

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object; an empty body is ``{}``."""
        if not self.body.strip():
            return {}
        try:
            value = orjson.loads(self.body)
        except orjson.JSONDecodeError:
            raise errors.ValidationFailedError.of("Invalid JSON body") from None
        if not isinstance(value, dict):
            raise errors.ValidationFailedError.of("Invalid JSON body: expected an object")
        return value


@dataclass
class Response:
    status: int
    body: Any = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        return orjson.dumps(self.body)


Handler = Callable[[Request], "Response | Awaitable[Response]"]


def paged(page: Page[Any]) -> Response:
    """airyra's list answer: ``{"data": [...], "pagination": {...}}``."""
    return Response(
        200, {"data": [i.to_json() for i in page.items], "pagination": page.pagination()}
    )


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    handler: Handler
    segments: tuple[str, ...]
    stream: bool = False  # the handler reads the body itself (request.receive)

    def match(self, parts: list[str]) -> dict[str, str] | None:
        params = {}
        for want, got in zip(self.segments, parts, strict=True):
            if want.startswith("{"):
                if not got:
                    return None
                params[want[1:-1]] = got
            elif want != got:
                return None
        return params


class Router:
    """Routes by path segments; literal routes win over ``{param}`` ones added later."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self._by_length: dict[int, list[Route]] = {}

    def add(self, method: str, pattern: str, handler: Handler, *, stream: bool = False) -> None:
        route = Route(method, pattern, handler, tuple(pattern.strip("/").split("/")), stream)
        self.routes.append(route)
        self._by_length.setdefault(len(route.segments), []).append(route)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        parts = path.strip("/").split("/")
        allowed = []
        for route in self._by_length.get(len(parts), []):
            params = route.match(parts)
            if params is None:
                continue
            if route.method == method:
                return route, params
            allowed.append(route.method)
        if allowed:
            raise errors.MethodNotAllowedError(
                f"{method} is not allowed here; use {', '.join(sorted(set(allowed)))}",
                context={"allowed": sorted(set(allowed))},
            )
        raise errors.RouteNotFoundError(f"no endpoint {path}", context={"path": path})


Authenticate = Callable[[Request], None]


class App:
    """The ASGI application: match, read the body, authenticate, handle, answer."""

    def __init__(
        self,
        router: Router,
        *,
        authenticate: Authenticate | None = None,
        on_startup: Callable[[], Awaitable[None]] | None = None,
        on_shutdown: Callable[[], Awaitable[None]] | None = None,
        max_body: int = MAX_BODY,
        body_seconds: float | None = None,
    ) -> None:
        self.router = router
        self._authenticate = authenticate
        self._on_startup = on_startup
        self._on_shutdown = on_shutdown
        self._max_body = max_body
        self._body_seconds = BODY_SECONDS if body_seconds is None else body_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            kind = message["type"]
            hook = self._on_startup if kind == "lifespan.startup" else self._on_shutdown
            try:
                if hook is not None:
                    await hook()
            except Exception as exc:
                log.exception("task server %s failed", kind)
                await send({"type": f"{kind}.failed", "message": str(exc)})
                return
            await send({"type": f"{kind}.complete"})
            if kind == "lifespan.shutdown":
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            response = await self._respond(scope, receive)
        except errors.ApiError as exc:
            response = Response(exc.http_status, exc.envelope())
        except Exception:
            log.exception("task server error on %s %s", scope["method"], scope["path"])
            response = Response(500, errors.InternalError().envelope())
        await _send(send, response)

    async def _respond(self, scope: Scope, receive: Receive) -> Response:
        route, params = self.router.match(scope["method"], scope["path"])
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        request = Request(
            method=scope["method"],
            path=scope["path"],
            params=params,
            query=_query(scope.get("query_string", b"")),
            headers=headers,
            agent=headers.get("x-airyra-agent") or "anonymous",
            route=route.pattern,
        )
        if self._authenticate is not None:  # before reading a body it may not send
            self._authenticate(request)
        if route.stream:
            request.receive = receive
            response = route.handler(request)
            return response if isinstance(response, Response) else await response
        try:
            request.body = await asyncio.wait_for(self._body(headers, receive), self._body_seconds)
        except TimeoutError:
            raise errors.RequestTimeoutError(
                f"the request body did not arrive within {self._body_seconds:g}s"
            ) from None
        response = route.handler(request)
        return response if isinstance(response, Response) else await response

    async def _body(self, headers: dict[str, str], receive: Receive) -> bytes:
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_body:
            raise _too_large(self._max_body)
        chunks, size = [], 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                raise _too_large(self._max_body)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _too_large(limit: int) -> errors.PayloadTooLargeError:
    return errors.PayloadTooLargeError.of(f"request body exceeds {limit} bytes")


def _query(raw: bytes) -> dict[str, str]:
    """The first value of each query parameter."""
    if not raw:
        return {}
    query: dict[str, str] = {}
    for key, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        query.setdefault(key, value)
    return query


async def _send(send: Send, response: Response) -> None:
    body = response.encode()
    headers = list(response.headers)
    if response.status != 204:
        headers += [(b"content-type", JSON), (b"content-length", str(len(body)).encode())]
    if response.status == 408:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
