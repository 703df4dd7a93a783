"""Idempotency keys: the same command with the same inputs always gets the same key.

A key is ``ik:`` + the sha256 of the canonical JSON (sorted keys, no whitespace,
UTF-8) of ``{"kind": ..., "inputs": {...}}``. Every kind of command names its inputs
in :data:`COMMANDS`; :func:`key` takes them positionally in that order::

    key("task.execute", run_id, task_id, attempt)

The ledger event that starts a command carries its key (``ik``), and so does the event
that completes it, which also says ``"end": true``. :func:`decide` checks a key
against a replayed view, so a command whose completion was recorded is never run again.
"""

from __future__ import annotations

import hashlib
import json
import re
from enum import StrEnum
from typing import Any

from isollm.runner.view import Phase, RunView

PREFIX = "ik:"
_KEY = re.compile(r"ik:[0-9a-f]{64}")

# kind -> the names of its inputs, in the order key() takes them.
COMMANDS: dict[str, tuple[str, ...]] = {
    # One attempt at a task: claim, sandbox, agent, commit, push, done.
    "task.execute": ("run_id", "task_id", "attempt"),
    # Pushing a task's branch to the hub at one commit.
    "task.push": ("run_id", "task_id", "branch", "commit"),
    # Marking a task done on the task server.
    "task.complete": ("run_id", "task_id"),
    # Giving a task back to the queue after an attempt.
    "task.release": ("run_id", "task_id", "attempt"),
}


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


def key(kind: str, *inputs: Any) -> str:
    """The idempotency key of command ``kind`` with ``inputs`` (see :data:`COMMANDS`)."""
    names = COMMANDS.get(kind)
    if names is None:
        raise ValueError(f"unknown command kind {kind!r}; known: {', '.join(sorted(COMMANDS))}")
    if len(inputs) != len(names):
        raise TypeError(f"{kind} takes {len(names)} inputs ({', '.join(names)}), got {len(inputs)}")
    return digest({"kind": kind, "inputs": dict(zip(names, inputs, strict=True))})


def execute_key(run_id: str, task_id: str, attempt: int) -> str:
    return key("task.execute", run_id, task_id, attempt)


def push_key(run_id: str, task_id: str, branch: str, commit: str) -> str:
    return key("task.push", run_id, task_id, branch, commit)


def complete_key(run_id: str, task_id: str) -> str:
    return key("task.complete", run_id, task_id)


def release_key(run_id: str, task_id: str, attempt: int) -> str:
    return key("task.release", run_id, task_id, attempt)


def is_key(value: str) -> bool:
    """Whether ``value`` has the form of an idempotency key."""
    return _KEY.fullmatch(value) is not None


class Decision(StrEnum):
    NEW = "new"  # never seen: run it
    IN_FLIGHT = "in_flight"  # started, completion not recorded: reconcile, then finish it
    COMPLETED = "completed"  # completion recorded: never run it again


def decide(view: RunView, ik: str) -> Decision:
    """What the ledger says about the command with key ``ik``."""
    if ik in view.completed_keys:
        return Decision.COMPLETED
    if ik in view.started_keys:
        return Decision.IN_FLIGHT
    return Decision.NEW


def task_decision(view: RunView, task_id: str) -> Decision:
    """Whether a task still needs work in this run: done or blocked means COMPLETED.

    A task whose latest phase is in flight (claimed … pushed) is IN_FLIGHT; a task the
    ledger never mentions, or one that failed or was released, is NEW (for a new attempt).
    """
    task = view.tasks.get(task_id)
    if task is None or task.phase in (Phase.FAILED, Phase.RELEASED):
        return Decision.NEW
    if task.phase in (Phase.DONE, Phase.BLOCKED):
        return Decision.COMPLETED
    return Decision.IN_FLIGHT
