"""Versioned JSON state files: the one way isollm writes and reads a record on disk.

A record is a JSON object whose first key holds its schema version (``version``, or
``format`` for the run's files). Writing replaces the file atomically and durably
(:func:`isollm.fsutil.atomic_write_bytes`: a temp file beside it, fsync, rename, fsync of
the directory) with every registered secret masked (:mod:`isollm.redaction`). Reading
checks the version: an older file is brought up to date one registered migration at a
time (N -> N+1), a newer one is refused ("written by a newer isollm: upgrade"), and a
file that is not a JSON object, or whose version is not a number, is reported corrupt.

    RUN = Schema("run state", version=2, migrations={1: add_reason})
    records.write(path, {"id": ...}, RUN)
    data = records.read(path, RUN)   # a dict at version 2

Each caller turns the dict into its own typed record; this module knows no record's
fields. Every state file of isollm goes through it: the run's ``run.json``, receipts and
snapshot manifest (:mod:`isollm.runner.records`), the session and worker files
(:mod:`isollm.state.store`), a sandbox's ``sandbox.json`` (:mod:`isollm.sandbox.meta`)
and ``sandbox-ids.json`` (:mod:`isollm.sandbox.identity`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from isollm import fsutil, redaction
from isollm.errors import StateError

Migration = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Schema:
    """What a kind of record is called, the version this isollm writes, and how older
    versions are brought up to it."""

    what: str  # names the file in messages: "run state", "sandbox record"
    version: int
    # N -> a function turning a version-N document into version N+1 (it may leave the
    # version key alone: it is set after each step).
    migrations: Mapping[int, Migration] = field(default_factory=dict)
    key: str = "version"
    # The version of a file written before it carried one; None: such a file is corrupt.
    unversioned: int | None = None
    hint: str = "restore it from a backup or delete it"


class RecordFormatError(ValueError):
    """A document's version is missing, not a number, too old or too new."""


class NewerFormatError(RecordFormatError):
    """The document was written by a newer isollm."""


class RecordError(StateError):
    """A state file cannot be read; ``reason`` is the problem without the file's name."""

    def __init__(self, message: str, *, reason: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason or message


class CorruptRecordError(RecordError):
    """A state file is not a record of its kind (torn, edited, another program's)."""


class NewerRecordError(RecordError):
    """A state file was written by a newer isollm."""


def stamp(data: Mapping[str, Any], schema: Schema) -> dict[str, Any]:
    """``data`` with the schema's version as its first key."""
    return {schema.key: schema.version, **{k: v for k, v in data.items() if k != schema.key}}


def encode(data: Mapping[str, Any], schema: Schema) -> bytes:
    """The bytes :func:`write` puts on disk: stamped, secrets masked, indented JSON."""
    return fsutil.dumps_json(redaction.redact_value(stamp(data, schema))).encode()


def write(
    path: Path, data: Mapping[str, Any], schema: Schema, mode: int = fsutil.FILE_MODE
) -> None:
    """Replace ``path`` atomically and durably with ``data`` at the schema's version
    (OSError passes through: the caller names what could not be saved)."""
    fsutil.atomic_write_bytes(path, encode(data, schema), mode)


def version_of(data: Mapping[str, Any], schema: Schema) -> int:
    version = data.get(schema.key, schema.unversioned)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RecordFormatError(f"{schema.key!r} must be a schema number, got {version!r}")
    return version


def upgrade(data: Any, schema: Schema) -> dict[str, Any]:
    """``data`` (a parsed document) brought up to the schema's version; RecordFormatError
    (a ValueError) if it cannot be."""
    if not isinstance(data, dict):
        raise RecordFormatError(f"{schema.what} must be a JSON object, got {type(data).__name__}")
    doc: dict[str, Any] = data
    version = version_of(doc, schema)
    if version > schema.version:
        raise NewerFormatError(
            f"written by a newer isollm ({schema.key} {version}; this isollm reads up to "
            f"{schema.version}); upgrade isollm"
        )
    while version < schema.version:
        step = schema.migrations.get(version)
        if step is None:
            raise RecordFormatError(f"schema {version} is too old and has no migration")
        doc = step(dict(doc))
        version += 1
        doc[schema.key] = version
    return doc


def decode(raw: bytes, schema: Schema, where: Path | str) -> dict[str, Any]:
    """The record in ``raw`` (read from ``where``) at the schema's version."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        reason = f"invalid JSON ({exc})"
        raise CorruptRecordError(
            f"{schema.what} {where} is not valid JSON: {exc}", reason=reason, hint=schema.hint
        ) from None
    try:
        return upgrade(data, schema)
    except NewerFormatError as exc:
        raise NewerRecordError(
            f"{schema.what} {where} was {exc}", reason=str(exc), hint="upgrade isollm to read it"
        ) from None
    except RecordFormatError as exc:
        raise CorruptRecordError(
            f"{schema.what} {where}: {exc}", reason=str(exc), hint=schema.hint
        ) from None


def read(path: Path, schema: Schema) -> dict[str, Any]:
    """The record in ``path`` at the schema's version. FileNotFoundError passes through
    (the caller says what a missing file means); other problems raise RecordError."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise RecordError(f"cannot read {schema.what} {path}: {exc.strerror or exc}") from exc
    return decode(raw, schema, path)
