"""The brief status line, cached for the dashboard: ``isollm status --brief`` runs every
2 s, so reading it back must cost next to nothing.

Every collect writes the line it renders for ``--brief`` to ``.isollm/status-brief.txt``
(atomically); ``--brief`` prints it while the file is at most :data:`FRESH_SECONDS` old
(its modification time). A cache of a display line, not state: standard library and
:mod:`isollm.terminal` only, no parsing, nothing of the snapshot's model imported
(:mod:`.snapfile` keeps the whole snapshot, versioned, for everything else).
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from pathlib import Path

from isollm.terminal import safe_line

FILE = "status-brief.txt"
STATE_DIR = ".isollm"  # isollm.config.STATE_DIR (not imported: it loads the YAML parser)
CONFIG_FILE = "isollm.yaml"  # isollm.config.CONFIG_FILE, likewise
FRESH_SECONDS = 5.0
MAX_BYTES = 4096


def project_root(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` holding isollm.yaml (the cheap twin
    of :func:`isollm.config.find_project_root`); None when there is none."""
    with contextlib.suppress(OSError):
        here = start.resolve()
        for directory in (here, *here.parents):
            if (directory / CONFIG_FILE).is_file():
                return directory
    return None


def path_for(root: Path) -> Path:
    return root / STATE_DIR / FILE


def write(root: Path, line: str) -> None:
    """Keep ``line`` for the next ``--brief``; a failure only costs that speed-up."""
    from isollm import fsutil  # noqa: PLC0415 - the writer may pay for it, the reader not

    with contextlib.suppress(OSError):
        fsutil.ensure_dir(root / STATE_DIR)
        fsutil.atomic_write_text(path_for(root), line.rstrip("\n")[:MAX_BYTES] + "\n")


def read_fresh(root: Path, *, max_age: float = FRESH_SECONDS) -> str | None:
    """The cached line when its file is at most ``max_age`` seconds old; else None.

    Only a regular file is read, never through a symbolic link (a checkout can bring
    ``.isollm/`` files an agent committed: a link to ``/dev/tty`` or a FIFO would hang
    the dashboard), and what it holds is printed terminal-safe whoever wrote it."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path_for(root), flags)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or abs(time.time() - info.st_mtime) > max_age:
            return None
        data = os.read(fd, MAX_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    return safe_line(data.decode("utf-8", "replace").rstrip("\n")) or None
