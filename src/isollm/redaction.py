"""Secrets never reach a file or record isollm writes.

Every secret value isollm hands to an agent (API keys, task server tokens) is registered
here when it is read; every writer of a file or record (logs, receipts, the ledger, task
reasons and history, crash logs) passes its text through :func:`redact` at write time.
The registry is process-wide: values are only ever added, never written anywhere.
"""

from __future__ import annotations

import threading

MASK = "[redacted]"
MIN_LENGTH = 8  # shorter values would mask ordinary words

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()  # longest first, so a value containing another is masked whole


def register(*values: str) -> None:
    """Mask ``values`` (those of at least MIN_LENGTH characters) in everything written from now."""
    global _secrets  # noqa: PLW0603 - one registry per process, by design
    new = {v for v in values if len(v) >= MIN_LENGTH} - set(_secrets)
    if not new:
        return
    with _lock:
        _secrets = tuple(sorted(set(_secrets) | new, key=len, reverse=True))


def registered() -> tuple[str, ...]:
    return _secrets


def redact(text: str) -> str:
    """``text`` with every registered secret value replaced by MASK."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact_bytes(data: bytes) -> bytes:
    """:func:`redact` for raw output (secrets matched as their UTF-8 bytes)."""
    for secret in _secrets:
        raw = secret.encode("utf-8", "surrogateescape")
        if raw in data:
            data = data.replace(raw, MASK.encode("ascii"))
    return data


def forget_all() -> None:
    """Empty the registry (tests only)."""
    global _secrets  # noqa: PLW0603
    with _lock:
        _secrets = ()
