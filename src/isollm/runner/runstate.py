"""The state of a run in ``run.json``: its status, who runs it, with what.

``status`` is running, completed, needs-attention (it ran to its end, but a task ended
blocked or was delivered flagged: partial, unapproved), failed or aborted. A run also
records the pid of the process driving it and that process's start time, so a run left
'running' by a killed process is recognisably stale (:func:`is_stale`) and can be
resumed (:func:`take_over`).
Every write replaces the file atomically.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from isollm import config as cfg
from isollm import fsutil
from isollm.errors import RunError, StateError
from isollm.liveness import is_alive, start_time
from isollm.runner import records
from isollm.runner.idempotency import canonical_json
from isollm.runner.layout import STATE_FILE, RunPaths, runs_dir
from isollm.runner.ledger import now

FORMAT = 1
_ID_ATTEMPTS = 20


class RunStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    NEEDS_ATTENTION = "needs-attention"  # ran to its end; a task is blocked or flagged
    FAILED = "failed"
    ABORTED = "aborted"


# Never resumed: nothing is left to run (a blocked task is unblocked, then run again).
FINAL = frozenset({RunStatus.COMPLETED, RunStatus.NEEDS_ATTENTION, RunStatus.ABORTED})


@dataclass(frozen=True)
class RunState:
    id: str
    status: str  # a RunStatus
    started: str  # RFC 3339 UTC
    workers: int
    agent: str
    config_digest: str
    pid: int
    pid_start: int | None = None
    base_branch: str = ""
    snapshot_id: str | None = None
    ended: str | None = None
    resumes: int = 0
    reason: str | None = None  # why it failed or was aborted
    format: int = FORMAT

    def __post_init__(self) -> None:
        RunStatus(self.status)  # ValueError names the bad value

    @property
    def run_status(self) -> RunStatus:
        return RunStatus(self.status)


def new_run_id(when: datetime | None = None) -> str:
    """A run id that sorts by start time: ``20261121-190512-ab12``."""
    stamp = (when or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(2)}"


def config_digest(config: cfg.Config) -> str:
    """``sha256:<hex>`` of the configuration's canonical JSON: equal configs, equal digests."""
    return "sha256:" + hashlib.sha256(canonical_json(cfg.to_dict(config))).hexdigest()


def create_run(
    project_root: Path,
    *,
    workers: int,
    agent: str,
    config_digest: str,
    base_branch: str = "",
    snapshot_id: str | None = None,
) -> RunState:
    """A new run directory with ``run.json`` (status running, owned by this process)."""
    fsutil.ensure_dir(runs_dir(project_root))
    for _ in range(_ID_ATTEMPTS):
        paths = RunPaths.of(project_root, new_run_id())
        try:
            paths.dir.mkdir(mode=fsutil.DIR_MODE)
        except FileExistsError:
            continue  # two runs started in the same second drew the same suffix
        state = RunState(
            id=paths.run_id,
            status=RunStatus.RUNNING,
            started=now(),
            workers=workers,
            agent=agent,
            config_digest=config_digest,
            base_branch=base_branch,
            snapshot_id=snapshot_id,
            pid=os.getpid(),
            pid_start=start_time(os.getpid()),
        )
        save_run(project_root, state)
        return state
    raise StateError(f"could not create a new run directory in {runs_dir(project_root)}")


def save_run(project_root: Path, state: RunState) -> None:
    records.write(RunPaths.of(project_root, state.id).state, state)


def load_run(project_root: Path, run_id: str) -> RunState:
    path = RunPaths.of(project_root, run_id).state
    if not path.exists():
        raise RunError(f"there is no run {run_id}", hint="list the runs with `isollm run list`")
    return records.read(RunState, path, "run state")


def finish_run(
    project_root: Path, state: RunState, status: RunStatus, reason: str | None = None
) -> RunState:
    """Record that the run ended with ``status`` (any but running)."""
    if status is RunStatus.RUNNING:
        raise ValueError("a run finishes as completed, needs-attention, failed or aborted")
    done = dataclasses.replace(state, status=status, ended=now(), reason=reason)
    save_run(project_root, done)
    return done


def is_stale(state: RunState) -> bool:
    """Whether the run says 'running' but the process that ran it is gone."""
    return state.run_status is RunStatus.RUNNING and not is_alive(state.pid, state.pid_start)


def take_over(project_root: Path, state: RunState) -> RunState:
    """Make this process the owner of ``state`` to resume it; RunError if it must not be."""
    if state.run_status in FINAL:
        raise RunError(
            f"run {state.id} is {state.status} and cannot be resumed: there is nothing to resume",
            hint="start a new run with `isollm run`",
        )
    if state.run_status is RunStatus.RUNNING and not is_stale(state):
        raise RunError(
            f"run {state.id} is still running (pid {state.pid})",
            hint="wait for it to finish, or stop that process before resuming",
        )
    resumed = dataclasses.replace(
        state,
        status=RunStatus.RUNNING,
        ended=None,
        reason=None,
        resumes=state.resumes + 1,
        pid=os.getpid(),
        pid_start=start_time(os.getpid()),
    )
    save_run(project_root, resumed)
    return resumed


@dataclass(frozen=True)
class RunList:
    """The runs of a project, oldest first, and the run directories that could not be read."""

    runs: list[RunState]
    problems: list[str]


def list_runs(project_root: Path) -> RunList:
    root = runs_dir(project_root)
    found: list[RunState] = []
    problems: list[str] = []
    for directory in sorted(root.iterdir()) if root.is_dir() else []:
        if not (directory / STATE_FILE).is_file():
            continue
        try:
            found.append(load_run(project_root, directory.name))
        except StateError as exc:
            problems.append(exc.message)
    return RunList(found, problems)


def latest_run(project_root: Path) -> RunState | None:
    """The most recently started run (ids sort by start time), or None if there is none."""
    root = runs_dir(project_root)
    names = sorted(
        (d.name for d in root.iterdir() if (d / STATE_FILE).is_file()) if root.is_dir() else (),
        reverse=True,
    )
    return load_run(project_root, names[0]) if names else None


def pick_run(project_root: Path, run_id: str | None = None) -> RunState:
    """Run ``run_id``, or the latest run when None; RunError when there is none."""
    if run_id is not None:
        return load_run(project_root, run_id)
    state = latest_run(project_root)
    if state is None:
        raise RunError("this project has no runs yet", hint="start one with `isollm run`")
    return state
