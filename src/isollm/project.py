"""Create an isollm project in a git repository (``isollm init``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from isollm import fsutil
from isollm.config import CONFIG_FILE, STATE_DIR, Config, render_template
from isollm.config.rules import MAX_PROJECT_NAME_LEN, MIN_PROJECT_NAME_LEN
from isollm.errors import IsollmError
from isollm.git.facade import Git

GITIGNORE_ENTRY = f"{STATE_DIR}/"


@dataclass(frozen=True)
class InitResult:
    root: Path
    config_path: Path
    project: str
    gitignore_updated: bool
    overwritten: bool


def derive_project_name(folder: str) -> str:
    """A valid project name made from a folder name (``My App_2`` -> ``my-app-2``)."""
    name = re.sub(r"[^a-zA-Z0-9]+", "-", folder).strip("-").lower()
    name = re.sub(r"^[^a-z]+", "", name)
    name = name[:MAX_PROJECT_NAME_LEN].rstrip("-")
    if len(name) < MIN_PROJECT_NAME_LEN:
        name = f"project-{name}" if name else "project"
    return name


def ensure_gitignore(root: Path, entry: str = GITIGNORE_ENTRY) -> bool:
    """Add ``entry`` to root/.gitignore unless a line already says it; True if added."""
    path = root / ".gitignore"
    content, mode = b"", 0o644
    if path.exists():  # keep its bytes (any encoding) and its permissions
        content, mode = path.read_bytes(), path.stat().st_mode & 0o777
    bare = entry.strip("/").encode()
    if any(line.strip().strip(b"/") == bare for line in content.splitlines()):
        return False
    if content and not content.endswith(b"\n"):
        content += b"\n"
    fsutil.atomic_write_bytes(path, content + entry.encode() + b"\n", mode=mode)
    return True


def init_project(directory: Path, *, force: bool = False) -> InitResult:
    """Write a commented isollm.yaml with defaults, create .isollm/, ignore it in git."""
    directory = directory.resolve()
    if not directory.is_dir():
        raise IsollmError(f"{directory} is not a directory", hint="create it or pick another")
    root = Git(directory).toplevel()
    if root is None:
        raise IsollmError(
            f"{directory} is not inside a git repository",
            hint=f"run `git init {directory}` first (isollm works on git repositories)",
        )
    path = root / CONFIG_FILE
    existed = path.exists()
    if existed and not force:
        raise IsollmError(
            f"{path} already exists",
            hint="edit it with `isollm config edit`, or pass --force to replace it with defaults",
        )
    project = derive_project_name(root.name)
    try:
        fsutil.atomic_write_text(path, render_template(Config(project=project)), mode=0o644)
        fsutil.ensure_dir(root / STATE_DIR)
        updated = ensure_gitignore(root)
    except OSError as exc:
        raise IsollmError(
            f"cannot set up {root}: {exc}", hint="check the permissions of the repository"
        ) from exc
    return InitResult(root, path, project, updated, existed)
