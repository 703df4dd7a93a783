"""The core of ``isollm worker``: workers are sandboxes with a record in ``.isollm/``.

The record (:class:`~isollm.state.WorkerState`) says what isollm believes; the sandbox
backend says what is. :func:`list_workers` reconciles the two, so a worker whose sandbox
vanished shows as an error, and a sandbox or container left by a crash without a record
shows up (adopted) instead of leaking. Reset and remove refuse to throw away work that
is not on the hub unless forced, and then say exactly what was discarded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import shutil
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from isollm import fsutil
from isollm.config import Config, load_valid
from isollm.errors import IsollmError, SandboxError
from isollm.git.hub import Hub
from isollm.git.sync import push_base
from isollm.sandbox import limits, meta, mounts, registry, renew, save, specs
from isollm.sandbox.base import (
    HostCommand,
    Sandbox,
    SandboxSpec,
    SandboxStatus,
    UnsavedWorkError,
)
from isollm.sandbox.gitops import WorkState
from isollm.sandbox.save import Saved
from isollm.state import FileState, WorkerNotFoundError, WorkerState, WorkerStatus
from isollm.state.machine import TRANSITIONS, transition
from isollm.state.model import utc_now

S = WorkerStatus
# The sandboxes of a run (isollm.runner.context.RunContext.sandbox_name, and the
# generations set aside after it: ``-2``, ``-3``...). They belong to their run, never
# to ``isollm worker``, while the run lives.
RUN_SANDBOX = re.compile(r"^run-(?P<run>\d{8}-\d{6}-[0-9a-f]+)-w\d+(?:-\d+)?$")


def _assume_alive(run_id: str) -> bool:
    return True  # without a way to tell, a run's sandboxes are left to it


def _assume_resumable(run_id: str) -> bool:
    return True  # without a way to tell, a run may still want its sandboxes back


@dataclass(frozen=True)
class Project:
    """What the worker commands need: where the project is, its config, its state, and
    whether a run is still alive (``run_alive(run_id)``: the command line passes the
    run state's liveness check; the sandbox layer does not read runs itself) and whether
    one that ended can still be resumed (``run_resumable(run_id)``)."""

    root: Path
    config: Config
    state: FileState
    run_alive: Callable[[str], bool] = _assume_alive
    run_resumable: Callable[[str], bool] = _assume_resumable

    @classmethod
    def load(
        cls, start: Path | None = None, run_alive: Callable[[str], bool] = _assume_alive
    ) -> Project:
        loaded = load_valid(start)
        return cls(loaded.root, loaded.config, FileState.for_project(loaded.root), run_alive)

    @property
    def name(self) -> str:
        return self.config.project


def run_of(name: str) -> str:
    """The run a sandbox name belongs to (``run-<id>-w<N>``), or ``""``."""
    found = RUN_SANDBOX.match(name)
    return found.group("run") if found else ""


def refuse_run_sandbox(project: Project, name: str) -> None:
    """SandboxError when ``name`` is a sandbox of a run that is still running."""
    run = run_of(name)
    if run and project.run_alive(run):
        raise SandboxError(
            f"sandbox {name!r} belongs to run {run}, which is running",
            hint="wait for the run to end (or stop it); `isollm worker exec` and "
            "`isollm worker shell` can look inside meanwhile",
        )


@dataclass(frozen=True)
class WorkerRow:
    """One line of ``worker list``: the record as reconciled with its sandbox."""

    name: str
    backend: str
    status: str
    sandbox: str  # the backend's view: running, stopped, missing, broken
    address: str
    task: str
    branch: str
    workspace: str
    problem: str = ""
    run: str = ""  # the run whose sandbox this is (not a worker), if any

    def to_json(self) -> dict[str, str]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Discarded:
    """A reset or remove and what it threw away (``nothing`` when clean)."""

    name: str
    work: WorkState
    forced: bool

    @property
    def lost(self) -> str:
        return "nothing" if self.work.clean else self.work.describe()


def next_name(taken: Sequence[str]) -> str:
    n = 1
    while f"worker-{n}" in taken:
        n += 1
    return f"worker-{n}"


def path_to(current: WorkerStatus, target: WorkerStatus) -> list[WorkerStatus]:
    """The shortest list of moves the status machine allows from ``current`` to ``target``."""
    queue: deque[list[WorkerStatus]] = deque([[current]])
    seen = {current}
    while queue:
        path = queue.popleft()
        if path[-1] is target and len(path) > 1:
            return path[1:]
        for nxt in sorted(TRANSITIONS[path[-1]], key=list(WorkerStatus).index):
            if nxt is target or nxt not in seen:
                seen.add(nxt)
                queue.append([*path, nxt])
    return []


def move(
    worker: WorkerState,
    target: WorkerStatus,
    error: str | None = None,
    now: datetime | None = None,
) -> WorkerState:
    """``worker`` walked along the status machine to ``target`` (no-op if already there)."""
    if worker.status is target and target is not S.ERROR:
        return worker
    for step in path_to(worker.status, target):
        worker = transition(worker, step, error=error if step is S.ERROR else None, now=now)
    return worker


# --- building specs --------------------------------------------------------------------


def ensure_hub(project: Project) -> Hub:
    """The project's hub, with the base branch pushed the first time."""
    hub = Hub.for_project(project.name).ensure()
    base = project.config.git.base_branch
    if not hub.has_branch(base):
        push_base(project.root, hub, base)
    return hub


def spec_for(
    project: Project, name: str, hub: Hub, branch: str = "", expose: Sequence[str] | None = None
) -> SandboxSpec:
    """The spec of worker ``name`` (:func:`isollm.sandbox.specs.sandbox_spec`)."""
    return specs.sandbox_spec(
        project.config,
        root=project.root,
        hub=hub.path,
        name=name,
        work_branch=branch,
        expose=expose,
    )


@contextlib.contextmanager
def creating(project: Project, name: str) -> Iterator[None]:
    """Held while ``name`` is being built, so reconcile can tell a crash from work in progress."""
    lock = meta.project_dir(project.name) / f".{name}.creating"
    with fsutil.file_lock(lock, blocking=False) as held:
        if not held:
            raise SandboxError(f"worker {name!r} is being created by another command")
        yield


def being_created(project: Project, name: str) -> bool:
    lock = meta.project_dir(project.name) / f".{name}.creating"
    if not lock.exists():
        return False
    with fsutil.file_lock(lock, blocking=False) as held:
        return not held


# --- commands --------------------------------------------------------------------------


def add_worker(
    project: Project,
    name: str | None = None,
    branch: str = "",
    expose: Sequence[str] | None = None,
) -> Sandbox:
    """Create a worker: a record, then a sandbox ready on its branch. All or nothing.
    ``expose``: the paths it shows, when not just ``sandbox.expose`` (an agent's install,
    which a container binds when it is made)."""
    taken = [w.name for w in project.state.load_all_workers().workers]
    taken += meta.names(project.name)
    name = name or next_name(taken)
    meta.check_name(name)
    if name in taken:
        raise SandboxError(
            f"worker {name!r} already exists",
            hint=f"pick another name, or `isollm worker remove {name}` first",
        )
    backend = project.config.sandbox.backend
    registry.require_available(backend)
    with creating(project, name):
        project.state.save_worker(WorkerState(name, status=S.CREATING))
        try:
            spec = spec_for(project, name, ensure_hub(project), branch, expose)
            sb = registry.create(spec, backend)
        except BaseException:
            project.state.delete_worker(name)
            raise
        _record_ready(project, sb)
    return sb


def _record_ready(project: Project, sb: Sandbox) -> None:
    info = sb.info()

    def ready(w: WorkerState) -> WorkerState:
        w = move(w, S.IDLE)
        return dataclasses.replace(w, sandbox_id=info.ident, ip=info.address, started_at=utc_now())

    project.state.update_worker(sb.name, ready)


def open_worker(project: Project, name: str, *, start: bool = True) -> Sandbox:
    """The sandbox of worker ``name``, started if it was stopped."""
    meta.check_name(name)
    sb = registry.open_sandbox(project.name, name)
    if start and sb.status() is not SandboxStatus.RUNNING:
        sb.start()
    return sb


@dataclass(frozen=True)
class Extra:
    """What a command run by hand gets on top of the worker's own: an environment (an
    agent's, API keys included: passed to the process, never written) and host paths
    shown read-only for this command only (an agent's install)."""

    env: dict[str, str] = dataclasses.field(default_factory=dict)
    expose: tuple[str, ...] = ()


def exec_command(
    project: Project,
    name: str,
    argv: Sequence[str],
    *,
    tty: bool = True,
    extra: Callable[[Sandbox], Extra] | None = None,
) -> HostCommand:
    """The host command running ``argv`` in worker ``name`` for a user, under the worker's
    limits, with a terminal or not; start it with :func:`isollm.sandbox.ptyrelay.run`
    and the same ``tty`` (it never runs on the user's terminal)."""
    if not argv:
        raise SandboxError("no command given", hint="usage: isollm worker exec NAME -- CMD ...")
    sb = open_worker(project, name)
    more = extra(sb) if extra is not None else Extra()
    if more.expose:  # this command only: the sandbox's record is not rewritten
        shown = tuple(dict.fromkeys((*sb.spec.expose, *more.expose)))
        sb.record.spec = dataclasses.replace(sb.spec, expose=shown)
    return sb.limited(sb.command(list(argv), env=more.env or None, interactive=tty))


def shell_command(
    project: Project,
    name: str,
    *,
    tty: bool = True,
    extra: Callable[[Sandbox], Extra] | None = None,
) -> HostCommand:
    """A login shell in worker ``name``, like :func:`exec_command`."""
    return exec_command(project, name, ["bash", "-l"], tty=tty, extra=extra)


def adopt_worker(project: Project, name: str, *, force: bool = False) -> Sandbox:
    """Keep the sandbox a run that is no longer running left behind as a worker.

    A run that can still be resumed would look for it by name: it is adopted only with
    ``force`` (the resumed run then leaves it alone and works in a new sandbox)."""
    meta.check_name(name)
    run = run_of(name)
    if not run:
        raise SandboxError(
            f"{name!r} is not a run's sandbox; only those are adopted",
            hint="see `isollm worker list`",
        )
    refuse_run_sandbox(project, name)
    if _load(project, name) is not None:
        raise SandboxError(f"{name!r} is a worker already", hint="see `isollm worker list`")
    if not force and project.run_resumable(run):
        raise SandboxError(
            f"sandbox {name!r} belongs to run {run}, which can still be resumed "
            f"(`isollm run --resume {run}` carries on in it)",
            hint="resume the run instead, or pass --force to adopt it anyway: the resumed "
            "run then leaves it alone and goes on in a new sandbox",
        )
    sb = open_worker(project, name)
    project.state.save_worker(WorkerState(name, status=S.CREATING))
    _record_ready(project, sb)
    return sb


def log_path(project: Project, name: str) -> Path:
    meta.check_name(name)
    return registry.open_sandbox(project.name, name).record.log_path


def _refuse_unless_forced(project: Project, name: str, work: WorkState, force: bool) -> None:
    busy = _load(project, name)
    if not force and busy is not None and busy.status is S.BUSY and busy.current_task:
        raise UnsavedWorkError(
            f"worker {name!r} is working on task {busy.current_task.id}",
            hint="wait for it to finish, or pass --force",
        )
    if not force and not work.clean:
        raise UnsavedWorkError(
            f"worker {name!r} holds work that is not on the hub: {work.describe()}",
            hint=f"save it to the hub first (`isollm worker save {name}`, with --commit "
            "MESSAGE for uncommitted changes), or pass --force to discard it",
        )


def save_worker(
    project: Project, name: str, *, branch: str | None = None, commit: str | None = None
) -> Saved:
    """Take worker ``name``'s HEAD into the hub through the intake (see :mod:`~.save`):
    its salvage namespace, or ``branch``; ``commit`` commits leftovers first."""
    refuse_run_sandbox(project, name)
    sb = open_worker(project, name)
    busy = _load(project, name)
    task = busy.current_task.id if busy and busy.status is S.BUSY and busy.current_task else ""
    hub = ensure_hub(project)
    grant = save.grant_for(sb, hub, project.config.git.branch_prefix, branch, task)
    return save.save(sb, hub, grant, sb.work_state(), commit=commit)


def _load(project: Project, name: str) -> WorkerState | None:
    try:
        return project.state.load_worker(name)
    except WorkerNotFoundError:
        return None


def reset_worker(
    project: Project, name: str, *, force: bool = False, branch: str | None = None
) -> Discarded:
    """Back to a clean checkout of the current base; refuses to lose work unless forced."""
    refuse_run_sandbox(project, name)
    sb = open_worker(project, name, start=False)
    work = sb.work_state()
    _refuse_unless_forced(project, name, work, force)
    sb.record.log(f"reset{' (forced)' if force else ''}; discarded: {work.describe()}")
    renew.reset(sb, branch)  # the same renewal as the runner's between two tasks
    if _load(project, name) is None:
        project.state.save_worker(WorkerState(name, status=S.CREATING))
    _record_ready(project, sb)
    return Discarded(name, work, force)


def remove_worker(project: Project, name: str, *, force: bool = False) -> Discarded:
    """Destroy the sandbox and forget the worker; refuses to lose work unless forced."""
    meta.check_name(name)
    refuse_run_sandbox(project, name)
    try:
        sb: Sandbox | None = registry.open_sandbox(project.name, name)
    except SandboxError:
        sb = None
    if sb is None:
        return _remove_without_sandbox(project, name, force)
    work = sb.work_state()
    _refuse_unless_forced(project, name, work, force)
    sb.destroy()
    project.state.delete_worker(name)
    return Discarded(name, work, force)


def _remove_without_sandbox(project: Project, name: str, force: bool) -> Discarded:
    """No readable sandbox record: clear leftovers (forced) and the worker record."""
    directory = meta.sandbox_dir(project.name, name)
    found = _load(project, name) is not None or directory.exists()
    for cls in registry.BACKENDS.values():
        with contextlib.suppress(IsollmError):
            found = cls.remove_leftover(project.name, name) or found
    if directory.exists():
        if not force:
            raise UnsavedWorkError(
                f"worker {name!r} has a sandbox directory isollm cannot read ({directory})",
                hint="look inside for work to keep, then pass --force to delete it",
            )
        _force_remove_dir(directory)
    if not found:
        raise SandboxError(f"there is no worker named {name!r}", hint="see `isollm worker list`")
    project.state.delete_worker(name)
    unknown = "unreadable sandbox deleted" if force else ""
    return Discarded(name, WorkState(unknown=unknown), force)


def _force_remove_dir(directory: Path) -> None:
    limits.release_cgroups(directory)
    merged = directory / "merged"
    if merged.is_mount():
        with contextlib.suppress(OSError):
            mounts.unmount(merged, lazy=True)
    shutil.rmtree(directory, ignore_errors=True)
