"""Reading a file an agent could have written (an instruction file a dependency's
branch brought in, say): bounded, regular files only, never through a symlink.

From the host when the workspace is visible there (:func:`isollm.fsutil.read_bounded`),
else by a command in the sandbox that refuses anything but a regular file of at most
``limit`` bytes and never prints more than that. ``AGENTS.md -> /dev/zero``, a FIFO or
a 2 GB sparse file read as absent, with a warning: the caller replaces the file.
"""

from __future__ import annotations

import logging

from isollm import fsutil
from isollm.sandbox.base import Sandbox

log = logging.getLogger(__name__)

# `sh -c READ_SCRIPT sh FILE LIMIT`: exit 3 if FILE is missing, 4 if it leaves the
# workspace, goes through a symlink anywhere on its path, is not a regular file or is
# larger than LIMIT bytes; else print it (head stops at LIMIT + 1 bytes even if it grows
# meanwhile).
READ_SCRIPT = """f=$1
case /$f/ in //*|*/../*) exit 4 ;; esac
set -f; IFS=/; p=
for part in $f; do p=${p:+$p/}$part; [ ! -L "$p" ] || exit 4; done
unset IFS; set +f
[ -e "$f" ] || exit 3
[ -f "$f" ] && [ ! -L "$f" ] || exit 4
[ "$(wc -c < "$f")" -le "$2" ] || exit 4
exec head -c "$(($2 + 1))" -- "$f"
"""
_MISSING, _REFUSED = 3, 4


def read_text(sb: Sandbox, rel: str, *, limit: int = fsutil.MAX_AGENT_FILE) -> str | None:
    """The text of the workspace file ``rel``, or None if it is missing or refused."""
    host = sb.host_workspace
    if host is not None:
        try:
            data = fsutil.read_bounded(host, rel, limit=limit)
        except fsutil.UnsafeFileError as exc:
            log.warning("ignored %s in sandbox %s: %s", rel, sb.name, exc.message)
            return None
        except PermissionError:
            data = _read_inside(sb, rel, limit)
    else:
        data = _read_inside(sb, rel, limit)
    return None if data is None else data.decode("utf-8", errors="replace")


def _read_inside(sb: Sandbox, rel: str, limit: int) -> bytes | None:
    result = sb.exec(["sh", "-c", READ_SCRIPT, "sh", rel, str(limit)], timeout=60)
    if result.returncode == _REFUSED or (result.ok and len(result.stdout) > limit):
        log.warning(
            "ignored %s in sandbox %s: not a regular file of at most %d bytes", rel, sb.name, limit
        )
        return None
    return result.stdout.encode() if result.ok else None
