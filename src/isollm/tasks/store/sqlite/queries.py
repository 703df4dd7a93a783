"""The SQL of the SQLite task store, read from ``sql/`` once: all of it lives there.

``sql/queries.sql`` holds named statements (``-- name: claim_next``);
``sql/migrations/NNNN_*.sql`` are the schema versions, applied in order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)
_MIGRATION = re.compile(r"^(\d{4})_\w+\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def parse_named(text: str) -> dict[str, str]:
    """``{name: statement}`` from text made of ``-- name: x`` blocks."""
    parts = _NAME.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice")
        queries[name] = body.strip()
    return queries


@cache
def queries() -> dict[str, str]:
    text = (
        resources.files("isollm.tasks.store.sqlite").joinpath("sql/queries.sql").read_text("utf-8")
    )
    return parse_named(text)


@cache
def migrations() -> tuple[Migration, ...]:
    folder = resources.files("isollm.tasks.store.sqlite").joinpath("sql/migrations")
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    expected = list(range(1, len(found) + 1))
    if [m.version for m in found] != expected:
        raise RuntimeError(f"task store migrations are not numbered 1..n: {found}")
    return tuple(found)
