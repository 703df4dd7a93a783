"""Create an isollm project in a git repository (``isollm init``)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path

from isollm import checkouts, fsutil
from isollm.config import CONFIG_FILE, STATE_DIR, Config, load, render_template
from isollm.config.model import GitConfig
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
    base: BaseBranch
    shared_with: tuple[Path, ...] = ()  # other checkouts using the same hub and queue
    taken_by: Path | None = None  # the checkout owning the folder's name, when renamed
    written: bool = True  # False: isollm.yaml was kept (``--share``)


@dataclass(frozen=True)
class BaseBranch:
    """The branch ``init`` writes as ``git.base_branch``, and how it was found."""

    name: str
    source: str


def detect_base_branch(git: Git) -> BaseBranch:
    """The checked-out branch, else the remote's default branch, else ``init.defaultBranch``
    if this repository has it (or no branch at all), else its only branch, else ``main``.
    (The remote's HEAD describes this repository; ``init.defaultBranch`` only the user's
    preference for new ones, so it comes after, and never over a branch that exists.)"""
    current = git.current_branch()
    if current:
        return BaseBranch(current, "the current branch")
    remote = _remote_default_branch(git)
    if remote:
        return BaseBranch(remote[1], f"the default branch of the remote {remote[0]}")
    return _detached_base(git)


def _detached_base(git: Git) -> BaseBranch:
    """The base of a repository with HEAD detached and no remote to ask."""
    configured = git.run("config", "--get", "init.defaultBranch", check=False).stdout.strip()
    local = [b.name for b in git.branches()]
    if configured and (configured in local or not local):
        return BaseBranch(configured, "git's init.defaultBranch")
    if len(local) == 1:
        return BaseBranch(local[0], "the repository's only branch; HEAD is detached")
    for name in ("main", "master"):
        if name in local:
            return BaseBranch(name, "a branch of this name; HEAD is detached")
    if configured:
        return BaseBranch(configured, "git's init.defaultBranch")
    return BaseBranch("main", "the default; HEAD is detached and nothing else says")


def _remote_default_branch(git: Git) -> tuple[str, str] | None:
    """(remote, branch) from ``refs/remotes/<remote>/HEAD``; origin first."""
    heads: dict[str, str] = {}
    for line in git.lines(["for-each-ref", "--format=%(refname) %(symref)", "refs/remotes"]):
        ref, _, target = line.partition(" ")
        prefix = ref.removesuffix("HEAD")
        if prefix != ref and target.startswith(prefix) and target != prefix:
            heads[prefix.split("/", 2)[2].rstrip("/")] = target[len(prefix) :]
    for remote in sorted(heads, key=lambda r: (r != "origin", r)):
        return remote, heads[remote]
    return None


def derive_project_name(folder: str) -> str:
    """A valid project name made from a folder name (``My App_2`` -> ``my-app-2``,
    ``Über`` -> ``uber``: accents dropped, other characters outside ASCII left out)."""
    ascii_folder = unicodedata.normalize("NFKD", folder).encode("ascii", "ignore").decode()
    name = re.sub(r"[^a-zA-Z0-9]+", "-", ascii_folder).strip("-").lower()
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


def init_project(directory: Path, *, force: bool = False, share: bool = False) -> InitResult:
    """Write a commented isollm.yaml with defaults, create .isollm/, ignore it in git.

    The project name is the folder's unless another checkout owns that project (then a
    short hash of this checkout's path is added), or ``share`` joins it on purpose. With
    ``share`` and an existing isollm.yaml, the file is kept and only the sharing recorded.
    """
    root = _repository_root(directory)
    path = root / CONFIG_FILE
    existed = path.exists()
    if existed and share and not force:
        return _share_existing(root, path)
    if existed and not force:
        raise IsollmError(
            f"{path} already exists",
            hint="edit it with `isollm config edit`, or pass --force to replace it with defaults",
        )
    project, taken_by = choose_project_name(root, share=share)
    base = detect_base_branch(Git(root))
    config = Config(project=project, git=replace(GitConfig(), base_branch=base.name))
    try:
        fsutil.atomic_write_text(path, render_template(config), mode=0o644)
        fsutil.ensure_dir(root / STATE_DIR)
        updated = ensure_gitignore(root)
    except OSError as exc:
        raise IsollmError(
            f"cannot set up {root}: {exc}", hint="check the permissions of the repository"
        ) from exc
    shared = tuple(checkouts.claim(root, project, share=share))
    return InitResult(root, path, project, updated, existed, base, shared, taken_by)


def _repository_root(directory: Path) -> Path:
    directory = directory.resolve()
    if not directory.is_dir():
        raise IsollmError(f"{directory} is not a directory", hint="create it or pick another")
    root = Git(directory).toplevel()
    if root is None:
        raise IsollmError(
            f"{directory} is not inside a git repository",
            hint=f"run `git init {directory}` first (isollm works on git repositories)",
        )
    return root.resolve()


def choose_project_name(root: Path, *, share: bool = False) -> tuple[str, Path | None]:
    """The folder's name, or (when another checkout owns that project and ``share`` is
    off) the folder's name with a hash of this checkout's path; and that other owner."""
    name = derive_project_name(root.name)
    others = checkouts.owners(name, besides=root)
    if not others or share:
        return name, None
    base = name[: MAX_PROJECT_NAME_LEN - 7].rstrip("-")
    return f"{base}-{checkouts.checkout_suffix(root)}", others[0]


def _share_existing(root: Path, path: Path) -> InitResult:
    config = load(root).valid()
    shared = tuple(checkouts.claim(root, config.project, share=True))
    base = BaseBranch(config.git.base_branch, f"kept from {CONFIG_FILE}")
    return InitResult(root, path, config.project, False, False, base, shared, written=False)
