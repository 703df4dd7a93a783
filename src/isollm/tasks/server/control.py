"""The task server as a background service: start, stop, status, and ensure_server.

One server per port per isollm home. ``<home>/tasks/server-<port>.json`` records the
running server (pid, address, log), written atomically by the server itself;
``server-<port>.log`` is its rotating log. Starting takes a lock, so two commands
that both find no server start only one.
"""

from __future__ import annotations

import getpass
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from isollm import fsutil, liveness, proc, records, redaction
from isollm.config.model import Config
from isollm.errors import TaskError
from isollm.tasks.client.http import TaskClient
from isollm.tasks.server import tokens
from isollm.tasks.server.options import (
    ServeOptions,
    connect_host,
    home_id,
    secret_path,
    socket_path,
    tasks_home,
)
from isollm.tasks.store.errors import ServerUnavailableError
from isollm.tasks.store.model import format_time, utcnow

STATE_VERSION = 1
START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0


@dataclass(frozen=True)
class ServerState:
    pid: int
    host: str
    port: int
    started_at: str
    log: str
    version: int = STATE_VERSION
    socket: str = ""  # its Unix socket, if it listens on one
    pid_start: int | None = None  # the pid's start time: a reused pid is not the server

    @property
    def url(self) -> str:
        return f"http://{connect_host(self.host)}:{self.port}"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ServerState:
        return cls(
            pid=int(data["pid"]),
            host=str(data["host"]),
            port=int(data["port"]),
            started_at=str(data["started_at"]),
            log=str(data["log"]),
            version=int(data.get("version", STATE_VERSION)),
            socket=str(data.get("socket") or ""),
            pid_start=int(data["pid_start"]) if data.get("pid_start") is not None else None,
        )


@dataclass(frozen=True)
class ServerStatus:
    url: str
    running: bool
    healthy: bool
    state: ServerState | None
    answer: dict[str, Any] | None = None  # what its health check said

    @property
    def foreign(self) -> bool:
        """Something answers there that is not this isollm home's task server."""
        return self.answer is not None and not is_own(self.answer)


def is_own(answer: dict[str, Any]) -> bool:
    """Whether a health answer comes from this isollm home's task server."""
    return answer.get("server") == "isollm" and answer.get("home") == home_id()


def foreign_server_error(url: str, answer: dict[str, Any]) -> TaskError:
    """The error for a server on our port that is not ours: never used silently."""
    if answer.get("server") == "isollm":
        what = f"the task server at {url} (pid {answer.get('pid')}) belongs to another isollm home"
    else:
        what = f"the server at {url} is not isollm's task server"
    return TaskError(
        f"{what}: this isollm home's tasks are not there, so it is not used",
        hint="stop it from the isollm home that started it (`isollm server stop` with its "
        "ISOLLM_HOME), or give this project another airyra.port in isollm.yaml; to use an "
        "airyra server you run yourself, set airyra.external: true",
    )


def state_path(port: int) -> Path:
    return tasks_home() / f"server-{port}.json"


def log_path(port: int) -> Path:
    return tasks_home() / f"server-{port}.log"


def _stderr_path(port: int) -> Path:
    return tasks_home() / f"server-{port}.stderr"


STATE_SCHEMA = records.Schema("task server state", STATE_VERSION, unversioned=STATE_VERSION)


def read_state(port: int) -> ServerState | None:
    """The recorded server on ``port``; None when there is none or the record is unusable
    (left half-written by a crash, or by a newer isollm: that server is then not ours)."""
    try:
        data = records.read(state_path(port), STATE_SCHEMA)
        return ServerState.from_json(data)
    except (OSError, records.RecordError, ValueError, KeyError, TypeError):
        return None


def write_state(state: ServerState) -> None:
    records.write(state_path(state.port), asdict(state), STATE_SCHEMA)


def clear_state(port: int, pid: int) -> None:
    """Remove the state file if it still describes process ``pid``."""
    state = read_state(port)
    if state is not None and state.pid == pid:
        state_path(port).unlink(missing_ok=True)


def pid_alive(pid: int, start: int | None = None) -> bool:
    """Whether ``pid`` runs and, if its start time is known, is still the same process
    (:func:`isollm.liveness.is_alive`; a zombie does not count)."""
    return liveness.is_alive(pid, start)


def _healthy(url: str) -> dict[str, Any] | None:
    try:
        # plain http:// needs no TLS context: loading the CA bundle costs ~35 ms a command
        response = httpx.get(f"{url}/v1/health", timeout=2.0, verify=not url.startswith("http://"))
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def options_from_config(config: Config) -> ServeOptions:
    a = config.airyra
    return ServeOptions(host=a.host, port=a.port, lease_seconds=float(a.lease_seconds), auth=a.auth)


def status(options: ServeOptions) -> ServerStatus:
    url = f"http://{connect_host(options.host)}:{options.port}"
    state = read_state(options.port)
    running = state is not None and pid_alive(state.pid, state.pid_start)
    answer = _healthy(url)
    return ServerStatus(url, running, answer is not None, state if running else None, answer)


def start(options: ServeOptions) -> tuple[ServerState, bool]:
    """Start a background server; (its state, False) if one already runs there."""
    fsutil.ensure_dir(tasks_home())
    with fsutil.file_lock(tasks_home() / f"server-{options.port}.lock"):
        current = status(options)
        if current.foreign and current.answer is not None:
            raise foreign_server_error(current.url, current.answer)
        if current.running and current.state is not None:
            return current.state, False
        if current.healthy:
            raise TaskError(
                f"something else already answers on {current.url}",
                hint="stop it, or choose another airyra.port",
            )
        _refuse_a_second_server(options.port)
        return _spawn(options), True


