"""Bearer tokens for the task server: an HMAC, under a server secret, of what they allow.

A token is ``ist2.<project>.<agent>.<role>.<signature>`` (project and agent in
unpadded URL-safe base64). Three roles:

- ``worker``: one agent of one project. It may read that project's queue, claim for
  itself, and act (done, heartbeat, release, block) only on claims it holds.
- ``reader``: one agent of one project, reading only (an agent run headless, whose
  claim the runner holds and finishes).
- ``host``: the host's own commands (project and agent ``*``): anything, as any agent.

Nothing is stored per agent: rotating the secret file revokes every token. The host
token is kept in a 0600 file beside the secret (see :func:`host_token`). Tokens are
secrets: nothing in isollm writes them to a log. ``ist1`` tokens (from isollm before
project scoping) are refused.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum
from hashlib import sha256
from pathlib import Path

from isollm import fsutil

ANY = "*"
ADMIN = ANY  # the agent name of the host token (kept for callers of version 1)
PREFIX = "ist2"
OLD_PREFIXES = frozenset({"ist1"})
_SIG_LEN = 43  # all 256 bits of the HMAC


class Role(StrEnum):
    HOST = "host"
    WORKER = "worker"
    READER = "reader"


@dataclass(frozen=True)
class Grant:
    """What a valid token allows."""

    project: str
    agent: str
    role: Role

    @property
    def is_host(self) -> bool:
        return self.role is Role.HOST

    def covers(self, project: str) -> bool:
        return self.is_host or self.project == project


HOST_GRANT = Grant(ANY, ANY, Role.HOST)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: bytes, grant: Grant) -> str:
    message = b"\0".join(
        [b"isollm-task-token-2", *(v.encode("utf-8") for v in grant.__dict__.values())]
    )
    return _b64(hmac.new(secret, message, sha256).digest())[:_SIG_LEN]


def mint(secret: bytes, project: str, agent: str, role: Role = Role.WORKER) -> str:
    """The token for ``agent`` of ``project`` in ``role`` (host: project and agent ``*``)."""
    if role is Role.HOST:
        project = agent = ANY
    if not project or not agent or (ANY in (project, agent) and role is not Role.HOST):
        raise ValueError("a worker or reader token names one project and one agent")
    grant = Grant(project, agent, role)
    body = f"{_b64(project.encode())}.{_b64(agent.encode())}.{role.value}"
    return f"{PREFIX}.{body}.{_signature(secret, grant)}"


def is_outdated(token: str) -> bool:
    return token.strip().split(".", 1)[0] in OLD_PREFIXES


def verify(secret: bytes, token: str) -> Grant | None:
    """What ``token`` allows, or None if it is not a valid token."""
    parts = token.strip().split(".")
    if len(parts) != 5 or parts[0] != PREFIX:
        return None
    try:
        project, agent = (_unb64(p).decode("utf-8") for p in parts[1:3])
        role = Role(parts[3])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    grant = Grant(project, agent, role)
    if not project or not agent or (role is Role.HOST) != (project == agent == ANY):
        return None
    if not hmac.compare_digest(parts[4].encode(), _signature(secret, grant).encode()):
        return None
    return grant


def load_secret(path: Path) -> bytes:
    """The server secret at ``path``, created (0600, atomically) on first use."""
    try:
        return bytes.fromhex(path.read_text("ascii").strip())
    except FileNotFoundError:
        pass
    with contextlib.suppress(FileExistsError):  # another process may create it first
        fsutil.create_exclusive(path, secrets.token_hex(32).encode("ascii"))
    return bytes.fromhex(path.read_text("ascii").strip())


def host_token(secret_path: Path) -> str:
    """The host's token, kept in ``host-token`` (0600) beside the secret.

    Written on first use from the secret, and rewritten when the secret changed (a
    token the secret no longer verifies is stale). Only host commands read the file.
    """
    secret = load_secret(secret_path)
    path = secret_path.with_name("host-token")
    with contextlib.suppress(OSError):
        saved = path.read_text("ascii").strip()
        if verify(secret, saved) == HOST_GRANT:
            return saved
    token = mint(secret, ANY, ANY, Role.HOST)
    fsutil.atomic_write_text(path, token + "\n", mode=0o600)
    return token
