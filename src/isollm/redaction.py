"""Secrets never reach a file or record isollm writes.

Every secret value isollm hands to an agent (API keys, task server tokens) is registered
here when it is read; every writer of a file or record (logs, receipts, the ledger, task
reasons and history, crash logs) passes its text through :func:`redact` at write time.
The registry is process-wide: values are only ever added, never written anywhere.
"""

from __future__ import annotations

import re
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


def redact_value(value: object) -> object:
    """``value`` (a JSON-like record: str, list, dict, numbers) with every string redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value


class StreamRedactor:
    """:func:`redact_bytes` for output that arrives in chunks.

    A secret may be split across two chunks, so the last ``longest secret - 1`` bytes of
    what was fed are held back until more arrives (or :meth:`flush`): whatever
    :meth:`feed` returns can never end with the beginning of a secret.
    """

    def __init__(self) -> None:
        self._pending = b""
        self._secrets: tuple[str, ...] = ()
        self._pattern: re.Pattern[bytes] | None = None
        self._raw: list[bytes] = []
        self._hold = 0

    def _refresh(self) -> None:
        current = _secrets
        if current is self._secrets:
            return
        self._secrets = current
        raw = self._raw = [s.encode("utf-8", "surrogateescape") for s in current]
        self._pattern = re.compile(b"|".join(re.escape(r) for r in raw)) if raw else None
        self._hold = max((len(r) for r in raw), default=1) - 1

    def feed(self, data: bytes) -> bytes:
        """The redacted part of ``pending + data`` that no later chunk can change."""
        self._refresh()
        buf = self._pending + data
        if self._pattern is None:
            self._pending = b""
            return buf
        cut = len(buf) - self._hold
        if not any(raw in buf for raw in self._raw):  # the usual case: a scan in C per secret
            self._pending = buf[max(cut, 0) :]
            return buf[: max(cut, 0)]
        out, pos = [], 0
        for match in self._pattern.finditer(buf):
            if match.start() >= cut:
                break
            out += [buf[pos : match.start()], _MASK_BYTES]
            pos = match.end()
        keep = max(pos, cut)
        out.append(buf[pos:keep])
        self._pending = buf[keep:]
        return b"".join(out)

    def flush(self) -> bytes:
        """Everything held back, redacted: the end of the stream."""
        rest, self._pending = self._pending, b""
        return redact_bytes(rest)


_MASK_BYTES = MASK.encode("ascii")


def forget_all() -> None:
    """Empty the registry (tests only)."""
    global _secrets  # noqa: PLW0603
    with _lock:
        _secrets = ()
