"""``isollm status --brief`` from the snapshot the last collect saved: the line the
dashboard asks for every 2 s, so it must start fast.

Click-free (the cached line, :mod:`.briefcache`, and :mod:`isollm.cli.output` only):
:func:`isollm.cli.main.main` runs it before importing click when the arguments are
exactly ``status --brief``; ``isollm status --brief`` runs it otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path

from isollm.cli import output
from isollm.session.status import briefcache


def print_saved(start: Path) -> bool:
    """Print the brief line the last collect cached for the project at or above
    ``start``, when it is fresh; False, nothing printed, otherwise (the caller collects)."""
    root = briefcache.project_root(start)
    line = briefcache.read_fresh(root) if root is not None else None
    if line is None:
        return False
    with output.tolerant():
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    return True
