"""The dashboard fitted to the terminal it is drawn in (``isollm status --watch``).

The dashboard pane of a session is a fifth of its window: shorter than the full view.
Written as it is, the view would scroll the pane and leave its end on screen (the
services), never the workers. So a view taller than the terminal becomes the brief
line and the workers, as many as fit, with a last line saying what was left out; the
lines under the view (the watch's problems) are kept. A line wider than the terminal is
cut, not wrapped onto the next row. Pure: the caller says how big the terminal is.
"""

from __future__ import annotations

import unicodedata

WORKERS = "Workers"  # how the full view's workers section begins
MORE = "… {count} more line(s): a taller pane shows them, or run `isollm status`"


def fit(full: str, brief: str, rows: int, columns: int, below: tuple[str, ...] = ()) -> str:
    """``full`` (the whole view, lines ending in newlines) and the lines ``below`` it,
    fitted to ``rows`` × ``columns``; ``brief`` stands in for the rest when it is too tall."""
    lines = [*full.splitlines(), *below]
    if rows > 0 and len(lines) > rows:
        lines = _short(full.splitlines(), brief, rows, below)
    if columns > 0:
        lines = [clip_width(line, columns) for line in lines]
    return "".join(line + "\n" for line in lines)


def _short(lines: list[str], brief: str, rows: int, below: tuple[str, ...]) -> list[str]:
    """The brief line, the workers section and ``below``, within ``rows`` when possible."""
    shown = [brief, *_workers(lines)]
    room = max(rows - len(below), 1)
    if len(shown) > room:
        kept = max(room - 1, 1)
        left = len(shown) - kept
        shown = [*shown[:kept], MORE.format(count=left)]
    return [*shown, *below][: max(rows, 1)]


def _workers(lines: list[str]) -> list[str]:
    """The full view's workers section: its heading line up to the next blank line."""
    start = next((i for i, line in enumerate(lines) if line.startswith(WORKERS)), None)
    if start is None:
        return []
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start:end]


def clip_width(line: str, columns: int) -> str:
    """``line`` cut to at most ``columns`` terminal cells (wide characters take two)."""
    used = 0
    for index, char in enumerate(line):
        cells = _cells(char)
        if used + cells > columns:
            return line[:index]
        used += cells
    return line


def _cells(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
