"""Make a freshly built sandbox ready to work: branch, ignored files, setup command.

``.worktreeinclude`` (in the host repository's root) lists gitignore-style patterns; the
files matching them that git ignores (``.env``, local settings) are copied into every new
sandbox, since a checkout of the hub cannot contain them. Then ``sandbox.setup`` (an argv,
e.g. ``[npm, ci]``) runs once inside; its failure is reported with its output.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from isollm import proc
from isollm.errors import GitError, SandboxError
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
    listed = git.run("ls-files", "-z", "--others", "--ignored", f"--exclude-from={INCLUDE_FILE}")
    matched = zsplit(listed.stdout)
    if not matched:
        return ()
    # of those, the ones git ignores (check-ignore exits 1 when none is)
    check = git.run("check-ignore", "-z", "--stdin", input="\0".join(matched) + "\0", check=False)
    if check.returncode not in (0, 1):
        raise GitError(proc.describe_failure(check))
    return tuple(sorted(zsplit(check.stdout)))


def safe_relative(path: str) -> PurePosixPath:
    rel = PurePosixPath(path)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise SandboxError(f"refusing to copy {path!r}: not a path inside the repository")
    return rel


# Inside a sandbox whose workspace the host cannot see (an overlay mounted by each
# command): stdin into "$1" (relative to the workspace) with mode "$2", refusing a
# symlink or a non-directory on the way (exit 3), like _copy_into on the host.
COPY_INSIDE = (
    "rel=$1; d=.; while :; do case $rel in */*) part=${rel%%/*}; rel=${rel#*/};; *) break;; "
    'esac; d=$d/$part; if [ -L "$d" ] || { [ -e "$d" ] && [ ! -d "$d" ]; }; then exit 3; fi; '
    '[ -d "$d" ] || mkdir "$d" || exit 1; done; t=$d/$rel; if [ -L "$t" ]; then rm -f "$t" '
    '|| exit 1; elif [ -e "$t" ] && [ ! -f "$t" ]; then exit 3; fi; '
    'umask 077; cat > "$t" && chmod "$2" "$t"'
)
NOT_COPIED = 3


def copy_includes(sb: Sandbox) -> list[str]:
    """Copy the spec's include files from the host root into the workspace."""
    root, dest = sb.spec.host_root, sb.host_workspace
    if root is None or not sb.spec.include:
        return []
    copied = []
    for name in sb.spec.include:
        rel = safe_relative(name)
        source = root / rel
        if not source.is_file():
            continue
        if dest is None:
            done = _copy_inside(sb, source, rel)
        else:
            done = _copy_into(source, dest, rel, sb.owner_uid)
        if not done:
            sb.record.log(f"not copied: {name} (a symlink in the workspace is in the way)")
            continue
        copied.append(name)
    return copied


def _copy_inside(sb: Sandbox, source: Path, rel: PurePosixPath) -> bool:
    """Copy ``source`` to ``rel`` by a command inside the sandbox (its files are written
    as the sandbox user, where the host cannot see the workspace)."""
    mode = format(stat.S_IMODE(source.stat().st_mode), "o")
    argv = ["sh", "-c", COPY_INSIDE, "sh", str(rel), mode]
    result = sb.exec(argv, cwd=sb.workspace, input=source.read_bytes(), timeout=CHECKOUT_TIMEOUT)
    if result.returncode == NOT_COPIED and not result.timed_out:
        return False
    result.check(hint=f"could not copy {rel} into the sandbox from {source}")
    return True


def _copy_into(source: Path, top: Path, rel: PurePosixPath, uid: int) -> bool:
    """Copy ``source`` to ``top/rel`` without following a symlink in the checkout.

    The checkout may come from a branch an agent pushed: ``config -> /etc`` must not
    make the host write to /etc.
    """
    directory = top
    for part in rel.parts[:-1]:
        directory = directory / part
        if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
            return False
        if not directory.exists():
            directory.mkdir(mode=0o755)
            if uid:
                os.chown(directory, uid, uid)
    target = directory / rel.name
    if target.is_symlink():
        target.unlink()
    shutil.copy2(source, target, follow_symlinks=True)
    if uid:
        os.chown(target, uid, uid)
    return True


def checkout_mode(sb: Sandbox) -> gitops.CheckoutMode:
    spec = sb.spec
    if spec.branch == spec.base_branch:
        return "detach" if sb.shares_branches else "base"
    return "hub" if gitops.hub_commit(spec.hub, spec.branch) is not None else "base"


def checkout(sb: Sandbox, then: gitops.AfterCheckout | None = None) -> None:
    """Put the workspace on the spec's branch (from the hub if it is there, else the base),
    then run ``then`` in the same command."""
    spec = sb.spec
    argv = gitops.checkout_argv(spec.branch, sb.record.base_commit, checkout_mode(sb), then)
    with sb.checkout_lock():
        result = sb.exec(
            argv, cwd=sb.workspace, input=then.input if then else None, timeout=CHECKOUT_TIMEOUT
        )
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


def prepare(sb: Sandbox, then: gitops.AfterCheckout | None = None) -> None:
    """Branch (and ``then``), include files and setup, in that order (setup may need the
    files)."""
    checkout(sb, then)
    copied = copy_includes(sb)
    if copied:
        sb.record.log(f"copied from .worktreeinclude: {', '.join(copied)}")
    run_setup(sb)
