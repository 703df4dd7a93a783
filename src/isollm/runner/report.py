"""Read a run from disk for ``isollm run show`` / ``runs list`` (I/O here, rendering elsewhere)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from isollm.runner import ledger, runstate
from isollm.runner.layout import RunPaths
from isollm.runner.receipts import load_receipts
from isollm.runner.summary import RunSummary, summarize
from isollm.runner.view import RunView


def show_run(project_root: Path, run_id: str | None = None) -> RunSummary:
    """The summary of run ``run_id`` (the latest run when None)."""
    state = runstate.pick_run(project_root, run_id)
    paths = RunPaths.of(project_root, state.id)
    view, problems = _replay(paths)
    found = load_receipts(paths)
    return summarize(
        state.id,
        view,
        found.receipts,
        state=state,
        stale=runstate.is_stale(state),
        problems=problems + found.problems,
    )


def _replay(paths: RunPaths) -> tuple[RunView, list[str]]:
    if not paths.ledger.exists():
        return RunView(), [f"{paths.ledger} is missing: no events to show"]
    replayed = ledger.replay(paths.ledger)
    damage = [f"{paths.ledger}: {replayed.damage.describe()}"] if replayed.damage else []
    return replayed.view, damage


@dataclass(frozen=True)
class RunRow:
    id: str
    status: str
    stale: bool
    started: str
    ended: str | None
    workers: int
    agent: str
    resumes: int


@dataclass(frozen=True)
class RunRows:
    runs: list[RunRow]  # oldest first
    problems: list[str] = field(default_factory=list)


def list_run_rows(project_root: Path) -> RunRows:
    """One row per run of the project, with stale 'running' runs marked."""
    listing = runstate.list_runs(project_root)
    rows = [
        RunRow(
            s.id, s.status, runstate.is_stale(s), s.started, s.ended, s.workers, s.agent, s.resumes
        )
        for s in listing.runs
    ]
    return RunRows(rows, listing.problems)
