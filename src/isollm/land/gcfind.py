"""What ``isollm gc`` may remove, found without changing anything (the dry run's list).

Each finder returns :class:`Found` items: what to show (kind, name, size, why) and how to
remove it. Removal re-checks what it can (a ref is deleted only if it still names the
commit that was found; a sandbox only if nothing claimed it since).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from isollm.errors import IsollmError
from isollm.git.facade import Git
from isollm.git.hub import Hub
from isollm.git.intake import BACKUP_NS, SALVAGE_NS
from isollm.land.build import landed_tips
from isollm.land.lock import lock_path, read_holder
from isollm.land.testing import SANDBOX_NAME
from isollm.runner import byhand, runstate
from isollm.runner.layout import runs_dir
from isollm.sandbox import meta, registry
from isollm.sandbox.base import Sandbox
from isollm.sandbox.workers import Project, run_of
from isollm.tasks.server import control

_STAMP = re.compile(r"(\d{8}T\d{6})\d*$")


@dataclass(frozen=True)
class Found:
    kind: str  # hub branch, host branch, salvage ref, backup ref, run, sandbox, ...
    name: str
    size: int  # bytes freed (0: a ref, or unknown)
    detail: str
    remove: Callable[[], object]
    unmerged: bool = False  # only with --include-unmerged and a confirmation


def tree_size(path: Path) -> int:
    """Bytes below ``path`` (files as stored; symlinks not followed, mounts not crossed)."""
    total = 0
    try:
        device = path.lstat().st_dev
    except OSError:
        return 0
    for top, dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(top) / name).lstat().st_size
        dirs[:] = [d for d in dirs if _same_device(Path(top) / d, device)]
    return total


def _same_device(path: Path, device: int) -> bool:
    try:
        st = path.lstat()
    except OSError:
        return False
    return st.st_dev == device and not path.is_symlink()


def _delete_ref(git: Git, ref: str, sha: str) -> Callable[[], object]:
    return lambda: git.run("update-ref", "-d", ref, sha)  # fails if the ref moved


def task_branches(project: Project, hub: Hub, unmerged: bool) -> Iterator[Found]:
    """Task branches on the hub landed on its base branch (others with ``unmerged``)."""
    git = hub.git()
    prefix, base = project.config.git.branch_prefix, project.config.git.base_branch
    target = git.resolve(f"refs/heads/{base}")
    if target is None:
        return
    landed = landed_tips(git, target, prefix)
    for b in hub.task_branches(prefix):
        if b.name == base:
            continue
        merged = b.sha in landed
        if merged or unmerged:
            why = f"landed on {base}" if merged else f"NOT landed on {base}"
            remove = _delete_ref(git, f"refs/heads/{b.name}", b.sha)
            yield Found("hub branch", b.name, 0, why, remove, not merged)


def host_branches(project: Project, unmerged: bool) -> Iterator[Found]:
    """The host's local task branches: not checked out, merged into its base branch."""
    git = Git(project.root)
    prefix, base = project.config.git.branch_prefix, project.config.git.base_branch
    target = git.resolve(f"refs/heads/{base}")
    if target is None:
        return
    busy = git.checked_out_branches()
    landed = landed_tips(git, target, prefix)
    for b in git.branches(prefix):
        ref = f"refs/heads/{b.name}"
        if b.name == base or ref in busy or len(b.name) <= len(prefix):
            continue
        merged = b.sha in landed
        if merged or unmerged:
            why = f"merged into your {base}" if merged else f"NOT merged into your {base}"
            yield Found("host branch", b.name, 0, why, _delete_ref(git, ref, b.sha), not merged)


