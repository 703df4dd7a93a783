"""``isollm run``: parallel headless agents over the queue; ``run show|list``: what runs did."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from isollm import config as cfg
from isollm import terminal
from isollm.cli import output, runlog
from isollm.cli.main import write_crash_log
from isollm.cli.progress import make_observer
from isollm.errors import ExitCode
from isollm.runner.events import Observer, Progress
from isollm.runner.report import RunRows, list_run_rows, show_run
from isollm.runner.service import RunRequest, run
from isollm.runner.summary import RunSummary, TaskSummary, done_counts, money

LATEST = "latest"


@click.group("run", invoke_without_command=True)
@click.option(
    "-n", "--workers", type=click.IntRange(1, 64), help="Agents at once (default: config)."
)
@click.option("--agent", help="Agent to run: claude, codex, gemini, aider or command.")
@click.option("--watch", is_flag=True, help="Keep waiting for new tasks instead of ending.")
@click.option(
    "--resume",
    "resume",
    is_flag=False,
    flag_value=LATEST,
    default=None,
    metavar="[RUN_ID]",
    help="Resume a run that was killed (the latest one unless RUN_ID is given).",
)
@click.option("--plain", is_flag=True, help="Plain progress lines even on a terminal.")
@click.option(
    "--no-preflight",
    "no_preflight",
    is_flag=True,
    help="Skip the checks `isollm doctor` makes before the first claim.",
)
@click.option(
    "--task", "tasks", multiple=True, metavar="ID", help="Run only this task (repeatable)."
)
@click.option(
    "--dry-run", is_flag=True, help="Show what would run, in order; claim nothing, start nothing."
)
@click.option("--json", "as_json", is_flag=True, help="With --dry-run: a JSON document.")
@click.pass_context
def run_group(
    ctx: click.Context,
    workers: int | None,
    agent: str | None,
    watch: bool,
    resume: str | None,
    plain: bool,
    no_preflight: bool,
    tasks: tuple[str, ...],
    dry_run: bool,
    as_json: bool,
) -> None:
    """Run agents headless over the task queue, each task in its own sandbox and branch.

    Claims ready tasks for N workers, runs the agent with the task as prompt, commits
    and pushes each task's branch to the hub and marks it done; failures are retried,
    then blocked. Ends when no task is ready (or waits for more with --watch). First
    Ctrl-C: finish running tasks and stop; second: stop the agents and release their
    tasks. After a crash, `isollm run --resume` carries on without redoing finished work.
    """
    if ctx.invoked_subcommand is not None:
        return
    if dry_run:
        runlog.show_plan(workers, agent, tasks, as_json)
        return
    request = RunRequest(
        workers=workers,
        agent=agent,
        watch=watch,
        resume=resume is not None,
        run_id=None if resume in (None, LATEST) else resume,
        preflight=not no_preflight,
        tasks=tasks,
    )
    with _display(plain=plain or not sys.stdout.isatty()) as observer:
        result = run(_root(), request, observer)
    with output.tolerant():  # stdout closed (`| head`): the exit code still tells
        render_summary(result.summary)
    for error in result.errors:
        output.error(error)
    _crash_logs(result.crashes)
    if result.errors:
        output.info(f"resume it with `isollm run --resume {result.run_id}` once fixed")
    if result.interrupted:
        raise click.exceptions.Exit(ExitCode.INTERRUPTED)
    totals = result.summary.totals
    if totals.tasks == 0:
        output.info("No task was ready. Add some with `isollm task add TITLE`.")
    if totals.blocked:
        output.error(
            f"{totals.blocked} task(s) blocked after failing every attempt; the reasons are "
            "above and in `isollm task show ID`. Fix the cause, then `isollm task unblock ID`."
        )
    if totals.flagged:
        output.error(
            f"{totals.flagged} task(s) delivered but not a success (partial or unapproved); "
            "see the notes above and `isollm run show`."
        )
    if result.errors or totals.blocked or totals.flagged:
        raise click.exceptions.Exit(ExitCode.USER_ERROR)


@contextlib.contextmanager
def _display(*, plain: bool) -> Iterator[Observer]:
    """The progress display; an output error in starting or ending it (stdout closed)
    stops the display, never the run (errors while running: see RunContext)."""
    shown = make_observer(plain=plain)
    observer: Observer = _nothing
    with output.tolerant():
        observer = shown.__enter__()
    try:
        yield observer
    finally:
        with output.tolerant():
            shown.__exit__(None, None, None)


def _nothing(progress: Progress) -> None:
    return None


def _crash_logs(crashes: tuple[BaseException, ...]) -> None:
    """A crash log (secrets masked) for each error that was not isollm's own."""
    for exc in crashes:
        try:
            path = str(write_crash_log(exc))
        except OSError as err:
            path = f"(could not write a crash log: {err.strerror})"
        with output.tolerant():
            output.error(f"a crash log with the details is at {path}; please report it")


