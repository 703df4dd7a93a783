"""Running the task server: bind, serve with uvicorn, shut down gracefully.

Used in the foreground by ``isollm serve``, in the background by the daemon that
``isollm server start`` spawns, and in a thread by :class:`EmbeddedServer` (tests and
in-process use). SIGTERM and SIGINT stop accepting, let requests in flight finish,
then close the databases.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib.util
import logging
import os
import signal
import socket
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import uvicorn

from isollm import fsutil
from isollm.errors import TaskError
from isollm.tasks.client.http import TaskClient
from isollm.tasks.server import tokens
from isollm.tasks.server.app import create_app
from isollm.tasks.server.options import DEFAULT_REAP_INTERVAL, ServeOptions, home_id
from isollm.tasks.store.sqlite.store import SqliteBackend

log = logging.getLogger(__name__)

GRACEFUL_SECONDS = 10
HEADER_SECONDS = 10.0  # a request's line and headers must arrive within this
IDLE_SECONDS = 30  # a kept-alive connection with no request for this long is closed


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return _listening(sock, lambda: sock.bind((host, port)))


def _listening(sock: socket.socket, bind: Callable[[], None]) -> socket.socket:
    """``sock`` bound (by ``bind``) and listening, to be inherited by the server process;
    closed when either fails."""
    try:
        bind()
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


_SUN_PATH_MAX = 107  # sockaddr_un.sun_path holds 108 bytes, the last one a NUL


@contextlib.contextmanager
def short_path(path: Path) -> Iterator[str]:
    """An address for the socket ``path`` that fits ``sun_path``: the path itself, or,
    when it is too long (a deep ISOLLM_HOME), the same file reached through an open
    descriptor of its directory (``/proc/self/fd/N/NAME``)."""
    if len(os.fsencode(path)) <= _SUN_PATH_MAX:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


def bind_unix(path: Path) -> socket.socket:
    """A listening Unix socket at ``path`` (a stale one left by a dead server replaced).

    Mode 0666: sandboxes run as other users and must be able to connect; what a
    connection may do is decided by its bearer token, as over TCP.
    """
    fsutil.ensure_dir(path.parent)
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise TaskError(f"{path} exists and is not a socket", hint="move it away")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with short_path(path) as address:
                probe.connect(address)
        except OSError:
            path.unlink()  # nobody listens: left by a server that died
        else:
            raise TaskError(f"another task server listens on {path}", hint="stop it first")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)

    def bind() -> None:
        with short_path(path) as address:
            sock.bind(address)
        os.chmod(path, 0o666)  # noqa: S103 - see the docstring: tokens decide

    return _listening(sock, bind)


@contextlib.contextmanager
def data_lock(data_dir: Path) -> Iterator[None]:
    """Held while a server serves ``data_dir``: a second server on the same databases
    is refused at start with a clear error (two would fight over SQLite's write lock
    with requests in flight)."""
    fsutil.ensure_dir(data_dir)
    lock = data_dir / ".server.lock"
    with fsutil.file_lock(lock, blocking=False) as held:
        if not held:
            raise TaskError(
                f"another task server already serves the task databases in {data_dir}",
                hint="use that server (`isollm server status`), or stop it first",
            )
        yield


def _guarded_protocol() -> Any:
    """uvicorn's httptools protocol with a deadline on each request's line and
    headers: a connection that sends half a request, or nothing, is dropped after
    HEADER_SECONDS (uvicorn only times out idle keep-alive connections)."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol  # noqa: PLC0415

    class GuardedProtocol(HttpToolsProtocol):
        _deadline: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(HEADER_SECONDS, self._expire)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expire(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

    return GuardedProtocol


def _uvicorn_config(options: ServeOptions) -> uvicorn.Config:
    secret = tokens.load_secret(options.secret_path) if options.requires_tokens else None
    app = create_app(
        SqliteBackend(options.data_dir, background_checkpoints=True),
        lease_seconds=options.lease_seconds,
        secret=secret,
        reap_interval=options.reap_interval,
        home=home_id(options.data_dir),
    )
    fast = importlib.util.find_spec("uvloop") and importlib.util.find_spec("httptools")
    return uvicorn.Config(
        app,
        loop="uvloop" if fast else "asyncio",
        http=_guarded_protocol() if fast else "h11",
        timeout_keep_alive=IDLE_SECONDS,
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


def serve(options: ServeOptions, sock: socket.socket, unix: socket.socket | None = None) -> None:
    """Serve on ``sock`` (and ``unix``) until SIGTERM or SIGINT, then finish requests
    and return. The caller holds :func:`data_lock`."""
    if options.requires_tokens and not options.auth:
        log.warning("%s is not a loopback address: bearer tokens are required", options.host)
    if not options.requires_tokens:
        log.warning("bearer tokens are off (auth: false): any local process may act as anyone")
    previous = signal.signal(signal.SIGTERM, _stopped)
    server = uvicorn.Server(_uvicorn_config(options))
    gc.freeze()  # what start-up built lives as long as the process: keep it out of GC scans
    try:
        server.run(sockets=[sock] if unix is None else [sock, unix])
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
        unix_socket: Path | None = None,
    ) -> None:
        self.options = ServeOptions(
            host="127.0.0.1",
            port=0,
            lease_seconds=lease_seconds,
            auth=auth,
            data_dir=data / "projects",
            secret_path=data / "secret",
            reap_interval=reap_interval,
            unix_socket=str(unix_socket) if unix_socket else "",
        )
        self._server = uvicorn.Server(_uvicorn_config(self.options))
        self._lock = contextlib.ExitStack()
        self._lock.enter_context(data_lock(self.options.data_dir))
        self._sock = bind(self.options.host, 0)
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.unix_socket = unix_socket
        self._unix = bind_unix(unix_socket) if unix_socket else None
        self._thread = threading.Thread(target=self._run, name="task-server", daemon=True)

    def _run(self) -> None:
        self._server.run(sockets=[self._sock] if self._unix is None else [self._sock, self._unix])

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
        if self._unix is not None:
            self._unix.close()
            if self.unix_socket is not None:
                self.unix_socket.unlink(missing_ok=True)
        self._lock.close()

    def token(
        self, agent: str = tokens.ANY, project: str = tokens.ANY, role: tokens.Role | None = None
    ) -> str:
        """A token of this server: the host's by default, else ``agent``'s in ``project``."""
        secret = tokens.load_secret(self.options.secret_path)
        if agent == tokens.ANY and project == tokens.ANY:
            return tokens.host_token(self.options.secret_path)
        return tokens.mint(secret, project, agent, role or tokens.Role.WORKER)

    def client(
        self, project: str, agent: str = "anonymous", token: str | None = None
    ) -> TaskClient:
        return TaskClient(self.url, project, agent=agent, token=token)
