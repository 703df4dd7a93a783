"""The connection a task client talks over: one project on one server, by TCP or a
Unix socket, with a bearer token; the server's error envelopes raised as the store's
errors (:mod:`isollm.tasks.store.errors`), and isollm's extensions told apart from a
plain airyra that lacks them."""

from __future__ import annotations

from typing import Any, Self
from urllib.parse import quote

import httpx

from isollm.tasks.store import errors

DEFAULT_TIMEOUT = 30.0


class Connection:
    """HTTP to one project of one server. ``agent`` is who acts unless a call names another."""

    def __init__(
        self,
        base_url: str,
        project: str,
        *,
        agent: str = "anonymous",
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        unix_socket: str | None = None,
    ) -> None:
        """``unix_socket``: reach the server through this socket (``base_url`` then only
        names it in messages)."""
        # plain http:// needs no TLS context: loading the CA bundle costs ~35 ms a client
        verify = not base_url.startswith("http://")
        if transport is None and unix_socket:
            transport = httpx.HTTPTransport(uds=unix_socket, verify=verify)
        self.base_url = base_url.rstrip("/")
        self.project = project
        self.agent = agent
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=timeout,
            transport=transport,
            verify=verify,
        )
        self._prefix = f"/v1/projects/{quote(project, safe='')}"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing -----------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        agent: str | None = None,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        all_headers = {"X-Airyra-Agent": agent or self.agent, **(headers or {})}
        try:
            return self._http.request(method, path, json=json, params=params, headers=all_headers)
        except httpx.TransportError as exc:
            raise errors.ServerUnavailableError(
                f"cannot reach the task server at {self.base_url}: {exc}",
                hint="start it with `isollm server start` (or check airyra.host/port)",
            ) from exc

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        response = self._request(method, path, **kw)
        if response.status_code >= 400:
            raise error_of(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def _task_path(self, task_id: str, action: str = "") -> str:
        path = f"{self._prefix}/tasks/{quote(task_id, safe='')}"
        return f"{path}/{action}" if action else path

    def _extension(self, method: str, path: str, **kw: Any) -> tuple[bool, Any]:
        """(True, body) from an isollm extension, or (False, None) on a plain airyra."""
        response = self._request(method, path, **kw)
        if is_missing_route(response):
            return False, None
        if response.status_code >= 400:
            raise error_of(response)
        return True, response.json() if response.content else None

    # --- server -------------------------------------------------------------------

    def health(self) -> bool:
        """Whether the server answers its health check."""
        try:
            return self._http.get("/v1/health", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def projects(self) -> list[str]:
        return [str(p) for p in self._call("GET", "/v1/projects")]


def is_missing_route(response: httpx.Response) -> bool:
    """A 404/405 that is not airyra's JSON error: the endpoint does not exist there."""
    if response.status_code not in (404, 405):
        return False
    try:
        body = response.json()
    except ValueError:
        return True
    error = body.get("error") if isinstance(body, dict) else None
    return not isinstance(error, dict) or error.get("code") in ("NOT_FOUND", "METHOD_NOT_ALLOWED")


def error_of(response: httpx.Response) -> errors.ApiError:
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()[:200]
        return errors.InternalError(f"the task server answered HTTP {response.status_code}: {text}")
    return errors.from_envelope(response.status_code, body)
