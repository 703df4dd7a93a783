"""An exception that is not isollm's own, met inside an attempt: the attempt fails with
a short reason, and the traceback (secrets masked) goes to the end of the attempt's log,
where ``isollm run show`` points."""

from __future__ import annotations

import contextlib
import logging
import traceback
from pathlib import Path

from isollm import redaction

log = logging.getLogger(__name__)

_REASON_CHARS = 300


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
