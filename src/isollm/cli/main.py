"""Entry point: the root command group and the one place errors become exit codes."""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
import platform
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path

import click

from isollm import __version__, fsutil, redaction
from isollm.cli import output
from isollm.errors import ExitCode, IsollmError

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


# Command name -> "module:attribute". Modules are imported only when their command
# runs (or for --help), so `isollm` starts fast whatever the heavy parts import.
COMMANDS: dict[str, str] = {
    "init": "isollm.cli.init:init",
    "serve": "isollm.cli.server:serve",
    "server": "isollm.cli.server:server_group",
    "task": "isollm.cli.task:task_group",
    "config": "isollm.cli.config:config_group",
    "run": "isollm.cli.run:run_group",
    "demo": "isollm.cli.demo:demo",
    "doctor": "isollm.cli.doctor:doctor",
    "sync": "isollm.cli.sync:sync_group",
    "worker": "isollm.cli.worker:worker_group",
    "up": "isollm.cli.session:up",
    "attach": "isollm.cli.session:attach",
    "down": "isollm.cli.session:down",
    "status": "isollm.cli.status:status",
    "diff": "isollm.cli.diff:diff",
    "merge": "isollm.cli.merge:merge_command",
    "gc": "isollm.cli.gc:gc",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command


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
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if directory is not None:
        try:
            os.chdir(directory)
        except OSError as exc:
            raise IsollmError(f"cannot enter {directory}: {exc.strerror}") from exc


def write_crash_log(exc: BaseException) -> Path:
    """Write versions, argv and the traceback to a crash log; return its path."""
    directory = fsutil.ensure_dir(fsutil.isollm_home() / "crash")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = directory / f"crash-{stamp}-{os.getpid()}.log"
    lines = [
        f"isollm {__version__}",
        f"python {sys.version.split()[0]} on {platform.platform()}",
        f"click {importlib.metadata.version('click')}",
        f"argv: {sys.argv!r}",
        f"cwd: {os.getcwd()}",
        "",
        "".join(traceback.format_exception(exc)),
    ]
    text = redaction.redact("\n".join(lines).rstrip("\n") + "\n")
    fsutil.atomic_write_text(path, text)
    return path


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and map every outcome to an exit code; never lets a traceback out."""
    try:
        # standalone_mode=False returns the code of click.exceptions.Exit instead of exiting.
        result = cli.main(args=argv, prog_name="isollm", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return ExitCode.USAGE if isinstance(exc, click.UsageError) else ExitCode.USER_ERROR
    except (click.Abort, KeyboardInterrupt):
        output.err.print("interrupted")
        return ExitCode.INTERRUPTED
    except IsollmError as exc:
        output.error(str(exc))
        return ExitCode.USER_ERROR
    except BrokenPipeError:  # `isollm ... | head`: stop quietly
        _silence_stdout()
        return ExitCode.OK
    except Exception as exc:  # last resort: a crash log and exit 3
        return _crash(exc)
    # An int here is the code of a click.exceptions.Exit raised by a command.
    return result if isinstance(result, int) and not isinstance(result, bool) else ExitCode.OK


def _silence_stdout() -> None:
    """Point stdout at /dev/null so flushing it at exit cannot raise again."""
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError):  # not a real file (tests, embedding): nothing to do
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _crash(exc: Exception) -> int:
    try:
        path: Path | str = write_crash_log(exc)
    except OSError:
        path = "(could not write a crash log)"
        traceback.print_exc()
    output.error(
        f"isollm hit an unexpected error: {type(exc).__name__}: {exc}\n"
        f"  a crash log with the details is at {path}; please attach it to a bug report"
    )
    return ExitCode.UNEXPECTED


def entry() -> None:
    sys.exit(main())
