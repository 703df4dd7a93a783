"""``isollm runs show|list``: what headless runs did, from their ledgers and receipts."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from isollm import config as cfg
from isollm.cli import output
from isollm.runner.report import RunRows, list_run_rows, show_run
from isollm.runner.summary import RunSummary, TaskSummary


@click.group("runs")
def runs_group() -> None:
    """Inspect headless runs (`isollm run`): their tasks, receipts and state."""


@runs_group.command("show")
@click.argument("run_id", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON document instead of text.")
def show(run_id: str | None, as_json: bool) -> None:
    """Summarise run RUN_ID (the latest run by default).

    Per task: status, attempts, branch, head commit, files changed, duration and, when
    the agent reported them, tokens and cost; then the totals.
    """
    summary = show_run(_root(), run_id)
    if as_json:
        output.emit_json("run", summary.to_dict())
        return
    _render_summary(summary)


@runs_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON document instead of text.")
def list_runs(as_json: bool) -> None:
    """List the runs of this project, oldest first."""
    rows = list_run_rows(_root())
    if as_json:
        output.emit_json("runs", [vars(r) for r in rows.runs])
        return
    _render_rows(rows)


def _root() -> Path:
    return cfg.find_project_root()


# -- rendering -----------------------------------------------------------------------------


def _status(status: str, stale: bool) -> str:
    return f"{status} (stale: resume with `isollm run --resume`)" if stale else status


def _render_summary(s: RunSummary) -> None:
    for problem in s.problems:
        output.warn(escape(problem))
    output.info(f"run {s.run_id}: {_status(s.status, s.stale)}")
    output.info(f"  started {s.started or '?'}" + (f", ended {s.ended}" if s.ended else ""))
    output.info(
        f"  {s.workers or '?'} workers, agent {s.agent or '?'}, base {s.base_branch or '?'}"
    )
    if s.tasks:
        output.out.print(_task_table(s.tasks))
    t = s.totals
    output.info(
        f"{t.tasks} tasks: {t.done} done, {t.failed} failed, {t.blocked} blocked, "
        f"{t.in_flight} in flight; {t.attempts} attempts, {_duration(t.duration_s)}"
        f"{_usage(t.tokens, t.cost_usd)}; {s.events} events"
    )


def _task_table(tasks: list[TaskSummary]) -> Table:
    table = Table(box=None, pad_edge=False)
    for column in ("task", "status", "tries", "branch", "head", "files", "time", "usage"):
        table.add_column(column)
    for t in tasks:
        table.add_row(
            escape(t.task_id),
            escape(t.status + (f": {t.reason}" if t.reason else "")),
            str(t.attempts),
            escape(t.branch or "-"),
            (t.head_commit or "-")[:10],
            str(len(t.files_changed)),
            _duration(t.duration_s),
            _usage(t.tokens, t.cost_usd).removeprefix(", ") or "-",
        )
    return table


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _usage(tokens: int | None, cost: float | None) -> str:
    parts = ([f"{tokens:,} tokens"] if tokens is not None else []) + (
        [f"${cost:.2f}"] if cost is not None else []
    )
    return ", " + " ".join(parts) if parts else ""


def _render_rows(rows: RunRows) -> None:
    for problem in rows.problems:
        output.warn(escape(problem))
    if not rows.runs:
        output.info("no runs yet: start one with `isollm run`")
        return
    table = Table(box=None, pad_edge=False)
    for column in ("run", "status", "started", "ended", "workers", "agent", "resumes"):
        table.add_column(column)
    for r in rows.runs:
        table.add_row(
            r.id,
            escape(_status(r.status, r.stale)),
            r.started,
            r.ended or "-",
            str(r.workers),
            escape(r.agent),
            str(r.resumes),
        )
    output.out.print(table)
