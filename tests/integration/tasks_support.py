"""Helpers for the task server tests: real servers (thread or process), free ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from isollm.tasks.server import tokens

EXTENSIONS = ("/tasks/claim-next", "/heartbeat", "/tasks/import", "/tasks/clear-done")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def host_token(home: Path) -> str:
    """The host token of the server whose ISOLLM_HOME is ``home``."""
    return tokens.host_token(home / "tasks" / "secret")


def host_headers(home: Path) -> dict[str, str]:
    return {"Authorization": f"Bearer {host_token(home)}"}


def agent_token(
    home: Path, project: str, agent: str, role: tokens.Role = tokens.Role.WORKER
) -> str:
    return tokens.mint(tokens.load_secret(home / "tasks" / "secret"), project, agent, role)


def wait_healthy(url: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v1/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"no task server at {url}")


@contextmanager
def server_process(
    home: Path, *, port: int | None = None, lease_seconds: float = 300.0, auth: bool = True
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``python -m isollm.tasks.server.daemon`` in its own process; killed at the end."""
    port = port or free_port()
    env = {**os.environ, "ISOLLM_HOME": str(home)}
    argv = [sys.executable, "-m", "isollm.tasks.server.daemon", "--port", str(port)]
    argv += ["--lease-seconds", str(lease_seconds), "--auth" if auth else "--no-auth"]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url)
        yield proc, url
    finally:
        stop_process(proc)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stderr is not None:
        proc.stderr.close()


class PlainAiryra(httpx.BaseTransport):
    """Forwards to a real server but answers isollm's extensions as airyra's router
    would (405 with no body) and drops isollm's claim headers, so the client must fall
    back to plain airyra calls."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(EXTENSIONS):
            return httpx.Response(405, content=b"")
        response = self._inner.handle_request(request)
        headers = [(k, v) for k, v in response.headers.raw if not k.lower().startswith(b"x-airyra")]
        return httpx.Response(
            response.status_code,
            headers=headers,
            stream=response.stream,
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._inner.close()
