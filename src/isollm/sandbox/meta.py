"""Where sandboxes live on disk and their persisted records.

$ISOLLM_HOME/sandboxes/<project>/<name>/sandbox.json   the record (spec, backend, base)
$ISOLLM_HOME/sandboxes/<project>/<name>/sandbox.log    lifecycle and setup output
$ISOLLM_HOME/sandboxes/<project>/<name>/...            the backend's own files
$ISOLLM_HOME/lowers/<project>/<commit>                 shared read-only checkouts
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from isollm import fsutil
from isollm.errors import SandboxError
from isollm.sandbox.base import (
    Limits,
    SandboxExistsError,
    SandboxNotFoundError,
    SandboxRecord,
    SandboxSpec,
)

RECORD_FILE = "sandbox.json"
RECORD_VERSION = 1
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
    fsutil.atomic_write_json(record.directory / RECORD_FILE, to_json(record))


def claim(spec: SandboxSpec, backend: str) -> SandboxRecord:
    """Create the sandbox's directory and first record; SandboxExistsError if taken."""
    check_name(spec.name)
    directory = sandbox_dir(spec.project, spec.name)
    fsutil.ensure_dir(directory.parent)
    try:
        directory.mkdir(mode=fsutil.DIR_MODE)
    except FileExistsError as exc:
        raise SandboxExistsError(
            f"a sandbox named {spec.name!r} already exists for project {spec.project}",
            hint=f"pick another name, or remove it with `isollm worker remove {spec.name}`",
        ) from exc
    record = SandboxRecord(backend, spec, directory, created_at=now())
    save(record)
    return record


def load(project: str, name: str) -> SandboxRecord:
    directory = sandbox_dir(project, name)
    path = directory / RECORD_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return from_json(data, directory)
    except FileNotFoundError as exc:
        raise SandboxNotFoundError(
            f"no sandbox named {name!r} for project {project}",
            hint="see `isollm worker list`",
        ) from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SandboxError(
            f"the record of sandbox {name!r} ({path}) is unreadable: {exc}",
            hint=f"remove it with `isollm worker remove {name} --force`",
        ) from exc


def names(project: str) -> list[str]:
    """Names of every sandbox directory of ``project`` (with or without a valid record)."""
    root = project_dir(project)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
