"""How commands show results: rich text on a terminal, versioned JSON for scripts.

Every message shown goes through :func:`shown`: registered secrets masked, control and
bidi characters escaped (:func:`isollm.terminal.safe`), rich markup escaped. Titles,
reasons and log lines come from agents and the task queue, so no caller needs to care.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.markup import escape

from isollm import redaction, terminal

JSON_SCHEMA_VERSION = 1

log = logging.getLogger(__name__)

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def emit_json(kind: str, data: Any) -> None:
    """Print one versioned JSON document: ``{"schema": 1, "kind": ..., "data": ...}``."""
    doc = {"schema": JSON_SCHEMA_VERSION, "kind": kind, "data": data}
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")


def shown(text: str) -> str:
    """``text`` ready to print with rich markup on: nothing in it is markup, a control
    sequence or a secret."""
    return escape(terminal.safe(redaction.redact(text)))


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/yellow] {shown(message)}", markup=True, highlight=False)


def error(message: str) -> None:
    err.print(f"[red]error:[/red] {shown(message)}", markup=True)


def info(message: str) -> None:
    out.print(shown(message))


@contextlib.contextmanager
def tolerant() -> Iterator[None]:
    """Output that may fail without failing the command: a closed pipe (``| head``) or
    a full disk under a redirect ends the output, not the work or its exit code."""
    try:
        yield
    except OSError as exc:  # BrokenPipeError included
        log.debug("output stopped: %s", exc)
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
