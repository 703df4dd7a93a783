"""``isollm status --brief`` from the snapshot the last collect saved: the line the
dashboard asks for every 2 s, so it must start fast.

Click-free (the saved snapshot, its renderer and :mod:`isollm.cli.output` only):
:func:`isollm.cli.main.main` runs it before importing click when the arguments are
exactly ``status --brief``; ``isollm status --brief`` runs it otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path

from isollm.cli import output
from isollm.session.status import render, snapfile


def print_saved(start: Path) -> bool:
    """Print the brief line from a fresh saved snapshot of the project at or above
    ``start``; False, nothing printed, when there is none (the caller collects)."""
    root = snapfile.project_root(start)
    snapshot = snapfile.read_fresh(root) if root is not None else None
    if snapshot is None:
        return False
    with output.tolerant():
        sys.stdout.write(render.brief(snapshot) + "\n")
        sys.stdout.flush()
    return True
