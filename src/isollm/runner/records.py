"""Versioned JSON state files as dataclasses: write atomically, read with every problem named.

Reading reuses the config loader (:func:`isollm.config.coerce.build`), so a record's
fields may be ``str``, ``int``, ``float``, ``bool``, ``Literal``, ``list``, ``dict``,
optional, or another such dataclass.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, TypeVar

from isollm import fsutil, redaction
from isollm.config.coerce import build
from isollm.config.report import Report
from isollm.errors import StateError

T = TypeVar("T")


def to_dict(record: Any) -> dict[str, Any]:
    """A dataclass instance as a JSON-ready dict (fields in declaration order)."""
    return dataclasses.asdict(record)


def write(path: Path, record: Any) -> None:
    """Replace ``path`` atomically and durably with ``record`` as indented JSON, every
    registered secret masked (:mod:`isollm.redaction`)."""
    fsutil.atomic_write_json(path, redaction.redact_value(to_dict(record)))


def from_dict(cls: type[T], data: Any, what: str) -> T:
    """An instance of dataclass ``cls`` from parsed JSON; StateError naming each problem."""
    _check_format(cls, data, what)
    report = Report()
    required = [
        f.name
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if isinstance(data, dict):
        for name in required:
            if data.get(name) is None:
                report.error(name, "is missing")
    record = None
    try:
        record = build(cls, data, report)
    except TypeError:  # a required field is missing or was reported wrong and left out
        if not report.errors:
            raise
    except ValueError as exc:  # refused by the record's __post_init__
        report.error("", str(exc))
    if record is None or report.errors:
        problems = "; ".join(str(p) for p in report.errors)
        raise StateError(f"{what} is not valid: {problems}", hint=_REPAIR_HINT)
    return record


def _check_format(cls: type, data: Any, what: str) -> None:
    """Refuse a record written in a newer ``format`` than this isollm's default for ``cls``."""
    ours = getattr(cls, "format", None)
    theirs = data.get("format") if isinstance(data, dict) else None
    if isinstance(ours, int) and isinstance(theirs, int) and theirs > ours:
        raise StateError(
            f"{what} was written by a newer isollm (format {theirs}; this isollm reads {ours})",
            hint="upgrade isollm to read it",
        )


def read(cls: type[T], path: Path, what: str) -> T:
    """Load ``path`` (written by :func:`write`) as a ``cls``; StateError if unreadable."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise StateError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise StateError(f"cannot read {what} {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise StateError(f"{what} {path} is not valid JSON: {exc}", hint=_REPAIR_HINT) from exc
    return from_dict(cls, data, f"{what} {path}")


_REPAIR_HINT = "it was changed by hand or by another program; restore it or delete the run"