@run_group.command("show")
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
    render_summary(summary)


@run_group.command("list")
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

RESUME_HINT = "its runner is gone: resume it with `isollm run --resume {run_id}`"


def _status(status: str, stale: bool) -> str:
    return f"{status} (stale)" if stale else status


def _time(stamp: str | None) -> str:
    """``2026-11-21T19:05:12.123456Z`` -> ``2026-11-21 19:05:12``."""
    return stamp[:19].replace("T", " ") if stamp else "-"


def _columns(header: list[str], rows: list[list[str]]) -> list[str]:
    """Rows as left-aligned columns two spaces apart (no wrapping, no truncation)."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


def render_summary(s: RunSummary) -> None:
    for problem in s.problems:
        output.warn(problem)
    output.info(f"run {s.run_id}: {_status(s.status, s.stale)}")
    if s.stale:
        output.info("  " + RESUME_HINT.format(run_id=s.run_id))
    output.info(f"  started {_time(s.started)}, ended {_time(s.ended)}")
    output.info(
        f"  {s.workers or '?'} workers, agent {s.agent or '?'}, base {s.base_branch or '?'}"
    )
    if s.tasks:
        output.info("")
        for line in _columns(TASK_HEADER, [_task_row(t) for t in s.tasks]):
            output.info(line)
        for task in s.tasks:
            for note in task.notes:
                output.info(f"  {task.task_id}: {note}")
        output.info("diff: isollm diff TASK (what a task's branch changes)")
        output.info("")
    t = s.totals
    output.info(
        f"{t.tasks} tasks: {done_counts(t)}, {t.failed} failed, {t.blocked} blocked, "
        f"{t.in_flight} in flight; {t.attempts} attempts, {_duration(t.duration_s)}"
        f"{_usage(t.tokens, t.cost_usd)}; {s.events} events"
    )


TASK_HEADER = ["task", "title", "status", "tries", "branch", "head", "files", "time", "usage"]


def _task_row(t: TaskSummary) -> list[str]:
    return [
        t.task_id,
        _title(t.title),
        t.status + (f": {t.reason}" if t.reason else ""),
        str(t.attempts),
        t.branch or "-",
        (t.head_commit or "-")[:10],
        str(len(t.files_changed)),
        _duration(t.duration_s),
        _usage(t.tokens, t.cost_usd).removeprefix(", ") or "-",
    ]


TITLE_SHOWN = 40


def _title(title: str | None) -> str:
    """A title on one line, shortened for the table (``run show --json`` has it whole)."""
    if not title:
        return "-"
    flat = terminal.safe_line(title)
    return flat if len(flat) <= TITLE_SHOWN else flat[: TITLE_SHOWN - 1] + "…"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _usage(tokens: int | None, cost: float | None) -> str:
    parts = ([f"{tokens:,} tokens"] if tokens is not None else []) + (
        [money(cost)] if cost is not None else []
    )
    return ", " + " ".join(parts) if parts else ""


RUN_HEADER = ["run", "status", "started", "ended", "workers", "agent", "resumes"]


def _render_rows(rows: RunRows) -> None:
    for problem in rows.problems:
        output.warn(problem)
    if not rows.runs:
        output.info("no runs yet: start one with `isollm run`")
        return
    table = [
        [
            r.id,
            _status(r.status, r.stale),
            _time(r.started),
            _time(r.ended),
            str(r.workers),
            r.agent,
            str(r.resumes),
        ]
        for r in rows.runs
    ]
    for line in _columns(RUN_HEADER, table):
        output.info(line)
    for r in rows.runs:
        if r.stale:
            output.info(f"{r.id}: " + RESUME_HINT.format(run_id=r.id))


run_group.add_command(runlog.log_command)
