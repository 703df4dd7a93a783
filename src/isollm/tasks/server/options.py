"""Where the task server keeps its files, and how it is asked to run (cheap to import)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from isollm import fsutil
from isollm.config.rules import is_loopback_host

DEFAULT_REAP_INTERVAL = 1.0


def tasks_home() -> Path:
    """``$ISOLLM_HOME/tasks``: databases, server state, logs and the token secret."""
    return fsutil.isollm_home() / "tasks"


def data_dir() -> Path:
    return tasks_home() / "projects"


def home_id(data: Path | None = None) -> str:
    """Which isollm home a task server's databases belong to, as its health check says
    it (``home``): a digest of the data folder's path, so a command of another home (or
    a copy of isollm with another ISOLLM_HOME) recognises a server that is not its own
    without the server telling strangers where its files are."""
    folder = (data or data_dir()).resolve()
    return hashlib.sha256(str(folder).encode("utf-8", "surrogateescape")).hexdigest()[:16]


def secret_path() -> Path:
    return tasks_home() / "secret"


def socket_path(port: int) -> Path:
    """The Unix socket of the server on ``port``: ``$ISOLLM_HOME/run/airyra-<port>.sock``."""
    return fsutil.isollm_home() / "run" / f"airyra-{port}.sock"


def connect_host(bind_host: str) -> str:
    """Where a client on this machine reaches a server bound to ``bind_host``."""
    if bind_host in ("0.0.0.0", "", "::"):  # noqa: S104 - reading a bind address, not binding
        return "127.0.0.1"
    return f"[{bind_host}]" if ":" in bind_host else bind_host


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 7432
    lease_seconds: float = 300.0
    auth: bool = True
    data_dir: Path = field(default_factory=data_dir)
    secret_path: Path = field(default_factory=secret_path)
    reap_interval: float = DEFAULT_REAP_INTERVAL
    # Also listen on this Unix socket (bound into sandboxes at TASK_SOCKET); None: the
    # default for the port (socket_path), "" : no socket.
    unix_socket: str | None = None

    def socket_for(self, port: int) -> Path | None:
        if self.unix_socket == "":
            return None
        return Path(self.unix_socket) if self.unix_socket else socket_path(port)

    @property
    def requires_tokens(self) -> bool:
        """Tokens are required when asked for, and always beyond loopback."""
        return self.auth or not is_loopback_host(self.host)
