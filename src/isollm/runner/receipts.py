"""Receipts: one JSON record per task attempt, and the attempt's agent log.

A receipt says who did what from where to where: the task, worker, agent and branch,
the base and head commits, the files changed, how long it took, the exit code, tokens
and cost when the agent reports them, and where the log is. It is written atomically
to ``receipts/<task>-<attempt>.json``; the agent's output streams to
``logs/<task>-<attempt>.log`` (:func:`open_log`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO, Literal

from isollm import fsutil
from isollm.errors import StateError
from isollm.runner import records
from isollm.runner.layout import RunPaths

FORMAT = 1

Outcome = Literal["done", "failed", "blocked", "released"]


class Result(StrEnum):
    """What a delivered task amounts to. Only ``done`` is a plain success; the others
    are delivered but flagged everywhere a result is shown (and the run exits 1 for
    ``partial``, and for ``unapproved`` unless ``runner.review_required`` is false)."""

    DONE = "done"
    NO_CHANGES = "no changes"  # delivered at the commit it started from
    PARTIAL = "partial"  # a dependency could not be merged (runner.on_conflict: partial)
    UNAPPROVED = "unapproved"  # the reviewer never approved it


def result_label(result: str | None) -> str:
    """``done``, ``done (no changes)``, ``partial`` or ``unapproved``."""
    if result == Result.NO_CHANGES:
        return "done (no changes)"
    return result or "done"


@dataclass(frozen=True)
class Receipt:
    run_id: str
    task_id: str
    attempt: int
    outcome: Outcome
    worker: str
    agent: str
    branch: str
    base_commit: str
    started: str  # RFC 3339 UTC
    ended: str
    duration_s: float
    log_path: str  # relative to the run directory
    head_commit: str | None = None
    files_changed: list[str] = field(default_factory=list)
    exit_code: int | None = None
    reason: str | None = None
    title: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None
    result: str | None = None  # a Result when delivered (None: an older receipt, "done")
    notes: list[str] = field(default_factory=list)  # what was left out or saved aside
    flagged: bool = False  # delivered but not a success (partial, unapproved): exit 1
    format: int = FORMAT

    @property
    def tokens(self) -> int | None:
        """Input plus output tokens, or None when the agent reported neither."""
        if self.tokens_in is None and self.tokens_out is None:
            return None
        return (self.tokens_in or 0) + (self.tokens_out or 0)


def log_path(paths: RunPaths, task_id: str, attempt: int) -> str:
    """Where the attempt's log goes, relative to the run directory (as receipts record it)."""
    return str(paths.log(task_id, attempt).relative_to(paths.dir))


def open_log(paths: RunPaths, task_id: str, attempt: int) -> BinaryIO:
    """The attempt's log file opened for appending (pass it as an agent's stdout)."""
    path = paths.log(task_id, attempt)
    fsutil.ensure_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, fsutil.FILE_MODE)
    return os.fdopen(fd, "ab")


def write_receipt(paths: RunPaths, receipt: Receipt) -> Path:
    """Write ``receipt`` atomically; return its path. Rewriting an attempt replaces it."""
    if receipt.run_id != paths.run_id:
        raise ValueError(f"receipt of run {receipt.run_id} written to run {paths.run_id}")
    path = paths.receipt(receipt.task_id, receipt.attempt)
    records.write(path, receipt)
    return path


def load_receipt(path: Path) -> Receipt:
    return records.read(Receipt, path, "receipt")


@dataclass(frozen=True)
class Receipts:
    """Every readable receipt of a run (by task, then attempt) and what could not be read."""

    receipts: list[Receipt]
    problems: list[str]


def load_receipts(paths: RunPaths) -> Receipts:
    found: list[Receipt] = []
    problems: list[str] = []
    files = sorted(paths.receipts.glob("*.json")) if paths.receipts.is_dir() else []
    for path in files:
        if path.name.startswith("."):
            continue  # a temp file of an interrupted atomic write
        try:
            found.append(load_receipt(path))
        except StateError as exc:
            problems.append(exc.message)
    found.sort(key=lambda r: (r.task_id, r.attempt))
    return Receipts(found, problems)
