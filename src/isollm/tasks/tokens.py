"""Per-agent bearer tokens: an HMAC of the agent name under a server secret.

A token names the agent it speaks for, so an agent cannot act as another one; the
admin token (agent ``*``) may act as anyone through ``X-Airyra-Agent``. Nothing is
stored per agent: rotating the secret file revokes every token. Tokens are
secrets: nothing in isollm writes them to a log.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import secrets
from hashlib import sha256
from pathlib import Path

from isollm import fsutil

ADMIN = "*"
PREFIX = "ist1"
_SIG_LEN = 32


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: bytes, agent: str) -> str:
    digest = hmac.new(secret, b"isollm-task-token\0" + agent.encode("utf-8"), sha256).digest()
    return _b64(digest)[:_SIG_LEN]


def mint(secret: bytes, agent: str) -> str:
    """The token that lets its holder act as ``agent`` (``*``: as anyone)."""
    if not agent:
        raise ValueError("a token needs an agent name")
    return f"{PREFIX}.{_b64(agent.encode('utf-8'))}.{_signature(secret, agent)}"


def verify(secret: bytes, token: str) -> str | None:
    """The agent ``token`` speaks for, or None if it is not a valid token."""
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        return None
    try:
        agent = _unb64(parts[1]).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if not agent or not hmac.compare_digest(parts[2], _signature(secret, agent)):
        return None
    return agent


def load_secret(path: Path) -> bytes:
    """The server secret at ``path``, created (0600, atomically) on first use."""
    try:
        return bytes.fromhex(path.read_text("ascii").strip())
    except FileNotFoundError:
        pass
    with contextlib.suppress(FileExistsError):  # another process may create it first
        fsutil.create_exclusive(path, secrets.token_hex(32).encode("ascii"))
    return bytes.fromhex(path.read_text("ascii").strip())
