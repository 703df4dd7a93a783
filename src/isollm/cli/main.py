"""Entry point: runs the root command group (:mod:`isollm.cli.root`) and is the one
place errors become exit codes.

Every command pays for what this module imports before it runs, and the dashboard
runs ``isollm status --brief`` every 2 s: it imports the exit codes and nothing else.
That line, from a fresh saved snapshot, is printed before click is imported
(:mod:`isollm.cli.status_brief`); what only a failure needs is imported by the failure.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from isollm import __version__
from isollm.errors import ExitCode, IsollmError

QUICK_BRIEF = ["status", "--brief"]  # printed from the saved snapshot when it is fresh


def write_crash_log(exc: BaseException) -> Path:
    """Write versions, argv and the traceback to a crash log; return its path."""
    import importlib.metadata  # noqa: PLC0415 - see the module docstring
    import platform  # noqa: PLC0415
    import traceback  # noqa: PLC0415
    from datetime import UTC, datetime  # noqa: PLC0415

    from isollm import fsutil, redaction  # noqa: PLC0415

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
    args = sys.argv[1:] if argv is None else argv
    try:
        return _run(args)
    except (Exception, KeyboardInterrupt) as exc:
        return _exit_code(exc)


def _run(args: list[str]) -> int:
    if args == QUICK_BRIEF:
        from isollm.cli import status_brief  # noqa: PLC0415 - see the module docstring

        if status_brief.print_saved(Path.cwd()):
            return ExitCode.OK
    from isollm.cli.root import cli  # noqa: PLC0415 - imports click, which the above does not

    # standalone_mode=False returns the code of click.exceptions.Exit instead of exiting.
    result = cli.main(args=args, prog_name="isollm", standalone_mode=False)
    # An int here is the code of a click.exceptions.Exit raised by a command.
    return result if isinstance(result, int) and not isinstance(result, bool) else ExitCode.OK


def _exit_code(exc: Exception | KeyboardInterrupt) -> int:
    """The exit code of a run that raised ``exc``, after telling the user why."""
    import click  # noqa: PLC0415 - see the module docstring

    from isollm.cli import output  # noqa: PLC0415

    if isinstance(exc, click.ClickException):
        exc.show()
        return ExitCode.USAGE if isinstance(exc, click.UsageError) else ExitCode.USER_ERROR
    if isinstance(exc, click.Abort | KeyboardInterrupt):
        output.err.print("interrupted")
        return ExitCode.INTERRUPTED
    if isinstance(exc, IsollmError):
        output.error(str(exc))
        return ExitCode.USER_ERROR
    if isinstance(exc, BrokenPipeError):  # `isollm ... | head`: stop quietly
        _silence_stdout()
        return ExitCode.OK
    return _crash(exc)  # last resort: a crash log and exit 3


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
    import traceback  # noqa: PLC0415 - see the module docstring

    from isollm.cli import output  # noqa: PLC0415

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
