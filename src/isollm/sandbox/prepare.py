"""Make a freshly built sandbox ready to work: branch, ignored files, setup command.

``.worktreeinclude`` (in the host repository's root) lists gitignore-style patterns; the
files matching them that git ignores (``.env``, local settings) are copied into every new
sandbox, since a checkout of the hub cannot contain them. Then ``sandbox.setup`` (an argv,
e.g. ``[npm, ci]``) runs once inside; its failure is reported with its output.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from isollm.errors import SandboxError
from isollm.git.facade import Git, zsplit
from isollm.sandbox import gitops

if TYPE_CHECKING:
    from isollm.sandbox.base import Sandbox

INCLUDE_FILE = ".worktreeinclude"
CHECKOUT_TIMEOUT = 300.0


class SetupError(SandboxError):
    """The setup command failed in a new sandbox."""


def worktree_includes(host_root: Path) -> tuple[str, ...]:
    """Ignored, untracked files of ``host_root`` matched by its ``.worktreeinclude``."""
    if not (host_root / INCLUDE_FILE).is_file():
        return ()
    git = Git(host_root)
    base = ("ls-files", "-z", "--others", "--ignored")
    matched = zsplit(git.run(*base, f"--exclude-from={INCLUDE_FILE}").stdout)
    ignored = set(zsplit(git.run(*base, "--exclude-standard").stdout))
    return tuple(sorted(p for p in matched if p in ignored))


def safe_relative(path: str) -> PurePosixPath:
    rel = PurePosixPath(path)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise SandboxError(f"refusing to copy {path!r}: not a path inside the repository")
    return rel


def copy_includes(sb: Sandbox) -> list[str]:
    """Copy the spec's include files from the host root into the workspace."""
    root, dest = sb.spec.host_root, sb.host_workspace
    if root is None or dest is None or not sb.spec.include:
        return []
    copied = []
    for name in sb.spec.include:
        rel = safe_relative(name)
        source = root / rel
        if not source.is_file():
            continue
        target = dest / rel
        _make_parents(target.parent, dest, sb.owner_uid)
        shutil.copy2(source, target, follow_symlinks=True)
        if sb.owner_uid:
            os.chown(target, sb.owner_uid, sb.owner_uid)
        copied.append(name)
    return copied


def _make_parents(directory: Path, top: Path, uid: int) -> None:
    missing = []
    while not directory.exists() and directory != top:
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        path.mkdir(mode=0o755)
        if uid:
            os.chown(path, uid, uid)


def checkout_mode(sb: Sandbox) -> gitops.CheckoutMode:
    spec = sb.spec
    if spec.branch == spec.base_branch:
        return "detach" if sb.shares_branches else "base"
    return "hub" if gitops.hub_commit(spec.hub, spec.branch) is not None else "base"


def _ident(sb: Sandbox) -> tuple[str, str]:
    root = sb.spec.host_root
    ident = (root and gitops.identity(root)) or gitops.identity(sb.spec.hub)
    return ident or (f"isollm {sb.name}", f"{sb.name}@isollm.invalid")


def checkout(sb: Sandbox) -> None:
    """Put the workspace on the spec's branch (from the hub if it is there, else the base)."""
    spec = sb.spec
    argv = gitops.checkout_argv(spec.branch, sb.record.base_commit, checkout_mode(sb), _ident(sb))
    result = sb.exec(argv, cwd=sb.workspace, timeout=CHECKOUT_TIMEOUT)
    result.check(hint="check that the hub is readable: `isollm sync status`")


def run_setup(sb: Sandbox) -> None:
    setup = list(sb.spec.setup)
    if not setup:
        return
    result = sb.exec(setup, cwd=sb.workspace, timeout=sb.spec.setup_timeout)
    sb.record.log(f"setup: {result.describe() if not result.ok else 'ok'}")
    sb.record.log(f"setup output:\n{result.stdout}{result.stderr}")
    if not result.ok:
        raise SetupError(
            f"the setup command failed in sandbox {sb.name}:\n{result.describe()}",
            hint="fix `sandbox.setup` in isollm.yaml (or the project), then add the worker again",
        )


def prepare(sb: Sandbox) -> None:
    """Branch, include files and setup, in that order (setup may need the files)."""
    checkout(sb)
    copied = copy_includes(sb)
    if copied:
        sb.record.log(f"copied from .worktreeinclude: {', '.join(copied)}")
    run_setup(sb)
