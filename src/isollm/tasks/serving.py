"""Running the task server: bind, serve with uvicorn, shut down gracefully.

Used in the foreground by ``isollm serve``, in the background by the daemon that
``isollm server start`` spawns, and in a thread by :class:`EmbeddedServer` (tests and
in-process use). SIGTERM and SIGINT stop accepting, let requests in flight finish,
then close the databases.
"""

from __future__ import annotations

import gc
import importlib.util
import logging
import signal
import socket
import threading
from pathlib import Path

import uvicorn

from isollm.tasks import tokens
from isollm.tasks.client import TaskClient
from isollm.tasks.options import DEFAULT_REAP_INTERVAL, ServeOptions
from isollm.tasks.server import create_app
from isollm.tasks.sqlite_store import SqliteBackend

log = logging.getLogger(__name__)

GRACEFUL_SECONDS = 10


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _uvicorn_config(options: ServeOptions) -> uvicorn.Config:
    secret = tokens.load_secret(options.secret_path) if options.requires_tokens else None
    app = create_app(
        SqliteBackend(options.data_dir, background_checkpoints=True),
        lease_seconds=options.lease_seconds,
        secret=secret,
        reap_interval=options.reap_interval,
    )
    fast = importlib.util.find_spec("uvloop") and importlib.util.find_spec("httptools")
    return uvicorn.Config(
        app,
        loop="uvloop" if fast else "asyncio",
        http="httptools" if fast else "h11",
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
        date_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
        backlog=2048,
    )


class _StoppedError(Exception):
    """SIGTERM arrived (uvicorn re-raises it once it has shut down gracefully)."""


def _stopped(signum: int, frame: object) -> None:
    raise _StoppedError


def serve(options: ServeOptions, sock: socket.socket) -> None:
    """Serve on ``sock`` until SIGTERM or SIGINT, then finish requests and return."""
    if options.requires_tokens and not options.auth:
        log.warning("%s is not a loopback address: bearer tokens are required", options.host)
    previous = signal.signal(signal.SIGTERM, _stopped)
    server = uvicorn.Server(_uvicorn_config(options))
    gc.freeze()  # what start-up built lives as long as the process: keep it out of GC scans
    try:
        server.run(sockets=[sock])
    except (_StoppedError, KeyboardInterrupt):
        log.info("stopped by a signal after a graceful shutdown")
    finally:
        signal.signal(signal.SIGTERM, previous)


class EmbeddedServer:
    """A task server in a thread of this process, on a free port (tests, tools).

    >>> with EmbeddedServer(tmp_path) as server:
    ...     client = server.client("demo")
    """

    def __init__(
        self,
        data: Path,
        *,
        lease_seconds: float = 300.0,
        auth: bool = False,
        reap_interval: float = DEFAULT_REAP_INTERVAL,
    ) -> None:
        self.options = ServeOptions(
            host="127.0.0.1",
            port=0,
            lease_seconds=lease_seconds,
            auth=auth,
            data_dir=data / "projects",
            secret_path=data / "secret",
            reap_interval=reap_interval,
        )
        self._server = uvicorn.Server(_uvicorn_config(self.options))
        self._sock = bind(self.options.host, 0)
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._run, name="task-server", daemon=True)

    def _run(self) -> None:
        self._server.run(sockets=[self._sock])

    def __enter__(self) -> EmbeddedServer:
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the embedded task server failed to start")
            self._thread.join(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(GRACEFUL_SECONDS + 5)
        self._sock.close()

    def token(self, agent: str = tokens.ADMIN) -> str:
        return tokens.mint(tokens.load_secret(self.options.secret_path), agent)

    def client(
        self, project: str, agent: str = "anonymous", token: str | None = None
    ) -> TaskClient:
        return TaskClient(self.url, project, agent=agent, token=token)
