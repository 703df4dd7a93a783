"""Text from agents and the task queue made safe to show on a terminal.

A task title, a commit subject, a block reason or a log line can hold escape sequences
that move the cursor, rewrite what the screen shows, set the clipboard (OSC 52), plant
a link (OSC 8) or reorder text (bidi overrides). :func:`safe` shows every such
character as a visible escape (``\\x1b``, ``\\u202e``) instead; every renderer passes
untrusted text through it (and through ``rich.markup.escape`` when rich parses markup).
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, C1 controls, bidi embeddings/overrides/isolates
# and marks, the line and paragraph separators, and the BOM / zero-width no-break space.
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]"
)
_UNSAFE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


def _show(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(text: str) -> str:
    """``text`` with every control and bidi character shown as an escape; newlines and
    tabs are kept (for messages and log tails)."""
    return _UNSAFE.sub(_show, text)


def safe_line(text: str) -> str:
    """:func:`safe` for one-line fields (titles, subjects, reasons in a table): newlines
    and tabs are escaped too."""
    return _UNSAFE_LINE.sub(_show, text)


def is_safe_line(text: str) -> bool:
    """Whether ``text`` is one line :func:`safe_line` leaves as it is: no control,
    bidi or separator character (for checking a name before it is stored)."""
    return _UNSAFE_LINE.search(text) is None
