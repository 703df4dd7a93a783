"""Where sandboxes live on disk and their persisted records.

$ISOLLM_HOME/sandboxes/<project>/<name>/sandbox.json   the record (spec, backend, base)
$ISOLLM_HOME/sandboxes/<project>/<name>/sandbox.log    lifecycle and setup output
$ISOLLM_HOME/sandboxes/<project>/<name>/...            the backend's own files
$ISOLLM_HOME/lowers/<project>/<commit>                 shared read-only checkouts
"""

from __future__ import annotations

import dataclasses
import errno
import os
import re
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from isollm import fsutil, records
from isollm.errors import SandboxError
from isollm.sandbox import limits
from isollm.sandbox.base import (
    Limits,
    SandboxExistsError,
    SandboxNotFoundError,
    SandboxRecord,
    SandboxSpec,
)

RECORD_FILE = "sandbox.json"
RECORD_VERSION = 1
# Version N -> N+1 steps for sandbox.json (see isollm.records).
SCHEMA = records.Schema("sandbox record", RECORD_VERSION, {})
VALID_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]{0,39}$")


def check_name(name: str) -> None:
    if not VALID_NAME.match(name):
        raise SandboxError(
            f"{name!r} is not a valid worker name",
            hint="use up to 40 letters, digits and hyphens, starting with a letter",
        )


def project_dir(project: str) -> Path:
    return fsutil.isollm_home() / "sandboxes" / project


def sandbox_dir(project: str, name: str) -> Path:
    return project_dir(project) / name


def lowers_dir(project: str) -> Path:
    return fsutil.isollm_home() / "lowers" / project


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def to_json(record: SandboxRecord) -> dict[str, Any]:
    spec = dataclasses.asdict(record.spec)
    spec["hub"] = str(record.spec.hub)
    spec["host_root"] = str(record.spec.host_root) if record.spec.host_root else None
    return {
        "version": RECORD_VERSION,
        "backend": record.backend,
        "spec": spec,
        "base_commit": record.base_commit,
        "mode": record.mode,
        "notes": list(record.notes),
        "created_at": record.created_at,
    }


def spec_from_json(data: dict[str, Any]) -> SandboxSpec:
    values = dict(data)
    values["hub"] = Path(values["hub"])
    values["host_root"] = Path(values["host_root"]) if values.get("host_root") else None
    values["limits"] = Limits(**values.get("limits", {}))
    values["setup"] = tuple(values.get("setup", ()))
    values["include"] = tuple(values.get("include", ()))
    values["expose"] = tuple(values.get("expose", ()))
    known = {f.name for f in dataclasses.fields(SandboxSpec)}
    return SandboxSpec(**{k: v for k, v in values.items() if k in known})


def from_json(data: dict[str, Any], directory: Path) -> SandboxRecord:
    return SandboxRecord(
        backend=data["backend"],
        spec=spec_from_json(data["spec"]),
        directory=directory,
        base_commit=data.get("base_commit", ""),
        mode=data.get("mode", ""),
        notes=list(data.get("notes", [])),
        created_at=data.get("created_at", ""),
    )


def save(record: SandboxRecord) -> None:
    records.write(record.directory / RECORD_FILE, to_json(record), SCHEMA)


def claim(spec: SandboxSpec, backend: str) -> SandboxRecord:
    """Create the sandbox's directory and first record; SandboxExistsError if taken.

    The directory appears with its record already inside (a staged directory renamed into
    place), so a sandbox directory without a record is always what an interrupted destroy
    left: it is cleared and claimed, unless something is still mounted in it.
    """
    check_name(spec.name)
    directory = sandbox_dir(spec.project, spec.name)
    fsutil.ensure_dir(directory.parent)
    staged = Path(tempfile.mkdtemp(prefix=f".claim-{spec.name}-", dir=directory.parent))
    try:
        staged.chmod(fsutil.DIR_MODE)
        record = SandboxRecord(backend, spec, staged, created_at=now())
        save(record)
        _clear_leftover(directory)
        try:
            os.rename(staged, directory)  # fails when the directory exists and is not empty
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            raise SandboxExistsError(
                f"a sandbox named {spec.name!r} already exists for project {spec.project}",
                hint=f"pick another name, or remove it with `isollm worker remove {spec.name}`",
            ) from exc
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    record.directory = directory
    return record


def _clear_leftover(directory: Path) -> None:
    """Remove a sandbox directory that has no record and nothing mounted below it."""
    if not directory.is_dir() or (directory / RECORD_FILE).exists():
        return
    if mounted_below(directory):
        return
    limits.release_cgroups(directory)
    shutil.rmtree(directory, ignore_errors=True)


def mounted_below(directory: Path) -> bool:
    """Whether anything is mounted below ``directory`` (a live overlay, a bind mount)."""
    mounts = Path("/proc/self/mounts").read_text(encoding="utf-8").splitlines()
    escaped = str(directory)  # /proc/self/mounts escapes these as octal
    for char in "\\ \t\n":
        escaped = escaped.replace(char, f"\\{ord(char):03o}")
    prefix = f"{escaped}/"
    return any(len(m.split()) > 1 and m.split()[1].startswith(prefix) for m in mounts)


def remove_directory(directory: Path) -> None:
    """Delete a sandbox directory with its record last: an interrupted removal leaves a
    readable sandbox to remove again, or a directory without a record that
    :func:`claim` clears. The sandbox's cgroups (:mod:`~.limits`) go first."""
    limits.release_cgroups(directory)
    if not directory.is_dir():
        return
    for child in directory.iterdir():
        if child.name == RECORD_FILE:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
    (directory / RECORD_FILE).unlink(missing_ok=True)
    shutil.rmtree(directory, ignore_errors=True)


def load(project: str, name: str) -> SandboxRecord:
    directory = sandbox_dir(project, name)
    path = directory / RECORD_FILE
    try:
        data = records.read(path, SCHEMA)
        return from_json(data, directory)
    except FileNotFoundError as exc:
        raise SandboxNotFoundError(
            f"no sandbox named {name!r} for project {project}",
            hint="see `isollm worker list`",
        ) from exc
    except records.NewerRecordError as exc:
        raise SandboxError(exc.message, hint="upgrade isollm to use this sandbox") from None
    except (records.RecordError, KeyError, TypeError, ValueError) as exc:
        reason = exc.reason if isinstance(exc, records.RecordError) else str(exc)
        raise SandboxError(
            f"the record of sandbox {name!r} ({path}) is unreadable: {reason}",
            hint=f"remove it with `isollm worker remove {name} --force`",
        ) from exc


def names(project: str) -> list[str]:
    """Names of every sandbox directory of ``project`` (with or without a valid record)."""
    root = project_dir(project)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
