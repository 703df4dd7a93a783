"""``isollm demo``: the main job on an embedded sample (no network, no API key)."""

from __future__ import annotations

import shlex
import sys
import tempfile
from pathlib import Path

import click

from isollm.cli import output
from isollm.cli.progress import make_observer
from isollm.cli.run import render_summary
from isollm.demo.run import DemoResult, run_demo


@click.command("demo")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--plain", is_flag=True, help="Plain progress lines even on a terminal.")
def demo(directory: Path | None, plain: bool) -> None:
    """Run isollm's main job on a sample repository, offline.

    Creates a small git repository in DIRECTORY (a new temporary directory by default),
    queues twelve tasks (some depending on others) and runs them with four workers,
    each task in its own sandbox (no network) by a scripted agent; then shows what
    each task produced on its branch. Nothing outside DIRECTORY is touched.
    """
    target = directory or Path(tempfile.mkdtemp(prefix="isollm-demo-"))
    output.info(f"isollm demo in {target}")
    with make_observer(plain=plain or not sys.stdout.isatty()) as observer:
        result = run_demo(target, observer)
    _render(result)


def _render(result: DemoResult) -> None:
    output.info("")
    render_summary(result.run.summary)
    output.info("\nWhat each task produced on its branch:")
    for p in result.produced:
        head = p.commit[:10] if p.commit else "(no commit)"
        output.info(f"\n{p.task_id}  {p.title}  [{p.branch} @ {head}]")
        for rel, text in p.files.items():
            output.info(f"  --- {rel}")
            for line in text.rstrip("\n").splitlines():
                output.info(f"  | {line}")
    program = sys.argv[0] if "/" in sys.argv[0] else "isollm"
    again = shlex.join([program, "-C", str(result.directory), "run", "show"])
    home = shlex.quote(str(result.directory / ".isollm-home"))
    land = shlex.join([program, "-C", str(result.directory), "merge", "--all"])
    pull = shlex.join([program, "-C", str(result.directory), "sync", "pull"])
    output.info(
        f"\nThe branches are in {result.directory} too (`git branch -a` there); "
        f"see the run again with `{again}`.\n"
        f"Land them on main (each conflict-checked, one at a time) with "
        f"`ISOLLM_HOME={home} {land}`, then `ISOLLM_HOME={home} {pull}`."
    )
    if result.run.errors or not all(p.commit for p in result.produced):
        raise click.exceptions.Exit(1)
