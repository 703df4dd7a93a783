"""How commands show results: rich text on a terminal, versioned JSON for scripts."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape

JSON_SCHEMA_VERSION = 1

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def emit_json(kind: str, data: Any) -> None:
    """Print one versioned JSON document: ``{"schema": 1, "kind": ..., "data": ...}``."""
    doc = {"schema": JSON_SCHEMA_VERSION, "kind": kind, "data": data}
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/yellow] {message}", markup=True, highlight=False)


def error(message: str) -> None:
    err.print(f"[red]error:[/red] {escape(message)}", markup=True)


def info(message: str) -> None:
    out.print(escape(message))
