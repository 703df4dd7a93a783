"""``isollm down``: end the session without losing work.

In order, each step safe to repeat (an interrupted ``down`` is simply run again):

1. every worker's unsaved work is looked at: uncommitted changes and commits the hub
   lacks (:meth:`Sandbox.work_state`); with any, the user chooses: **salvage** (commit
   what is uncommitted, inside the sandbox, and take each worker's HEAD into the hub
   under ``refs/isollm/salvage/<worker>/…`` through the intake: ``isollm worker save``),
   **discard** (confirmed; the work is not saved to the hub) or **cancel** (nothing
   changes). ``--yes`` means salvage, never discard.
2. the multiplexer session is stopped (the agents in its panes end), and the work is
   looked at again and salvaged: what an agent committed meanwhile is not lost;
3. the tasks the workers' agents still hold go back to the queue;
4. the sandboxes are stopped (kept on disk: the next ``up`` restarts them), kept running
   (``--save``) or destroyed with their records (``--destroy``, after typing
   ``destroy``, or ``--yes``);
5. the project stops taking deliveries, the safe garbage collection runs
   (:func:`isollm.land.gc.collect_safe`), and the
   session record is removed (with the dashboard's brief line, now untrue).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from isollm.errors import IsollmError
from isollm.land import gc
from isollm.sandbox import registry, workers
from isollm.sandbox.gitops import WorkState
from isollm.sandbox.workers import Project
from isollm.session import prepare, recovery
from isollm.session.mux import Multiplexer, choose
from isollm.session.status import briefcache
from isollm.state import NoSessionError, Session, SessionStatus, WorkerState, WorkerStatus
from isollm.tasks.server import control, delivery
from isollm.tasks.store.model import Status

SALVAGE_MESSAGE = "isollm down: salvage of uncommitted work"
Say = Callable[[str], None]


class Choice(StrEnum):
    SALVAGE = "s"
    DISCARD = "d"
    CANCEL = "c"


class SandboxEnd(StrEnum):
    STOPPED = "stopped"
    KEPT = "kept running"
    DESTROYED = "destroyed"


@dataclass(frozen=True)
class DownOptions:
    yes: bool = False
    save: bool = False
    destroy: bool = False


class Prompts(Protocol):
    """The questions ``down`` asks (the command line answers them, or ``--yes``)."""

    def choose(self, unsaved: list[WorkerWork]) -> Choice: ...
    def confirm_discard(self, unsaved: list[WorkerWork]) -> bool: ...
    def confirm_destroy(self, names: list[str]) -> bool: ...


@dataclass(frozen=True)
class WorkerWork:
    """One worker's work not on the hub, and where it went."""

    name: str
    work: WorkState
    salvaged: str = ""  # the salvage ref in the hub
    fetch: str = ""  # the command that fetches it

    def describe(self) -> str:
        return f"{self.name}: {self.work.describe()}"


@dataclass(frozen=True)
class DownResult:
    workers: tuple[str, ...]
    unsaved: tuple[WorkerWork, ...]
    choice: Choice | None
    released: tuple[str, ...]  # task ids put back in the queue
    sandboxes: SandboxEnd
    mux: str
    gc: gc.GcReport | None
    problems: tuple[str, ...] = ()
    had_session: bool = True  # a session was recorded (else: only leftovers were cleaned)


class CancelledError(IsollmError):
    """The user kept the session."""


def session_workers(project: Project) -> list[str]:
    """The project's workers (a run's sandboxes excepted) with a sandbox to look at."""
    return recovery.roster(project).usable


def unsaved_work(project: Project, names: list[str]) -> list[WorkerWork]:
    """The workers among ``names`` holding work the hub lacks (looked at in parallel)."""

    def look(name: str) -> WorkerWork:
        return WorkerWork(name, registry.open_sandbox(project.name, name).work_state())

    return [w for w in recovery.parallel(look, names) if not w.work.clean]


