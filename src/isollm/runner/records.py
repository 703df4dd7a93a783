"""The run's state files as dataclasses, on top of :mod:`isollm.records`.

A record class carries its schema version in a ``format`` field whose default is the
version this isollm writes, and may list migrations in a ``MIGRATIONS`` class variable
(``{N: step}`` turning a version-N document into N+1). :mod:`isollm.records` writes
atomically and checks the version; a file without ``format`` is version 1 (the run's
files always had one). Building the dataclass reuses the config loader
(:func:`isollm.config.coerce.build`), so a record's fields may be ``str``, ``int``,
``float``, ``bool``, ``Literal``, ``list``, ``dict``, optional, or another such
dataclass, and every problem is named.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

from isollm import records
from isollm.config.coerce import build
from isollm.config.report import Report
from isollm.errors import StateError

T = TypeVar("T")


def to_dict(record: Any) -> dict[str, Any]:
    """A dataclass instance as a JSON-ready dict (fields in declaration order)."""
    return dataclasses.asdict(record)


def schema(cls: type, what: str) -> records.Schema:
    """The schema of record class ``cls`` (see the module's docstring)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    version = fields["format"].default if "format" in fields else 1
    if not isinstance(version, int):
        raise TypeError(f"{cls.__name__}.format must default to an int")
    return records.Schema(
        what,
        version,
        migrations=getattr(cls, "MIGRATIONS", {}),
        key="format",
        unversioned=1,
        hint=_REPAIR_HINT,
    )


def write(path: Path, record: Any) -> None:
    """Replace ``path`` atomically and durably with ``record`` as indented JSON, every
    registered secret masked (:mod:`isollm.redaction`)."""
    records.write(path, to_dict(record), schema(type(record), type(record).__name__))


def from_dict(cls: type[T], data: Any, what: str) -> T:
    """An instance of dataclass ``cls`` from parsed JSON; StateError naming each problem."""
    try:
        data = records.upgrade(data, schema(cls, what))
    except records.NewerFormatError as exc:
        raise records.NewerRecordError(
            f"{what} was {exc}", hint="upgrade isollm to read it"
        ) from None
    except records.RecordFormatError as exc:
        raise records.CorruptRecordError(f"{what} is not valid: {exc}", hint=_REPAIR_HINT) from None
    return _build(cls, data, what)


def _build(cls: type[T], data: dict[str, Any], what: str) -> T:
    report = Report()
    required = [
        f.name
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
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
        raise records.CorruptRecordError(f"{what} is not valid: {problems}", hint=_REPAIR_HINT)
    return record


def read(cls: type[T], path: Path, what: str) -> T:
    """Load ``path`` (written by :func:`write`) as a ``cls``; StateError if unreadable."""
    try:
        data = records.read(path, schema(cls, what))
    except FileNotFoundError:
        raise StateError(f"{what} {path} does not exist") from None
    return _build(cls, data, f"{what} {path}")


_REPAIR_HINT = "it was changed by hand or by another program; restore it or delete the run"