def _refuse_a_second_server(port: int) -> None:
    """One server serves every project of an isollm home (they share its databases): a
    project configured with another port is told which port that server has."""
    for path in sorted(tasks_home().glob("server-*.json")):
        number = path.stem.removeprefix("server-")
        other = read_state(int(number)) if number.isdigit() else None
        if other is not None and other.port != port and pid_alive(other.pid, other.pid_start):
            raise TaskError(
                f"this isollm home's task server already runs on port {other.port} (pid "
                f"{other.pid}), and one server serves every project of an isollm home; this "
                f"project's airyra.port is {port}",
                hint=f"set airyra.port: {other.port} in isollm.yaml (`isollm config edit`), "
                f"or stop that server first (`isollm server stop --port {other.port}`)",
            )


def _daemon_argv(options: ServeOptions) -> list[str]:
    argv = [sys.executable, "-m", "isollm.tasks.server.daemon", "--host", options.host]
    argv += ["--port", str(options.port), "--lease-seconds", str(options.lease_seconds)]
    if options.unix_socket is not None:
        argv += ["--socket", options.unix_socket]
    return [*argv, "--auth" if options.auth else "--no-auth"]


def _spawn(options: ServeOptions) -> ServerState:
    stderr = _stderr_path(options.port)
    with stderr.open("wb") as err:
        child = proc.spawn(
            _daemon_argv(options),
            cwd=tasks_home(),
            env=proc.clean_env(),
            stdout=subprocess.DEVNULL,
            stderr=err,
            new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise TaskError(
                f"the task server exited at start (status {child.returncode}):\n"
                + stderr.read_text(errors="replace").strip()[-2000:],
                hint=f"is port {options.port} free? change airyra.port in isollm.yaml if not",
            )
        state = read_state(options.port)
        if state is not None and state.pid == child.pid and _healthy(state.url):
            return state
        time.sleep(0.05)
    child.kill()
    raise TaskError(f"the task server did not answer within {START_TIMEOUT:.0f}s; see {stderr}")


def stop(port: int, host: str = "127.0.0.1") -> ServerState | None:
    """Stop the background server on ``port`` (SIGTERM, then SIGKILL); its last state,
    or None when none runs. A server of another home there is an error, not "none"."""
    state = read_state(port)
    if state is None or not pid_alive(state.pid, state.pid_start):
        state_path(port).unlink(missing_ok=True)
        url = f"http://{connect_host(host)}:{port}"
        answer = _healthy(url)
        if answer is not None and not is_own(answer):
            raise foreign_server_error(url, answer)
        return None
    os.kill(state.pid, signal.SIGTERM)
    if not _wait_gone(state.pid, STOP_TIMEOUT):
        os.kill(state.pid, signal.SIGKILL)
        _wait_gone(state.pid, 5.0)
    clear_state(port, state.pid)
    return state


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


def new_state(options: ServeOptions, sock: socket.socket, unix: Path | None = None) -> ServerState:
    port = int(sock.getsockname()[1])
    return ServerState(
        os.getpid(),
        options.host,
        port,
        format_time(utcnow()),
        str(log_path(port)),
        socket=str(unix or ""),
        pid_start=liveness.start_time(os.getpid()),
    )


# --- identities and tokens ----------------------------------------------------------


def host_agent() -> str:
    """Who the human at this machine is to the task server: ``user@host``."""
    return f"{getpass.getuser()}@{socket.gethostname()}"


def agent_token(project: str, agent: str, role: tokens.Role = tokens.Role.WORKER) -> str:
    """The bearer token of ``agent`` in ``project`` on this machine's task server (a
    worker's, or a reader's for an agent that only reads). Registered for redaction."""
    token = tokens.mint(tokens.load_secret(secret_path()), project, agent, role)
    redaction.register(token)
    return token


def host_token() -> str:
    """The host's token (from its 0600 file): for host commands only, never an agent."""
    token = tokens.host_token(secret_path())
    redaction.register(token)
    return token


def task_socket(config: Config) -> Path | None:
    """The host path of the Unix socket of the project's task server, or None (an
    external airyra has none)."""
    if config.airyra.external:
        return None
    return socket_path(config.airyra.port)


def ensure_server(
    config: Config,
    root: Path | None = None,
    *,
    agent: str | None = None,
    notify: Callable[[str], None] | None = None,
) -> TaskClient:
    """A client for the project's task server, starting isollm's own if none runs.

    With ``airyra.external`` the server is never started: an unreachable one is an
    error. ``notify`` hears about a server being started (the CLI prints it).
    """
    options = options_from_config(config)
    url = f"http://{connect_host(options.host)}:{options.port}"
    external = config.airyra.external
    token = os.environ.get("AIRYRA_TOKEN") if external else host_token()
    client = TaskClient(url, config.project, agent=agent or host_agent(), token=token)
    answer = _healthy(url)
    if answer is not None and not external and not is_own(answer):
        client.close()
        raise foreign_server_error(url, answer)
    if answer is not None or (external and client.health()):
        return client
    if external:
        client.close()
        raise ServerUnavailableError(
            f"the airyra server at {url} is not reachable",
            hint="start it, or set airyra.external: false to let isollm run its own",
        )
    state, _ = start(options)
    if notify is not None:
        where = f" for {root}" if root else ""
        notify(f"started the task server{where} at {state.url} (pid {state.pid}, log {state.log})")
    return client