def _ref_time(ref: str, commit_time: datetime) -> datetime:
    """When a salvage or backup ref was made: the stamp ending its name, else its commit."""
    found = _STAMP.search(ref)
    if found:
        with contextlib.suppress(ValueError):
            return datetime.strptime(found.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    return commit_time


def old_refs(hub: Hub, cutoff: datetime) -> Iterator[Found]:
    """Salvage and backup refs made before ``cutoff``."""
    git = hub.git()
    for kind, namespace in (("salvage ref", SALVAGE_NS), ("backup ref", BACKUP_NS)):
        for info in git.for_each_ref(namespace):
            made = _ref_time(info.ref, info.time)
            if made < cutoff:
                age = f"made {made:%Y-%m-%d}"
                yield Found(kind, info.ref, 0, age, _delete_ref(git, info.ref, info.sha))


def old_runs(project: Project, cutoff: datetime) -> Iterator[Found]:
    """Run directories of runs that ended (or stopped) before ``cutoff``; never a running
    one, nor one that can be resumed while a sandbox of it remains."""
    alive = byhand.run_alive(project.root)
    left = {run_of(name) for name in meta.names(project.name)} - {""}
    for state in runstate.list_runs(project.root).runs:
        when = _parse_time(state.ended or state.started)
        if when is None or when >= cutoff or alive(state.id):
            continue
        if state.run_status not in runstate.FINAL and state.id in left:
            continue
        directory = runs_dir(project.root) / state.id
        detail = f"{state.status}, {when:%Y-%m-%d}"
        yield Found("run", state.id, tree_size(directory), detail, _rmtree(directory))


def _parse_time(stamp: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _rmtree(path: Path) -> Callable[[], object]:
    return lambda: shutil.rmtree(path)


def orphan_sandboxes(project: Project, hub: Hub) -> Iterator[Found]:
    """Sandboxes no worker or run owns: a run's that cannot be resumed any more, the
    merge test's when no merge runs, containers left without their sandbox."""
    resumable = byhand.run_resumable(project.root)
    for name in meta.names(project.name):
        if project.state.worker_path(name).exists():
            continue
        run = run_of(name)
        if run and resumable(run):
            continue
        if name == SANDBOX_NAME and _merge_running(hub):
            continue
        if not run and name != SANDBOX_NAME:
            continue  # a sandbox being made for a worker, or `worker list` adopts it
        found = _sandbox(project, name, run)
        if found is not None:
            yield found
    for backend, cls in registry.BACKENDS.items():
        with contextlib.suppress(IsollmError, OSError):
            for name in cls.leftovers(project.name):
                if name not in meta.names(project.name):
                    remove = _remove_leftover(cls, project.name, name)
                    yield Found("container", f"{backend}:{name}", 0, "no sandbox", remove)


def _remove_leftover(cls: type[Sandbox], project: str, name: str) -> Callable[[], object]:
    return lambda: cls.remove_leftover(project, name)


def _merge_running(hub: Hub) -> bool:
    holder = read_holder(lock_path(hub))
    return holder is not None and holder.alive()


def _sandbox(project: Project, name: str, run: str) -> Found | None:
    directory = meta.sandbox_dir(project.name, name)
    owner = f"left by run {run}" if run else "left by a merge"
    try:
        sb = registry.open_sandbox(project.name, name)
        work = sb.work_state()
    except IsollmError:
        return None  # unreadable: `isollm worker list` shows it, `worker remove --force` ends it
    if not work.clean:
        return None  # it holds work: `isollm worker adopt` or `worker remove --force`
    return Found("sandbox", name, tree_size(directory), owner, sb.destroy)


def stale_server(project: Project) -> Iterator[Found]:
    """The record of the project's task server when its process is gone."""
    port = project.config.airyra.port
    state = control.read_state(port)
    if state is not None and not control.pid_alive(state.pid, state.pid_start):
        pid = state.pid
        remove = lambda: control.clear_state(port, pid)  # noqa: E731
        yield Found("task server", f"port {port}", 0, f"its process {pid} is gone", remove)


def cutoff_of(older_than: timedelta) -> datetime:
    return datetime.now(UTC) - older_than
