"""``isollm diff TASK``: what a task's branch on the hub changes (stat, then the patch)."""

from __future__ import annotations

import sys

import click

from isollm import config as cfg
from isollm import redaction, terminal
from isollm.cli import output
from isollm.land.diff import Against, TaskDiff, task_diff


@click.command("diff")
@click.argument("task_id")
@click.option("--stat", "stat_only", is_flag=True, help="Only the files and line counts.")
@click.option(
    "--against",
    type=click.Choice([a.value for a in Against]),
    default=Against.BASE.value,
    show_default=True,
    help="base: the base the task started from; now: what landing it now would change.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON document.")
def diff(task_id: str, stat_only: bool, against: str, as_json: bool) -> None:
    """Show what task TASK_ID's branch on the hub changes.

    Against the base it started from (its receipt's base commit, else the merge-base
    with the base branch) or, with --against now, against the base branch as it is on
    the hub now. A stat first, then the patch, through a pager on a terminal. Only the
    hub is read: run `isollm sync pull` to get the branch into your repository.
    """
    loaded = cfg.load_valid()
    result = task_diff(loaded.root, loaded.valid(), task_id, Against(against))
    if as_json:
        data = result.to_json()
        if stat_only:
            data.pop("patch")
        output.emit_json("diff", data)
        return
    text = render(result, stat_only=stat_only)
    if sys.stdout.isatty():
        click.echo_via_pager(text)
    else:
        with output.tolerant():
            click.echo(text, nl=False)


def render(d: TaskDiff, *, stat_only: bool) -> str:
    """The stat (and the patch), made safe for a terminal: the branch is an agent's.
    A file name is one line of the stat whatever it holds (a newline is shown escaped,
    as git quotes it in the patch)."""
    lines = [f"task {d.task_id}: {d.branch} at {d.tip[:12]}"]
    lines.append(f"against {d.base[:12]} ({d.base_source})")
    if d.conflicts:
        names = ", ".join(terminal.safe_line(name) for name in d.conflicts)
        lines.append("merging it into the base now conflicts in: " + names)
        lines.append("the patch below is the branch's own change (since it forked)")
    paths = [terminal.safe_line(f.path) for f in d.files]
    width = max((len(p) for p in paths), default=0)
    for f, path in zip(d.files, paths, strict=True):
        counts = "binary" if f.added is None else f"+{f.added} -{f.deleted}"
        lines.append(f" {path.ljust(width)}  {counts}")
    added = sum(f.added or 0 for f in d.files)
    deleted = sum(f.deleted or 0 for f in d.files)
    lines.append(f" {len(d.files)} file(s) changed, +{added} -{deleted}")
    if d.isollm_files:
        names = ", ".join(terminal.safe_line(name) for name in d.isollm_files)
        lines.append(
            f"warning: it changes isollm's own files ({names}): `isollm merge` refuses it "
            "unless you pass --allow-isollm-files"
        )
    text = "\n".join(lines) + "\n"
    if not stat_only and d.patch:
        text += "\n" + d.patch
    return terminal.safe(redaction.redact(text))
