"""Which checkouts a project's hub and task queue belong to.

A project's hub (``$ISOLLM_HOME/<project>.git``) and queue are found by its name alone,
so two checkouts naming the same project would share them. ``isollm init`` picks a name
no other checkout uses, and every command that uses the hub or the queue claims the
name for its checkout in ``$ISOLLM_HOME/projects/<project>.json``. A second checkout
naming a project another one owns gets :class:`ProjectClashError`, unless it joined on
purpose (``isollm init --share``). A checkout that is gone, or whose isollm.yaml now
names another project, no longer owns anything, so moving a checkout just works.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from isollm import fsutil, records
from isollm.errors import IsollmError

SCHEMA = records.Schema(
    "project owners record",
    1,
    hint="delete it; the next isollm command in your checkout writes it again",
)
CONFIG_FILE = "isollm.yaml"  # the same as isollm.config.CONFIG_FILE (no import: no cycle)


class ProjectClashError(IsollmError):
    """Another checkout owns this project's hub and task queue."""


def record_path(project: str) -> Path:
    return fsutil.isollm_home() / "projects" / f"{project}.json"


def checkout_suffix(root: Path) -> str:
    """A short stable hash of the checkout's path (``a3f9c2``)."""
    return hashlib.sha256(os.fsencode(str(root))).hexdigest()[:6]


def _read(project: str) -> list[str]:
    try:
        data = records.read(record_path(project), SCHEMA)
    except FileNotFoundError:
        return []
    checkouts = data.get("checkouts")
    return [c for c in checkouts if isinstance(c, str)] if isinstance(checkouts, list) else []


def _names_project(checkout: Path, project: str) -> bool:
    """Whether ``checkout``'s isollm.yaml still names ``project`` (unreadable: assume so)."""
    path = checkout / CONFIG_FILE
    if not path.is_file():
        return False
    try:
        data: Any = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except Exception:  # a broken file is still that checkout's: keep its claim
        return True
    return not isinstance(data, dict) or data.get("project") == project


def owners(project: str, *, besides: Path | None = None) -> list[Path]:
    """The live checkouts that own ``project`` (other than ``besides``)."""
    return [
        Path(c) for c in _read(project) if Path(c) != besides and _names_project(Path(c), project)
    ]


def claim(root: Path, project: str, *, share: bool = False) -> list[Path]:
    """Record ``root`` as an owner of ``project``; the other live owners are returned.

    Raises ProjectClashError when another live checkout owns it, unless ``share``.
    """
    root = root.resolve()
    if str(root) in _read(project):  # already ours: no write
        return owners(project, besides=root)
    path = record_path(project)
    with fsutil.file_lock(path.with_suffix(".lock")):
        others = owners(project, besides=root)
        if others and not share:
            raise clash(root, project, others[0])
        checkouts = [*map(str, others), str(root)]
        records.write(path, {"checkouts": checkouts}, SCHEMA)
    return others


def ensure_claimed(root: Path, project: str) -> None:
    """:func:`claim`, reading only the record when ``root`` owns ``project`` already (the
    path every command takes: no other checkout's isollm.yaml is parsed)."""
    if str(root.resolve()) not in _read(project):
        claim(root, project)


def clash(root: Path, project: str, owner: Path) -> ProjectClashError:
    suggestion = f"{project[:57]}-{checkout_suffix(root)}"
    return ProjectClashError(
        f"project {project!r} (its hub and task queue) belongs to the checkout {owner}; "
        f"this checkout ({root}) names the same project",
        hint=f"give this checkout its own name: set `project: {suggestion}` in isollm.yaml "
        f"(`isollm config edit`); or, to share the hub and queue with {owner} on purpose, "
        "run `isollm init --share` here",
    )
