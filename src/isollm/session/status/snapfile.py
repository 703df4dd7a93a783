"""The last snapshot on disk, so ``isollm status --brief`` (run every 2 s) stays cheap.

Every collect writes ``.isollm/status.json`` (a versioned record, atomic: see
:mod:`isollm.records`); ``--brief`` renders it when it is fresh instead of asking the
task server, the hub and every sandbox again. While ``isollm status --watch`` runs (the
dashboard pane) it always is. Standard library, :mod:`isollm.records` and the model only:
this is the import path of ``--brief`` (no config parser, no HTTP client, no rich).
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from isollm import fsutil, records
from isollm.session.status import briefcache, render
from isollm.session.status.briefcache import STATE_DIR
from isollm.session.status.model import STATUS_VERSION, Snapshot

FILE = "status.json"
FRESH_SECONDS = 5.0
SCHEMA = records.Schema("status snapshot", STATUS_VERSION, {})


def path_for(root: Path) -> Path:
    return root / STATE_DIR / FILE


def write(root: Path, snapshot: Snapshot) -> None:
    """Save ``snapshot`` for the next ``--brief``; a failure only costs that speed-up."""
    with contextlib.suppress(OSError):
        fsutil.ensure_dir(root / STATE_DIR)
        records.write(path_for(root), snapshot.to_json(), SCHEMA)
    briefcache.write(root, render.brief(snapshot))


def read_fresh(
    root: Path, *, now: datetime | None = None, max_age: float = FRESH_SECONDS
) -> Snapshot | None:
    """The saved snapshot when it is at most ``max_age`` seconds old; else None
    (missing, stale, unreadable, or of another version)."""
    try:
        data = records.read(path_for(root), SCHEMA)
    except (OSError, records.RecordError):
        return None
    snapshot = Snapshot.from_json(data)
    age = (now or datetime.now(UTC)) - snapshot.taken_at
    if age > timedelta(seconds=max_age) or age < timedelta(seconds=-max_age):
        return None
    return snapshot
