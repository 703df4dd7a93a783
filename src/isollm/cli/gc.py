"""``isollm gc``: remove landed task branches, old runs and refs, orphaned sandboxes."""

from __future__ import annotations

import dataclasses
import re
import sys
from datetime import timedelta

import click

from isollm.cli import output
from isollm.errors import IsollmError
from isollm.land.gc import GcItem, GcOptions, GcReport, collect
from isollm.runner import byhand
from isollm.sandbox.workers import Project

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
@click.option("--yes", is_flag=True, help="Give the confirmation --include-unmerged asks for.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON document.")
def gc(
    dry_run: bool, older_than: timedelta, include_unmerged: bool, yes: bool, as_json: bool
) -> None:
    """Remove what the project no longer needs and print what it frees.

    Task branches that landed on the base branch (on the hub, and your local copies
    that are merged and not checked out), salvage and backup refs and run directories
    older than --older-than, sandboxes and containers no worker or run owns (never one
    holding unsaved work), a dead task server's record. Branches that have not landed
    stay unless --include-unmerged and you confirm.
    """
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
