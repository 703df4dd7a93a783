"""Talking to the task server: configuration from the environment, HTTP over TCP or
the Unix socket, error envelopes turned into exit codes, remembered fences.
"""

from __future__ import annotations

import contextlib
import getpass
import http.client
import json
import socket
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urlencode

EXIT_OK, EXIT_ERROR, EXIT_NO_SERVER, EXIT_NO_PROJECT = 0, 1, 2, 3
EXIT_NOT_FOUND, EXIT_DENIED, EXIT_CONFLICT = 4, 5, 6
EXIT_BY_CODE = {
    "TASK_NOT_FOUND": EXIT_NOT_FOUND,
    "DEPENDENCY_NOT_FOUND": EXIT_NOT_FOUND,
    "SPEC_NOT_FOUND": EXIT_NOT_FOUND,
    "SPEC_DEPENDENCY_NOT_FOUND": EXIT_NOT_FOUND,
    "PROJECT_NOT_FOUND": EXIT_NO_PROJECT,
    "NOT_OWNER": EXIT_DENIED,
    "UNAUTHORIZED": EXIT_DENIED,
    "FORBIDDEN": EXIT_DENIED,
    "ALREADY_CLAIMED": EXIT_CONFLICT,
    "NOT_READY": EXIT_CONFLICT,
    "STALE_CLAIM": EXIT_CONFLICT,
    "SPEC_ALREADY_CANCELLED": EXIT_CONFLICT,
    "NO_SESSION": EXIT_CONFLICT,
    "DELIVERY_FAILED": EXIT_CONFLICT,
}
PRIORITIES = ("critical", "high", "normal", "low", "lowest")


class CliError(Exception):
    def __init__(self, message: str, exit_code: int = EXIT_ERROR, code: str = "") -> None:
        super().__init__(message)
        self.exit_code, self.code = exit_code, code


# --- configuration and HTTP -------------------------------------------------------------


class _UnixConnection(http.client.HTTPConnection):
    """HTTP over a Unix socket (the host part of the URL is only a name)."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("airyra", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class Api:
    def __init__(self, env: dict[str, str]) -> None:
        self.host = env.get("AIRYRA_HOST") or "localhost"
        port = env.get("AIRYRA_PORT") or "7432"
        self.port = int(port) if port.isascii() and port.isdigit() and len(port) < 6 else 0
        self.project = env.get("AIRYRA_PROJECT", "")
        self.agent = env.get("AIRYRA_AGENT") or f"{getpass.getuser()}@{socket.gethostname()}"
        self.token = env.get("AIRYRA_TOKEN", "")
        self.socket = env.get("AIRYRA_SOCKET", "")
        # inside an isollm sandbox: `done` delivers the work first (airyra push)
        self.delivers = env.get("ISOLLM_DELIVER") == "1"
        state = env.get("AIRYRA_STATE_DIR") or str(Path.home() / ".airyra")
        self.fences = Path(state) / "fences" / quote(self.project, "") / quote(self.agent, "")

    def path(self, *parts: str, **query: Any) -> str:
        if not self.project:
            raise CliError("AIRYRA_PROJECT is not set: which project?", EXIT_NO_PROJECT)
        path = f"/v1/projects/{quote(self.project, '')}/" + "/".join(quote(p, "") for p in parts)
        params = {k: v for k, v in query.items() if v not in (None, "")}
        return path + (f"?{urlencode(params)}" if params else "")

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        timeout: float = 30.0,
        upload: tuple[str, IO[bytes], int] | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        """One request; ``upload``: (content type, file, size) sent as the body instead."""
        sent = {"X-Airyra-Agent": self.agent, "Accept": "application/json", **(headers or {})}
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        data: bytes | IO[bytes] | None = None if body is None else json.dumps(body).encode()
        if data is not None:
            sent["Content-Type"] = "application/json"
        if upload is not None:
            sent["Content-Type"], data, size = upload
            sent["Content-Length"] = str(size)
        where = f"{self.host}:{self.port}"
        conn: http.client.HTTPConnection
        if self.socket and Path(self.socket).exists():
            conn, where = _UnixConnection(self.socket, timeout), self.socket
        elif not self.port:
            raise CliError("AIRYRA_PORT is not a port number", EXIT_NO_SERVER)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            try:
                conn.request(method, path, body=data, headers=sent)
            except (BrokenPipeError, ConnectionResetError):
                if upload is None:
                    raise
                # the server answered before taking the whole body (too large, refused)
            response = conn.getresponse()
            raw = response.read()
        except OSError as exc:
            raise CliError(
                f"the task server at {where} cut the upload off ({exc})"
                if upload is not None
                else f"server is not running or unreachable at {where} ({exc})",
                EXIT_NO_SERVER,
            ) from None
        finally:
            conn.close()
        payload = json.loads(raw) if raw.strip().startswith((b"{", b"[")) else None
        if response.status >= 400:
            raise _api_error(response.status, payload, raw)
        return response.status, payload, {k.lower(): v for k, v in response.getheaders()}

    def json(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Any:
        return self.call(method, path, body, headers)[1]

    # fencing tokens of this agent's claims
    def remember(self, task_id: str, fence: Any) -> None:
        try:
            self.fences.mkdir(parents=True, exist_ok=True)
            (self.fences / quote(task_id, "")).write_text(str(int(fence)))
        except (OSError, ValueError, TypeError):
            pass  # without the file, done/release fall back to airyra's owner check

    def fence(self, task_id: str, given: int | None) -> dict[str, str]:
        if given is not None:
            return {"X-Airyra-Fence": str(given)}
        try:
            return {"X-Airyra-Fence": str(int((self.fences / quote(task_id, "")).read_text()))}
        except (OSError, ValueError):
            return {}

    def forget(self, task_id: str) -> None:
        with contextlib.suppress(OSError):
            (self.fences / quote(task_id, "")).unlink()


def _api_error(status: int, payload: Any, raw: bytes) -> CliError:
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return CliError(f"HTTP {status}: {raw.decode(errors='replace').strip()[:200]}")
    code, message = str(error.get("code", "")), str(error.get("message", ""))
    details = (
        (error.get("context") or {}).get("details")
        if isinstance(error.get("context"), dict)
        else None
    )
    if details and message == "Validation failed":
        message += ": " + "; ".join(map(str, details))
    context = error.get("context")
    hint = context.get("hint") if isinstance(context, dict) else None
    if isinstance(hint, str) and hint:
        message = f"{message or code}\n  hint: {hint}"
    return CliError(message or code, EXIT_BY_CODE.get(code, EXIT_ERROR), code)