def decide(unsaved: list[WorkerWork], options: DownOptions, prompts: Prompts) -> Choice | None:
    """What to do with unsaved work (None when there is none); CancelledError to stop."""
    if not unsaved:
        return None
    choice = Choice.SALVAGE if options.yes else prompts.choose(unsaved)
    if choice is Choice.DISCARD and not prompts.confirm_discard(unsaved):
        choice = Choice.CANCEL
    if choice is Choice.CANCEL:
        raise CancelledError(
            "cancelled: the session is left as it was", hint="run `isollm down` again to end it"
        )
    return choice


def down(project: Project, options: DownOptions, prompts: Prompts, say: Say) -> DownResult:
    """End the session of ``project``; see the module docstring."""
    names = session_workers(project)
    choice = decide(unsaved_work(project, names), options, prompts)
    if options.destroy and not options.yes and not prompts.confirm_destroy(names):
        raise CancelledError("cancelled: nothing was destroyed nor stopped")
    session = _shutting_down(project)
    mux = _stop_mux(project, session)
    unsaved = unsaved_work(project, names)  # again: agents may have committed meanwhile
    if choice is not Choice.DISCARD:
        unsaved = [_salvage(project, w, say) for w in unsaved]
    released = _release(project, names)
    problems: list[str] = []
    end = _end_sandboxes(project, names, options, problems)
    delivery.unregister(project.name)
    report = _collect(project, problems)
    project.state.clear_session()
    with contextlib.suppress(OSError):  # the dashboard's line spoke of the session's panes
        briefcache.path_for(project.root).unlink(missing_ok=True)
    return DownResult(
        tuple(names),
        tuple(unsaved),
        choice,
        released,
        end,
        mux,
        report,
        tuple(problems),
        had_session=session is not None,
    )


def _collect(project: Project, problems: list[str]) -> gc.GcReport | None:
    """The safe garbage collection; a failure is reported, the session still ends."""
    try:
        return gc.collect_safe(project)
    except IsollmError as exc:
        problems.append(f"gc: {exc.message}")
        return None


def _shutting_down(project: Project) -> Session | None:
    try:
        session = project.state.load_session()
    except NoSessionError:
        return None
    with contextlib.suppress(NoSessionError):
        project.state.save_session(dataclasses.replace(session, status=SessionStatus.SHUTTING_DOWN))
    return session


def _stop_mux(project: Project, session: Session | None) -> str:
    """Stop the session's multiplexer (or the configured one's session, if any)."""
    name = session.multiplexer if session is not None else project.config.session.mux
    try:
        mux: Multiplexer = choose(name or "none", project.name)
    except IsollmError:
        return ""  # not installed: it cannot be running
    mux.stop()
    return mux.name


def _salvage(project: Project, work: WorkerWork, say: Say) -> WorkerWork:
    saved = workers.save_worker(
        project, work.name, commit=SALVAGE_MESSAGE if work.work.uncommitted else None
    )
    say(f"{work.name}: saved {saved.commit[:12]} to {saved.ref} in the hub")
    return dataclasses.replace(work, salvaged=saved.ref, fetch=saved.fetch)


def _release(project: Project, names: list[str]) -> tuple[str, ...]:
    """Put the tasks the workers' agents hold back in the queue (the host's force release)."""
    agents = {prepare.agent_id(n) for n in names}
    config = project.config
    with control.ensure_server(config, project.root) as client:
        held = [t for t in client.all_tasks(Status.IN_PROGRESS) if t.claimed_by in agents]
        for task in held:
            client.release(task.id, force=True)
    return tuple(t.id for t in held)


def _end_sandboxes(
    project: Project, names: list[str], options: DownOptions, problems: list[str]
) -> SandboxEnd:
    if options.save and not options.destroy:
        return SandboxEnd.KEPT
    end = SandboxEnd.DESTROYED if options.destroy else SandboxEnd.STOPPED

    def one(name: str) -> None:
        try:
            if options.destroy:
                workers.remove_worker(project, name, force=True)
            else:
                _stop(project, name)
        except IsollmError as exc:
            problems.append(f"{name}: {exc.message}")

    recovery.parallel(one, names)
    return end


def _stop(project: Project, name: str) -> None:
    registry.open_sandbox(project.name, name).stop()

    def stopped(w: WorkerState) -> WorkerState:
        return workers.move(w, WorkerStatus.STOPPED)

    with contextlib.suppress(IsollmError):
        project.state.update_worker(name, stopped)
