"""``isollm status [--brief|--json] [--watch SECONDS]``: every worker, its agent's state,
the queue, sync and services at a glance.

Collect (:mod:`isollm.session.status.collect`) → one snapshot → render. ``--brief``
renders the snapshot the last collect saved when it is fresh (the dashboard's
``--watch`` keeps it so), importing nothing heavy; otherwise it collects itself.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from isollm.cli import output, status_brief
from isollm.session.status import fit, render, snapfile
from isollm.session.status.model import Snapshot

if TYPE_CHECKING:  # imported when used: --brief must not load it
    from isollm.session.status.collect import Collector

# The dashboard redraws in place without flicker: cursor home, each line cleared to its
# end as it is written, then the rest of the screen cleared.
HOME, CLEAR_LINE, CLEAR_BELOW = "\x1b[H", "\x1b[K", "\x1b[J"


def _take(collector: Collector, *, cpu: bool) -> Snapshot:
    snapshot = collector.collect(cpu=cpu)
    snapfile.write(collector.root, snapshot)
    return snapshot


def _print(snapshot: Snapshot, *, brief: bool, as_json: bool, compact: bool = False) -> None:
    with output.tolerant():
        if as_json and compact:  # --watch --json: one document per line
            doc = {"schema": output.JSON_SCHEMA_VERSION, "kind": "status"}
            sys.stdout.write(json.dumps({**doc, "data": snapshot.to_json()}) + "\n")
        elif as_json:
            output.emit_json("status", snapshot.to_json())
        else:
            sys.stdout.write(render.brief(snapshot) + "\n" if brief else render.full(snapshot))
        sys.stdout.flush()


def _quick_brief() -> bool:
    """Print the brief line from a fresh saved snapshot; False when there is none."""
    return status_brief.print_saved(Path.cwd())


def _watch(collector: Collector, seconds: float, *, brief: bool, as_json: bool) -> None:
    from isollm.session.settings import SessionSettings  # noqa: PLC0415 - not on the --brief path
    from isollm.session.status.watch import Notifier, watch  # noqa: PLC0415 - not on the --brief path

    settings = SessionSettings.from_config(collector.config)
    terminal = sys.stdout.isatty()

    def bell(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    def show(snapshot: Snapshot, problems: list[str]) -> None:
        if as_json:
            _print(snapshot, brief=brief, as_json=True, compact=True)
            return
        below = tuple(f"! {render.clip(problem, 200)}" for problem in problems)
        text = render.brief(snapshot) + "\n" if brief else render.full(snapshot)
        if terminal:
            size = shutil.get_terminal_size()
            text = fit.fit(text, render.brief(snapshot), size.lines, size.columns, below)
            # no newline after the last line: on the bottom row it would scroll the view
            text = HOME + text[:-1].replace("\n", CLEAR_LINE + "\n") + CLEAR_LINE + CLEAR_BELOW
        else:
            text += "".join(line + "\n" for line in below)
        with output.tolerant():
            sys.stdout.write(text)
            sys.stdout.flush()

    notifier = Notifier(settings.notify, bell)
    try:
        watch(
            lambda: _take(collector, cpu=not brief),
            show,
            notifier,
            interval=seconds,
            sleep=time.sleep,
        )
    except KeyboardInterrupt:  # Ctrl-C ends a watch: that is how one stops it
        notifier.wait(1.0)


@click.command("status")
@click.option("--brief", is_flag=True, help="One line: workers by state, tasks, services.")
@click.option("--json", "as_json", is_flag=True, help="Print the versioned status document.")
@click.option(
    "--watch",
    "seconds",
    type=click.FloatRange(min=0.5),
    metavar="SECONDS",
    help="Redraw every SECONDS; ring and notify when a worker starts waiting for you.",
)
def status(brief: bool, as_json: bool, seconds: float | None) -> None:
    """Show every worker, its agent's state and task, the queue, sync and services.

    Works with or without a session: it shows what exists. The dashboard pane of
    `isollm up` runs `isollm status --watch 2`.
    """
    if brief and not as_json and seconds is None and _quick_brief():
        return
    from isollm import config as cfg  # noqa: PLC0415 - not on the --brief path
    from isollm.session.status.collect import Collector  # noqa: PLC0415 - not on the --brief path

    loaded = cfg.load_valid()
    with Collector(loaded.root, loaded.config) as collector:
        previous = snapfile.read_fresh(loaded.root)
        if previous is not None:
            collector.seed(previous)
        if seconds is not None:
            _watch(collector, seconds, brief=brief, as_json=as_json)
            return
        snapshot = _take(collector, cpu=not brief)
        _print(snapshot, brief=brief, as_json=as_json)
