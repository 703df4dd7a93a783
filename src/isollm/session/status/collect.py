"""Collect everything ``isollm status`` shows into one :class:`~.model.Snapshot`.

Only I/O, in parallel threads: the session and worker records (``.isollm/``), each
worker's sandbox and the processes in it (cgroup files), the task server (the queue,
who holds what, hook-reported agent states, the context board), the hub (sync, lines
changed on each worker's task branch, files running tasks both touch: :mod:`.overlaps`)
and the multiplexer session (is it running, the text of the panes of agents that
report no state themselves). Nothing is started,
changed or saved: a part that cannot be read shows as unavailable or down.

A :class:`Collector` lives as long as ``status --watch``: it keeps the previous CPU
samples (CPU % over the refresh interval) and the pane debouncers between looks.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from isollm.config import Config
from isollm.errors import IsollmError
from isollm.git.facade import Git
from isollm.git.hub import Hub
from isollm.git.sync import compare_base
from isollm.land import plumbing
from isollm.sandbox import registry
from isollm.session import alive
from isollm.session.mux.base import Multiplexer, PaneInfo, choose
from isollm.session.status import serverfacts, usage
from isollm.session.status.agentstate import Decision, PaneWatch, current, decide
from isollm.session.status.model import (
    Health,
    Service,
    SessionView,
    Snapshot,
    Source,
    SyncView,
    WorkerView,
)
from isollm.session.status.overlaps import ConflictCheck
from isollm.session.status.serverfacts import ServerFacts
from isollm.state import FileState, NoSessionError, Session, WorkerState

T = TypeVar("T")
THREADS = 8
CPU_INTERVAL = 0.25  # shortest interval a first CPU % is measured over
PANE_LINES = 40
STARTING_WINDOW = timedelta(seconds=30)  # a session this young is still starting its agents
Diff = tuple[int | None, int | None]  # lines added, deleted
NO_DIFF: Diff = (None, None)


@dataclass(frozen=True)
class SandboxFacts:
    status: str  # running, stopped, missing, broken
    directory: Path | None = None
    problem: str = ""


@dataclass(frozen=True)
class MuxFacts:
    service: Service
    mux: Multiplexer | None = None
    panes: Mapping[str, PaneInfo] | None = None
    agent: str = ""  # the agent CLI the panes run, as the session recorded it


def _look_at(facts: ServerFacts, worker: str, session_start: datetime | None) -> bool:
    """Whether to read ``worker``'s pane: its hooks said nothing (in this session), or
    said "working" (a turn that ends in an error fires no hook: the screen then shows
    it stopped)."""
    reported = current(facts.reported.get(worker), session_start)
    return reported is None or reported.state == "working"


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def _session(state: FileState) -> tuple[SessionView, Session | None]:
    try:
        session = state.load_session()
    except NoSessionError:
        return SessionView(), None
    except IsollmError as exc:
        return SessionView(recorded=True, error=_first_line(exc)), None
    view = SessionView(
        recorded=True,
        status=session.status.value,
        multiplexer=session.multiplexer,
        mux_session=session.multiplexer_session,
        started_at=session.started_at,
    )
    return view, session


def _sandbox(project: str, name: str) -> SandboxFacts:
    try:
        sb = registry.open_sandbox(project, name)
    except IsollmError as exc:
        return SandboxFacts("missing", problem=_first_line(exc))
    try:
        return SandboxFacts(sb.status().value, sb.record.directory)
    except IsollmError as exc:
        return SandboxFacts("broken", sb.record.directory, _first_line(exc))


def _mux(project: str, session: Session | None) -> MuxFacts:
    if session is None or not session.multiplexer:
        return MuxFacts(Service("multiplexer", Health.NONE, "no session"))
    if not alive.has_panes(session):
        return MuxFacts(Service("multiplexer", Health.NONE, "none: the session has no panes"))
    name = session.multiplexer
    try:
        mux = choose(name, project)
        if not mux.is_running():
            detail = f"session {session.multiplexer_session or project} is gone"
            return MuxFacts(Service(name, Health.DOWN, detail + " (`isollm up` restarts it)"))
        panes = {p.title: p for p in mux.panes()}
    except IsollmError as exc:
        return MuxFacts(Service(name, Health.UNAVAILABLE, _first_line(exc)))
    return MuxFacts(
        Service(name, Health.UP, session.multiplexer_session), mux, panes, session.agent
    )


def _alive(
    view: SessionView, session: Session | None, mux: MuxFacts, boxes: Mapping[str, SandboxFacts]
) -> SessionView:
    """The view, alive by :func:`isollm.session.alive.session_alive` on what was read."""
    if session is None:
        return view
    live = alive.session_alive(
        session,
        panes_running=lambda: mux.service.health is Health.UP,
        sandboxes_running=lambda: any(b.status == "running" for b in boxes.values()),
    )
    return dataclasses.replace(view, alive=live)


@dataclass(frozen=True)
class HubFacts:
    sync: SyncView
    base: str | None = None  # the hub's base branch commit
    tips: Mapping[str, str] | None = None  # task branch -> commit, on the hub


def _hub(root: Path, config: Config) -> HubFacts:
    base = config.git.base_branch
    try:
        hub = Hub.for_project(config.project)
        seen = compare_base(root, hub, base)
        branches = hub.task_branches(config.git.branch_prefix)
        view = SyncView(
            available=True,
            base_branch=base,
            state=seen.state.value,
            ahead=seen.ahead,
            behind=seen.behind,
            host_branch=Git(root).current_branch() or "",
            task_branches=len(branches),
        )
        return HubFacts(view, seen.hub_base, {b.name: b.sha for b in branches})
    except IsollmError as exc:
        return HubFacts(SyncView(base_branch=base, error=_first_line(exc)))


def diff_stat(hub: Hub, base: str, tip: str) -> Diff:
    """Lines added and deleted by commit ``tip`` since it forked from commit ``base``
    (both in the hub); (None, None) when git cannot tell."""
    try:
        git = hub.git()
        fork = plumbing.merge_base(git, base, tip) or plumbing.empty_tree(git)
        files = plumbing.numstat(git, fork, tip)
    except IsollmError:
        return NO_DIFF
    return sum(f.added or 0 for f in files), sum(f.deleted or 0 for f in files)


@dataclass(frozen=True)
class Seen:
    """What one collect read, before it becomes worker views."""

    sandboxes: Mapping[str, SandboxFacts]
    samples: Mapping[str, usage.Sample]
    server: ServerFacts
    mux: MuxFacts
    hub: HubFacts
    started_at: datetime | None = None  # when the running session started
    panes: bool = True  # False: a session runs without panes (`--mux none`)


class Collector:
    """Takes snapshots of one project (see the module's docstring)."""

    def __init__(
        self,
        root: Path,
        config: Config,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        panes: PaneWatch | None = None,
    ) -> None:
        self.root = root
        self.config = config
        self.clock = clock
        self.panes = panes or PaneWatch()
        self.state = FileState.for_project(root)
        self._samples: dict[str, usage.Sample] = {}
        self._diff_cache: dict[tuple[str, str], Diff] = {}  # (base, tip) -> lines changed
        self._pool = ThreadPoolExecutor(THREADS, thread_name_prefix="isollm-status")
        self._conflicts = ConflictCheck(config)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> Collector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _submit(self, fn: Callable[..., T], *args: object) -> Future[T]:
        return self._pool.submit(fn, *args)

    def seed(self, previous: Snapshot) -> None:
        """Carry pane-read states over from a recent snapshot (one look cannot settle one)."""
        for worker in previous.workers:
            if worker.source is Source.PANE:
                self.panes.seed(worker.name, worker.state, worker.since)

    def collect(self, *, cpu: bool = True) -> Snapshot:
        """One snapshot; ``cpu``: measure CPU use (a first look waits :data:`CPU_INTERVAL`)."""
        project = self.config.project
        session_view, session = _session(self.state)
        loaded = self.state.load_all_workers()
        names = [w.name for w in loaded.workers]
        server = self._submit(serverfacts.read, self.config)
        hub = self._submit(_hub, self.root, self.config)
        mux = self._submit(_mux, project, session)
        boxes = {n: self._submit(_sandbox, project, n) for n in names}
        sandboxes = {n: f.result() for n, f in boxes.items()}
        samples = {n: usage.sample(s.directory) for n, s in sandboxes.items() if s.directory}
        facts, mux_facts, hub_facts = server.result(), mux.result(), hub.result()
        session_view = _alive(session_view, session, mux_facts, sandboxes)
        started = session.started_at if session is not None else None
        panes = not (session_view.alive and session is not None and not alive.has_panes(session))
        seen = Seen(sandboxes, samples, facts, mux_facts, hub_facts, started, panes)
        overlap = self._submit(
            self._conflicts.check, facts.coordination, hub_facts.base, hub_facts.tips
        )
        views = self._workers(loaded.workers, seen, cpu)
        found, note = _result(overlap, ((), "the conflict check failed"))
        return Snapshot(
            project=project,
            root=str(self.root),
            taken_at=self.clock(),
            session=session_view,
            workers=views,
            tasks=facts.tasks,
            sync=hub_facts.sync,
            services=(facts.service, mux_facts.service),
            board=facts.board,
            problems=tuple(_first_line(e) for e in loaded.errors)
            + ((facts.hooks_note,) if facts.hooks_note and names else ()),
            conflicts=found,
            conflicts_note=note,
        )

    def _diffs(self, hub: HubFacts, branches: Mapping[str, str]) -> dict[str, Diff]:
        """Lines changed on each worker's branch (by worker), from the hub; computed once
        per (base, tip) pair: ``--watch`` asks git again only when a branch moves."""
        if hub.base is None or not hub.tips:
            return {}
        pairs = {n: (hub.base, hub.tips[b]) for n, b in branches.items() if b in hub.tips}
        repo = Hub.for_project(self.config.project)
        todo = {
            p: self._submit(diff_stat, repo, *p)
            for p in set(pairs.values()) - set(self._diff_cache)
        }
        self._diff_cache = {
            p: self._diff_cache.get(p) or _result(todo[p], NO_DIFF) for p in pairs.values()
        }
        return {n: self._diff_cache[p] for n, p in pairs.items()}

    def _workers(self, records: list[WorkerState], seen: Seen, cpu: bool) -> tuple[WorkerView, ...]:
        sandboxes, samples, facts, mux = seen.sandboxes, seen.samples, seen.server, seen.mux
        prefix = self.config.git.branch_prefix
        tasks = {w.name: _task(w, facts, prefix) for w in records}
        screens = {
            w.name: self._submit(mux.mux.capture, w.name, PANE_LINES)
            for w in records
            if mux.mux is not None
            and w.name in (mux.panes or {})
            and _look_at(facts, w.name, seen.started_at)
        }
        diffs = self._diffs(seen.hub, {n: branch for n, (_, _, branch) in tasks.items() if branch})
        usage_now = self._usage(sandboxes, samples) if cpu else {}
        now = self.clock()
        views = []
        for w in records:
            sample = samples.get(w.name)
            pane = (mux.panes or {}).get(w.name)
            look = None
            if w.name in screens:
                screen = _result(screens[w.name], "")
                look = self.panes.look(w.name, mux.agent or self.config.agent.name, screen, now)
            decision = decide(
                sandbox=sandboxes[w.name].status,
                processes=len(sample.pids) if sample and sample.pids is not None else None,
                hook=facts.reported.get(w.name),
                pane=look,
                pane_exited=pane is not None and pane.dead,
                starting=_starting(pane, seen.started_at, now),
                problem=sandboxes[w.name].problem,
                session_start=seen.started_at,
                panes=seen.panes,
            )
            rss = sample.rss_bytes if sample else None
            views.append(
                _view(
                    w,
                    sandboxes[w.name],
                    decision,
                    tasks[w.name],
                    diffs.get(w.name, NO_DIFF),
                    usage_now.get(w.name, (None, rss)),
                )
            )
        return tuple(views)

    def _usage(
        self, sandboxes: Mapping[str, SandboxFacts], first: Mapping[str, usage.Sample]
    ) -> dict[str, tuple[float | None, int | None]]:
        """(CPU %, RSS) per worker: against the previous collect's sample, or for a
        worker seen the first time, over a short interval measured now."""
        fresh = [
            n for n, s in first.items() if n not in self._samples and s.cpu_seconds is not None
        ]
        latest = dict(first)
        if fresh:
            wait = CPU_INTERVAL - (time.monotonic() - min(first[n].at for n in fresh))
            if wait > 0:
                time.sleep(wait)
            for n in fresh:
                directory = sandboxes[n].directory
                if directory is not None:
                    latest[n] = usage.sample(directory)
        out = {}
        for n, after in latest.items():
            before = first[n] if n in fresh else self._samples.get(n)
            out[n] = (usage.cpu_percent(before, after), after.rss_bytes)
        self._samples = latest
        return out


def _starting(pane: PaneInfo | None, started: datetime | None, now: datetime) -> datetime | None:
    """When the worker's pane started, while it is alive and its session began less than
    :data:`STARTING_WINDOW` ago (its ``isollm attach`` may still be setting up)."""
    if pane is None or pane.dead or started is None or now - started >= STARTING_WINDOW:
        return None
    return started


def _view(
    worker: WorkerState,
    box: SandboxFacts,
    decision: Decision,
    task: tuple[str, str, str],
    diff: tuple[int | None, int | None],
    used: tuple[float | None, int | None],
) -> WorkerView:
    return WorkerView(
        name=worker.name,
        status=worker.status.value,
        sandbox=box.status,
        state=decision.state,
        since=decision.since,
        source=decision.source,
        detail=decision.detail,
        task_id=task[0],
        task_title=task[1],
        branch=task[2],
        added=diff[0],
        deleted=diff[1],
        cpu_percent=used[0],
        rss_bytes=used[1],
        problem=worker.last_error if worker.status.value == "error" else box.problem,
    )


def _task(worker: WorkerState, facts: ServerFacts, prefix: str) -> tuple[str, str, str]:
    """(task id, title, branch) of the task ``worker`` holds: the server's word first
    (its agent is named after the worker); the worker's record (a cache) only when the
    server cannot be asked."""
    held = facts.held.get(worker.name)
    if held is not None:
        return held.task_id, held.title, f"{prefix}{held.task_id}"
    if worker.current_task is not None and not facts.tasks.available:
        return worker.current_task.id, worker.current_task.title, worker.current_branch
    return "", "", worker.current_branch


def _result(future: Future[T], default: T) -> T:
    try:
        return future.result()
    except (IsollmError, OSError):
        return default
