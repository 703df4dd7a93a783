"""How commands show results: rich text on a terminal, versioned JSON for scripts.

Every message shown goes through :func:`shown`: registered secrets masked, control and
bidi characters escaped (:func:`isollm.terminal.safe`), rich markup escaped. Titles,
reasons and log lines come from agents and the task queue, so no caller needs to care.

Every command imports this module before it runs, ``isollm status --brief`` every 2 s
in the dashboard: rich is imported when something is first printed through it, and
:data:`out` and :data:`err` are made then.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from isollm import redaction, terminal

if TYPE_CHECKING:
    from rich.console import Console

    out: Console  # stdout, made on first use by __getattr__
    err: Console  # stderr, likewise

JSON_SCHEMA_VERSION = 1

_consoles_made = threading.Lock()


def _console(name: str) -> Console:
    """``out`` or ``err``, made on first use (or as a test replaced it)."""
    console: Console | None = globals().get(name)
    if console is None:
        with _consoles_made:
            console = globals().get(name)
            if console is None:
                from rich.console import Console  # noqa: PLC0415 - see the module docstring

                console = Console(stderr=name == "err", highlight=False, soft_wrap=True)
                globals()[name] = console
    return console


if not TYPE_CHECKING:  # mypy sees the variables declared above

    def __getattr__(name: str) -> Console:  # `output.out`, `output.err` (PEP 562)
        if name in ("out", "err"):
            return _console(name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def emit_json(kind: str, data: Any) -> None:
    """Print one versioned JSON document: ``{"schema": 1, "kind": ..., "data": ...}``."""
    import json  # noqa: PLC0415 - see the module docstring

    doc = {"schema": JSON_SCHEMA_VERSION, "kind": kind, "data": data}
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")


def shown(text: str) -> str:
    """``text`` ready to print with rich markup on: nothing in it is markup, a control
    sequence or a secret."""
    from rich.markup import escape  # noqa: PLC0415 - see the module docstring

    return escape(terminal.safe(redaction.redact(text)))


def warn(message: str) -> None:
    _console("err").print(
        f"[yellow]warning:[/yellow] {shown(message)}", markup=True, highlight=False
    )


def error(message: str) -> None:
    _console("err").print(f"[red]error:[/red] {shown(message)}", markup=True)


def info(message: str) -> None:
    _console("out").print(shown(message))


@contextlib.contextmanager
def tolerant() -> Iterator[None]:
    """Output that may fail without failing the command: a closed pipe (``| head``) or
    a full disk under a redirect ends the output, not the work or its exit code."""
    try:
        yield
    except OSError as exc:  # BrokenPipeError included
        import logging  # noqa: PLC0415 - see the module docstring

        logging.getLogger(__name__).debug("output stopped: %s", exc)
        _quiet_stdout()


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so later writes and the flush at exit cannot fail."""
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError):  # not a real file (tests, embedding)
        return
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
