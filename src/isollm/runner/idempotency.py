"""Canonical JSON, and the idempotency key of a task attempt.

Canonical JSON (sorted keys, no whitespace, UTF-8) gives equal values equal bytes, so
their digests are equal in every process: the run's config digest and snapshot id use
it. An attempt's key is ``ik:`` + the sha256 of the canonical JSON of
``{"kind": "task.execute", "inputs": {"run_id", "task_id", "attempt"}}``; the ledger
events of the attempt carry it (``ik``), the completing one with ``"end": true``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

PREFIX = "ik:"


def canonical_json(value: Any) -> bytes:
    """``value`` as canonical JSON: keys sorted at every level, no whitespace, UTF-8.

    Only JSON values are accepted (no NaN or infinity); tuples count as lists.
    """
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def digest(value: Any) -> str:
    """``ik:`` + the hex sha256 of ``value``'s canonical JSON."""
    return PREFIX + hashlib.sha256(canonical_json(value)).hexdigest()


def execute_key(run_id: str, task_id: str, attempt: int) -> str:
    """The key of one attempt at a task in a run."""
    inputs = {"run_id": run_id, "task_id": task_id, "attempt": attempt}
    return digest({"kind": "task.execute", "inputs": inputs})
