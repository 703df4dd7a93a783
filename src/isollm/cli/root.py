"""The root command group: its options and every command, each imported when it runs.

Listing the commands (``isollm --help``) imports none of them: their summaries are kept
here. :mod:`isollm.cli.main` runs the group and maps every outcome to an exit code.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import NamedTuple

import click

from isollm import __version__
from isollm.errors import IsollmError

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class Entry(NamedTuple):
    target: str  # "module:attribute" of the click command
    summary: str  # the first paragraph of its help, which `isollm --help` lists


# Modules are imported only when their command runs or shows its own help, so `isollm`
# starts fast whatever the heavy parts import. tests/unit/test_cli_start.py checks that
# each summary is its command's.
COMMANDS: dict[str, Entry] = {
    "init": Entry(
        "isollm.cli.init:init",
        "Create isollm.yaml (commented defaults) and .isollm/ in a git repository.",
    ),
    "serve": Entry(
        "isollm.cli.server:serve", "Run the task server in the foreground until Ctrl-C."
    ),
    "server": Entry(
        "isollm.cli.server:server_group", "Run isollm's task server in the background."
    ),
    "task": Entry("isollm.cli.task:task_group", "Add, list and manage the tasks agents work on."),
    "config": Entry("isollm.cli.config:config_group", "Show, edit and validate isollm.yaml."),
    "run": Entry(
        "isollm.cli.run:run_group",
        "Run agents headless over the task queue, each task in its own sandbox and branch.",
    ),
    "demo": Entry("isollm.cli.demo:demo", "Run isollm's main job on a sample repository, offline."),
    "doctor": Entry(
        "isollm.cli.doctor:doctor",
        "Check that `isollm run` can work here, without claiming any task.",
    ),
    "sync": Entry(
        "isollm.cli.sync:sync_group",
        "Move commits between your repository and the project's hub.",
    ),
    "worker": Entry(
        "isollm.cli.worker:worker_group",
        "Create and manage workers: isolated sandboxes holding a checkout of the hub.",
    ),
    "up": Entry(
        "isollm.cli.session:up",
        "Start an interactive session: every worker's agent in a pane, a dashboard beside.",
    ),
    "attach": Entry(
        "isollm.cli.session:attach",
        "Join the running session, or with WORKER: its pane, or its agent here.",
    ),
    "down": Entry(
        "isollm.cli.session:down",
        "End the session: save unsaved work, give back claimed tasks, stop the panes.",
    ),
    "status": Entry(
        "isollm.cli.status:status",
        "Show every worker, its agent's state and task, the queue, sync and services.",
    ),
    "diff": Entry("isollm.cli.diff:diff", "Show what task TASK_ID's branch on the hub changes."),
    "merge": Entry(
        "isollm.cli.merge:merge_command",
        "Land the branches of TASKS (or --all done tasks) on the base branch in the hub.",
    ),
    "gc": Entry(
        "isollm.cli.gc:gc", "Remove what the project no longer needs and print what it frees."
    ),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attr = entry.target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{entry.target} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the commands from their summaries: click's own layout, no command imported."""
        listed = [click.Command(name, help=entry.summary) for name, entry in COMMANDS.items()]
        click.Group(commands=listed).format_commands(ctx, formatter)


@click.group(cls=LazyGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "-V", "--version", prog_name="isollm")
@click.option("-v", "--verbose", is_flag=True, help="Log every external command (debug output).")
@click.option(
    "-C",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run as if isollm was started in this directory.",
)
def cli(verbose: bool, directory: Path | None) -> None:
    """Run many AI coding agents in parallel on one repository.

    Each agent works in its own sandbox, on its own branch, on tasks it claims from a
    shared queue. Start with `isollm init` in a git repository.
    """
    import logging  # noqa: PLC0415 - not on the path of --version and --help

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if directory is not None:
        try:
            os.chdir(directory)
        except OSError as exc:
            raise IsollmError(f"cannot enter {directory}: {exc.strerror}") from exc
