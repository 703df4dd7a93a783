"""Reconcile worker records with what the sandbox backends report (``worker list``).

Observation (I/O) is separate from the decision (:func:`decide`, pure): given a record
(or none) and what was seen, the record that should be saved. Records only move along
the status machine; a sandbox found without a record is adopted; a record whose sandbox
is gone becomes an error that says so.

A run's sandboxes (``run-<id>-w<N>``) are not workers: while the run lives they show as
in use by it and nothing about them is saved; a leftover of a run that is no longer
running shows as such until it is resumed, adopted (``isollm worker adopt``) or removed.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from datetime import datetime

from isollm.errors import IsollmError
from isollm.sandbox import meta, registry
from isollm.sandbox.base import Sandbox, SandboxStatus
from isollm.sandbox.workers import Project, WorkerRow, being_created, move, run_of
from isollm.state import WorkerState, WorkerStatus
from isollm.state.model import utc_now

S = WorkerStatus
GONE = "its sandbox is gone"
LEFTOVER = "a {backend} container was left without its sandbox (crash?); remove it with --force"
ADOPTED = "adopted: a sandbox existed without a worker record"
IN_USE = "in use by run {run}"
LEFT_BY_RUN = (
    "left by run {run}, which is not running: `isollm run --resume {run}` continues it, "
    "`isollm worker adopt {name}` keeps it as a worker (with --force while the run can be "
    "resumed), `isollm worker remove {name}` deletes it"
)


@dataclass(frozen=True)
class Observed:
    """What the backends say about one worker name."""

    status: SandboxStatus  # MISSING when there is no sandbox at all
    backend: str = ""
    problem: str = ""  # an unreadable record, a leftover container...
    in_progress: bool = False


def _target(current: WorkerStatus, seen: Observed) -> tuple[WorkerStatus, str | None]:
    """Where a worker in ``current`` belongs given ``seen`` (and the error to record)."""
    problem = seen.problem or {
        SandboxStatus.MISSING: GONE,
        SandboxStatus.BROKEN: "its sandbox is broken; reset or remove it",
    }.get(seen.status, "")
    if problem:
        return S.ERROR, problem
    if current is S.ERROR:
        return S.ERROR, None
    if seen.status is SandboxStatus.STOPPED:
        return S.STOPPED, None
    if current in (S.CREATING, S.STOPPED):
        return S.IDLE, None
    return current, None


def decide(
    record: WorkerState | None, name: str, seen: Observed, now: datetime
) -> WorkerState | None:
    """The record to save for ``name`` after seeing ``seen``; None to leave it alone."""
    if seen.in_progress:
        return None
    if record is None and seen.status is SandboxStatus.MISSING and not seen.problem:
        return None
    worker = record or WorkerState(name, status=S.CREATING, started_at=now, last_activity=now)
    target, error = _target(worker.status, seen)
    if target is S.ERROR and error is not None and worker.last_error != error:
        worker = move(worker, S.ERROR, error=error, now=now)
    elif target is not S.ERROR:
        worker = move(worker, target, now=now)
    return dataclasses.replace(worker, last_reconciled=now)


def observe(project: Project, name: str, sb: Sandbox | None, problem: str) -> Observed:
    if being_created(project, name):
        return Observed(SandboxStatus.MISSING, in_progress=True)
    if sb is None:
        return Observed(SandboxStatus.MISSING, problem=problem)
    try:
        return Observed(sb.status(), sb.backend)
    except IsollmError as exc:
        return Observed(SandboxStatus.BROKEN, sb.backend, str(exc).splitlines()[0])


def _sandboxes(project: Project) -> tuple[dict[str, Sandbox], dict[str, str]]:
    found: dict[str, Sandbox] = {}
    problems: dict[str, str] = {}
    for name in meta.names(project.name):
        try:
            found[name] = registry.open_sandbox(project.name, name)
        except IsollmError as exc:
            problems[name] = str(exc).splitlines()[0]
    for backend, cls in registry.BACKENDS.items():
        with contextlib.suppress(IsollmError, OSError):
            for name in cls.leftovers(project.name):
                problems.setdefault(name, LEFTOVER.format(backend=backend))
    return found, problems


def row(name: str, worker: WorkerState | None, sb: Sandbox | None, seen: Observed) -> WorkerRow:
    info = sb.info() if sb is not None and seen.status is not SandboxStatus.MISSING else None
    task = worker.current_task.id if worker and worker.current_task else ""
    problem = worker.last_error if worker and worker.status is S.ERROR else seen.problem
    return WorkerRow(
        name=name,
        backend=sb.backend if sb else seen.backend,
        status=str(worker.status) if worker else "creating",
        sandbox=str(seen.status),
        address=info.address if info else "",
        task=task,
        branch=(worker.current_branch if worker else "") or (info.branch if info else ""),
        workspace=info.workspace if info else "",
        problem=problem,
    )


def run_row(project: Project, name: str, run: str, sb: Sandbox | None, seen: Observed) -> WorkerRow:
    """A run's sandbox: shown, never saved as a worker."""
    alive = project.run_alive(run)
    line = row(name, None, sb, seen)
    problem = IN_USE if alive else LEFT_BY_RUN
    return dataclasses.replace(
        line,
        status="in use" if alive else "leftover",
        problem=seen.problem or problem.format(run=run, name=name),
        run=run,
    )


def list_workers(project: Project) -> tuple[list[WorkerRow], list[str]]:
    """Every worker, reconciled and saved; plus the state files that could not be read."""
    loaded = project.state.load_all_workers()
    records = {w.name: w for w in loaded.workers}
    sandboxes, problems = _sandboxes(project)
    names = sorted(set(records) | set(sandboxes) | set(problems))
    rows = []
    for name in names:
        if name not in records and project.state.worker_path(name).exists():
            continue  # a corrupt record: reported below, never overwritten by an adoption
        sb = sandboxes.get(name)
        seen = observe(project, name, sb, problems.get(name, ""))
        run = run_of(name)
        if run and (name not in records or project.run_alive(run)):
            if seen.status is not SandboxStatus.MISSING or seen.problem:
                rows.append(run_row(project, name, run, sb, seen))
            continue
        if run and seen.status is SandboxStatus.MISSING and not seen.problem:
            project.state.delete_worker(name)  # an adopted run sandbox that is gone
            continue
        worker = _save(project, name, records.get(name), seen)
        line = row(name, worker, sb, seen)
        if name not in records and worker is not None and not line.problem:
            line = dataclasses.replace(line, problem=ADOPTED)
        rows.append(line)
    return rows, [str(e) for e in loaded.errors]


def _save(
    project: Project, name: str, record: WorkerState | None, seen: Observed
) -> WorkerState | None:
    now = utc_now()
    if record is None:
        new = decide(None, name, seen, now)
        if new is not None:
            project.state.save_worker(new)
        return new

    def change(current: WorkerState) -> WorkerState:
        return decide(current, name, seen, now) or current

    return project.state.update_worker(name, change)
