"""``isollm diff TASK``: what a task's branch on the hub changes (stat, then the patch)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from isollm import config as cfg
from isollm import redaction, terminal
from isollm.cli import output
from isollm.config import Config
from isollm.errors import IsollmError
from isollm.land.candidates import ClientBook
from isollm.land.diff import DEPENDENCIES_MERGED, Against, TaskDiff, task_diff
from isollm.tasks.server.control import ensure_server


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

    Against where it started: its receipt's base commit (else the merge-base with the
    base branch) with the branches of the tasks it depends on merged, so only its own
    change shows. With --against now: against the base branch as it is on the hub now,
    what landing it would change. A stat first, then the patch, through a pager on a
    terminal. Only the hub is read: run `isollm sync pull` to get the branch into your
    repository.
    """
    loaded = cfg.load_valid()
    config = loaded.valid()
    deps = dependencies(loaded.root, config, task_id) if against == Against.BASE else ()
    result = task_diff(loaded.root, config, task_id, Against(against), deps)
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


def dependencies(root: Path, config: Config, task_id: str) -> tuple[str, ...]:
    """The tasks ``task_id`` depends on, as the queue says (none, with a warning, when
    the queue cannot be read: the diff may then show their changes as its own)."""
    try:
        with ensure_server(config, root, notify=_note) as client:
            facts = ClientBook(client).facts(task_id)
    except IsollmError as exc:
        output.warn(
            f"the tasks {task_id} depends on are not known (the task queue: {exc}); "
            "their changes may show as its own"
        )
        return ()
    return facts.after if facts else ()


def _note(text: str) -> None:
    output.err.print(output.shown(text))


def render(d: TaskDiff, *, stat_only: bool) -> str:
    """The stat (and the patch), made safe for a terminal: the branch is an agent's.
    A file name is one line of the stat whatever it holds (a newline is shown escaped,
    as git quotes it in the patch)."""
    lines = [f"task {d.task_id}: {d.branch} at {d.tip[:12]}"]
    lines.append(f"against {d.base[:12]} ({_source(d)})")
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


def _source(d: TaskDiff) -> str:
    """What the diff is against, in words."""
    if d.base_source == DEPENDENCIES_MERGED:
        names = ", ".join(terminal.safe_line(name) for name in d.dependencies)
        return f"where its branch started: the base with its dependencies {names} merged"
    return _SOURCES.get(d.base_source, d.base_source)


_SOURCES = {
    "receipt": "the base it started from, as its receipt records",
    "merge-base": "where it forked from the base branch",
    "base branch now": "the base branch as it is now",
}
