"""An exception that is not isollm's own, met inside an attempt: the attempt fails with
a short reason, and the traceback (secrets masked) goes to the end of the attempt's log,
where ``isollm run show`` points.

A full disk is neither a bug nor the task's fault: :func:`disk_full` finds it in an
error (or what caused it), and the run stops with :class:`DiskFullError`, resumable once
space is freed, instead of charging tasks for it or writing a crash log.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import traceback
from pathlib import Path

from isollm import redaction
from isollm.errors import IsollmError, RunError

log = logging.getLogger(__name__)

_REASON_CHARS = 300
_FULL = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(RunError):
    """A disk isollm writes to is full (or the user's quota is used up)."""


def disk_full(exc: BaseException) -> OSError | None:
    """The "no space left" OSError ``exc`` is or was caused by, else None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _FULL:
            return current
        current = current.__cause__ or current.__context__
    return None


def disk_full_error(exc: BaseException, full: OSError, run_id: str | None) -> DiskFullError:
    """What to tell the user about ``exc``, a full disk (``full``, what :func:`disk_full`
    found in it): what was being written where known, and how to carry on."""
    if full.filename:
        what = f"{full.strerror} writing {full.filename}"
    elif exc is not full and isinstance(exc, IsollmError):  # says what it was writing
        what = str(exc.message).splitlines()[0]
    else:
        what = full.strerror or "no space left on device"
    carry_on = (
        f"then `isollm run --resume {run_id}` carries on where it stopped"
        if run_id
        else "then run the same command again"
    )
    return DiskFullError(
        f"the disk is full ({what}): the run stopped, its state intact",
        hint=f"free some space (`df -h` shows where), {carry_on}",
    )


def crashed(exc: BaseException, attempt_log: Path) -> str:
    """The failure reason for ``exc``; its traceback appended to ``attempt_log``."""
    log.debug("attempt crashed", exc_info=exc)
    text = "".join(traceback.format_exception(exc))
    # a full disk: the reason still says what it was
    with (
        contextlib.suppress(OSError),
        attempt_log.open("a", encoding="utf-8", errors="replace") as out,
    ):
        out.write("\n--- isollm: unexpected error in this attempt ---\n")
        out.write(redaction.redact(text))
    what = redaction.redact(f"{type(exc).__name__}: {exc}")[:_REASON_CHARS]
    return f"unexpected error (a bug in isollm?): {what}; the traceback is in the attempt's log"
