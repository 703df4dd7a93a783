"""Where a run's files live: ``.isollm/runs/<run-id>/``.

::

    run.json                      run state (status, pid, workers, agent, config digest)
    events.ndjson                 the ledger: one JSON event per line, append-only
    snapshot.json                 manifest of the base commit at run start
    receipts/<task>-<n>.json      one receipt per task attempt
    logs/<task>-<n>.log           the agent's output for that attempt
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from isollm.config import STATE_DIR
from isollm.errors import StateError

RUNS_DIR = "runs"
STATE_FILE = "run.json"
LEDGER_FILE = "events.ndjson"
SNAPSHOT_FILE = "snapshot.json"

# Run ids and task ids become file names: no separators, no leading dot.
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_name(value: str, what: str) -> str:
    """``value`` if it is safe as (part of) a file name, else StateError."""
    if not _SAFE_NAME.fullmatch(value):
        raise StateError(
            f"{what} {value!r} cannot be used in a file name",
            hint="use letters, digits, '.', '_' and '-' only (at most 128 characters)",
        )
    return value


def runs_dir(project_root: Path) -> Path:
    """The directory holding every run of the project at ``project_root``."""
    return project_root / STATE_DIR / RUNS_DIR


@dataclass(frozen=True)
class RunPaths:
    """The files of one run, under ``dir``."""

    dir: Path

    @classmethod
    def of(cls, project_root: Path, run_id: str) -> RunPaths:
        return cls(runs_dir(project_root) / check_name(run_id, "run id"))

    @property
    def run_id(self) -> str:
        return self.dir.name

    @property
    def state(self) -> Path:
        return self.dir / STATE_FILE

    @property
    def ledger(self) -> Path:
        return self.dir / LEDGER_FILE

    @property
    def snapshot(self) -> Path:
        return self.dir / SNAPSHOT_FILE

    @property
    def receipts(self) -> Path:
        return self.dir / "receipts"

    @property
    def logs(self) -> Path:
        return self.dir / "logs"

    def receipt(self, task_id: str, attempt: int) -> Path:
        return self.receipts / f"{_attempt_name(task_id, attempt)}.json"

    def log(self, task_id: str, attempt: int) -> Path:
        return self.logs / f"{_attempt_name(task_id, attempt)}.log"


def _attempt_name(task_id: str, attempt: int) -> str:
    if attempt < 1:
        raise ValueError(f"attempts count from 1, got {attempt}")
    return f"{check_name(task_id, 'task id')}-{attempt}"
