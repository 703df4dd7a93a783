"""``isollm gc``: remove landed task branches, old runs and refs, orphaned sandboxes."""

from __future__ import annotations

import dataclasses
import re
import shlex
import sys
from datetime import timedelta

import click

from isollm import terminal
from isollm.cli import output
from isollm.errors import ExitCode, IsollmError
from isollm.land import drop
from isollm.land.candidates import ClientBook, TaskFacts
from isollm.land.gc import GcItem, GcOptions, GcReport, collect
from isollm.runner import byhand
from isollm.sandbox.workers import Project
from isollm.tasks.server.control import ensure_server

_AGE = re.compile(r"^(\d+)([hdw])$")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}
CONFIRM_WORD = "delete"


def parse_age(ctx: click.Context, param: click.Parameter, value: str) -> timedelta:
    found = _AGE.match(value.strip())
    if not found:
        raise click.BadParameter("give a number and a unit: 12h, 14d or 2w")
    return timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})


@click.command("gc")
@click.option("--dry-run", is_flag=True, help="List exactly what would be removed; remove nothing.")
@click.option(
    "--older-than",
    default="14d",
    show_default=True,
    callback=parse_age,
    help="Age past which runs, salvage and backup refs go (12h, 14d, 2w).",
)
@click.option(
    "--include-unmerged",
    is_flag=True,
    help="Also delete task branches that have not landed (asks you to type a confirmation).",
)
@click.option(
    "--task",
    "tasks",
    multiple=True,
    metavar="ID",
    help="Drop the work of task ID instead (its branches; asks you to type a confirmation). "
    "Repeat for more tasks.",
)
@click.option(
    "--force", is_flag=True, help="With --task: drop a task's work while it is in progress."
)
@click.option(
    "--yes", is_flag=True, help="Give the confirmation --include-unmerged or --task asks for."
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON document.")
def gc(
    dry_run: bool,
    older_than: timedelta,
    include_unmerged: bool,
    tasks: tuple[str, ...],
    force: bool,
    yes: bool,
    as_json: bool,
) -> None:
    """Remove what the project no longer needs and print what it frees.

    Task branches that landed on the base branch (on the hub, and your local copies
    that are merged and not checked out), salvage and backup refs and run directories
    older than --older-than, sandboxes and containers no worker or run owns (never one
    holding unsaved work), a dead task server's record. Branches that have not landed
    stay unless --include-unmerged and you confirm.

    With --task ID, only that task's work goes, landed or not: its branch on the hub
    (its tip kept as a backup ref you can bring it back from) and your local branch
    when it is at the same commit. A task in progress stays unless --force.
    """
    if tasks:
        if include_unmerged:
            raise click.UsageError(
                "--task drops the named tasks' work: leave out --include-unmerged"
            )
        drop_tasks(tasks, force=force, yes=yes, dry_run=dry_run, as_json=as_json)
        return
    if force:
        raise click.UsageError("--force goes with --task")
    if include_unmerged and not (yes or dry_run or sys.stdin.isatty()):
        raise IsollmError(
            "--include-unmerged asks you to type a confirmation, and there is no terminal "
            "to type it in: nothing was removed",
            hint="run it in a terminal, or pass --yes to confirm (for scripts); "
            "`isollm gc --include-unmerged --dry-run` lists what would go",
        )
    project = Project.load()
    project = dataclasses.replace(project, run_alive=byhand.run_alive(project.root))
    options = GcOptions(older_than, include_unmerged, dry_run)
    report = collect(project, options, confirm=lambda items: yes or _confirm(items))
    if as_json:
        output.emit_json("gc", report.to_json())
        return
    render(report)


def _confirm(items: list[GcItem]) -> bool:
    if not sys.stdin.isatty():
        return False
    output.warn(f"{len(items)} task branch(es) have NOT landed; their work will be lost:")
    for item in items:
        output.info(f"  {item.kind} {item.name}")
    answer = click.prompt(f"Type '{CONFIRM_WORD}' to delete them", default="", show_default=False)
    return bool(answer.strip() == CONFIRM_WORD)


def size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover - the loop always returns


def render(r: GcReport) -> None:
    for problem in r.problems:
        output.warn(problem)
    verb = "would remove" if r.dry_run else "removed"
    if not r.removed:
        output.info("nothing to remove")
    for item in r.removed:
        shown = f"  {size(item.size)}" if item.size else ""
        output.info(f"{verb} {item.kind} {item.name}  ({item.detail}){shown}")
    if r.removed:
        output.info(f"{verb} {len(r.removed)} item(s), {size(r.freed)} freed")
    if r.kept_unmerged:
        output.info(
            f"kept {r.kept_unmerged} branch(es) that have not landed: you did not confirm "
            f"(type '{CONFIRM_WORD}' when asked to delete them)"
        )


def drop_tasks(
    tasks: tuple[str, ...], *, force: bool, yes: bool, dry_run: bool, as_json: bool
) -> None:
    """``isollm gc --task``: list the named tasks' work, confirm, drop it, say how to
    bring it back."""
    if not (yes or dry_run or sys.stdin.isatty()):
        raise IsollmError(
            "--task asks you to type a confirmation, and there is no terminal to type it "
            "in: nothing was removed",
            hint="run it in a terminal, or pass --yes to confirm (for scripts); "
            "add --dry-run to list what would go",
        )
    project = Project.load()
    works = _plan(project, tasks, force)
    asking = not (yes or dry_run)
    if asking or not as_json:
        show = _note if as_json else output.info
        for work in works:
            for line in work_lines(work, dry_run):
                show(line)
    if asking and not _typed(f"Type '{CONFIRM_WORD}' to drop the work of {len(works)} task(s)"):
        raise IsollmError(
            f"nothing was removed: you did not type '{CONFIRM_WORD}'",
            hint=f"type '{CONFIRM_WORD}' when asked, to drop the work",
        )
    report = drop.drop(project, works, dry_run=dry_run)
    if as_json:
        output.emit_json("gc-task", report.to_json())
    else:
        render_dropped(report)
    if report.problems:
        raise click.exceptions.Exit(ExitCode.USER_ERROR)


def _plan(project: Project, tasks: tuple[str, ...], force: bool) -> list[drop.TaskWork]:
    """The named tasks' work, each task's status asked of the queue. With --force an
    unreachable task server is no obstacle: the check it serves is waived."""
    try:
        client = ensure_server(project.config, project.root, notify=_note)
    except IsollmError:
        if not force:
            raise
        return drop.plan(project, tasks, lambda task_id: None, force=True)
    with client:
        book = ClientBook(client)
        return drop.plan(project, tasks, lambda t: _status(book.facts(t)), force=force)


def _status(facts: TaskFacts | None) -> str | None:
    return facts.status if facts else None


def _note(text: str) -> None:
    output.err.print(output.shown(text))


def _typed(question: str) -> bool:
    answer = click.prompt(question, default="", show_default=False, err=True)
    return bool(answer.strip() == CONFIRM_WORD)


def work_lines(work: drop.TaskWork, dry_run: bool) -> list[str]:
    """What dropping a task's work removes (and keeps); its commit subjects are an
    agent's text, made safe when printed."""
    verb = "would go" if dry_run else "goes"
    status = f" ({work.status})" if work.status else " (not in the queue)"
    lines = [
        f"task {work.task_id}{status}: hub branch {work.branch} at {work.tip[:12]} {verb}, "
        f"{work.ahead} commit(s) not on the base branch"
    ]
    lines += [f"    {terminal.safe_line(subject)}" for subject in work.subjects]
    if work.ahead > len(work.subjects):
        lines.append(f"    ... and {work.ahead - len(work.subjects)} more")
    if work.local:
        lines.append(f"  your local {work.branch} {verb} too (it is at the same commit)")
    elif work.local_kept:
        lines.append(f"  your local {work.branch} stays: {work.local_kept}")
    return lines


def render_dropped(r: drop.DropReport) -> None:
    for problem in r.problems:
        output.warn(problem)
    if r.dry_run:
        output.info("nothing was removed (dry run)")
        return
    for d in r.dropped:
        if not d.hub_removed:
            continue
        w = d.work
        output.info(f"dropped task {w.task_id}'s work: {w.branch} was at {w.tip}")
        if d.local_removed:
            output.info(f"  removed your local {w.branch}")
        back = f"git -C {shlex.quote(r.hub)} branch {w.branch} {w.tip}"
        output.info(
            f"  kept as {d.kept_as} in the hub until `isollm gc` removes it (past "
            f"--older-than); bring it back with `{back}`"
        )
