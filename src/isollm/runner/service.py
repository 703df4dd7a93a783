"""``isollm run``: start a headless run, or resume one a crash left behind.

Start: validate the config, push the base to the hub, start (or find) the task server,
snapshot the base, create the run's state and ledger, then let the scheduler work the
queue. Resume: take over the run, replay its ledger, reconcile every task it touched
with the task server and the hub (see :mod:`isollm.runner.resume`), and go on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from isollm import config as cfg
from isollm import fsutil
from isollm.agents import get_agent, require
from isollm.agents.base import Agent
from isollm.doctor import preflight
from isollm.errors import RunError
from isollm.git.facade import Git
from isollm.git.hub import Hub
from isollm.git.sync import PushOutcome, push_base, short, uncommitted_files
from isollm.runner import runstate, snapshot
from isollm.runner.context import RunContext, RunSettings
from isollm.runner.crashes import DiskFullError, disk_full, disk_full_error
from isollm.runner.events import Kind, Observer, Progress
from isollm.runner.expose import CONTAINER_BACKENDS, exposed_paths, sandboxed
from isollm.runner.layout import RunPaths
from isollm.runner.ledger import LedgerWriter, Replay
from isollm.runner.reconcile import reconcile
from isollm.runner.report import show_run
from isollm.runner.runstate import RunState, RunStatus
from isollm.runner.scheduler import Scheduler, Tally
from isollm.runner.summary import RunSummary, needs_attention
from isollm.runner.view import EventType
from isollm.tasks.server.control import ensure_server


@dataclass(frozen=True)
class RunRequest:
    workers: int | None = None
    agent: str | None = None
    watch: bool = False
    resume: bool = False
    run_id: str | None = None  # with resume: which run (default: the latest)
    preflight: bool = True  # isollm.doctor's checks before the first claim
    tasks: tuple[str, ...] = ()  # --task: only these (isollm.runner.selection)


@dataclass(frozen=True)
class RunResult:
    run_id: str
    status: RunStatus
    interrupted: bool
    summary: RunSummary
    errors: tuple[str, ...] = ()
    crashes: tuple[BaseException, ...] = ()  # errors not isollm's own: crash logs to write


def run(
    root: Path,
    request: RunRequest,
    observer: Observer,
    *,
    host_env: Mapping[str, str] | None = None,
    handle_signals: bool = True,
) -> RunResult:
    """Run (or resume) a headless run to its end and summarise it. A full disk stops it
    with :class:`DiskFullError` (resumable once space is freed), never with a crash."""
    named: list[str] = []  # the run's id, once it has one
    try:
        return _run(root, request, observer, named, host_env, handle_signals)
    except Exception as exc:
        full = disk_full(exc)
        if full is None or isinstance(exc, DiskFullError):
            raise
        raise disk_full_error(exc, full, named[-1] if named else None) from exc


def _run(
    root: Path,
    request: RunRequest,
    observer: Observer,
    named: list[str],
    host_env: Mapping[str, str] | None,
    handle_signals: bool,
) -> RunResult:
    config = cfg.load_valid(root).config  # claims the project for this checkout
    env = dict(os.environ if host_env is None else host_env)
    taken, settings = _settings(root, config, request)
    agent, reviewer = _agents(config, settings, env.get("PATH"))
    hub, base_commit = _base(root, config, _warning(observer))
    if request.preflight:  # a setup problem stops the run here, costing no task an attempt
        preflight.for_run(root, config, (agent, reviewer), env, hub.path, base_commit, observer)
    client = ensure_server(config, root, notify=_warning(observer))
    state = taken or _new_run(root, config, settings, agent)
    named.append(state.id)
    paths = _run_dirs(root, state.id)
    writer, replayed = LedgerWriter.open(paths.ledger, state.id)
    with contextlib.closing(writer):
        ctx = RunContext(
            root,
            config,
            state.id,
            paths,
            client,
            hub,
            agent,
            reviewer,
            writer,
            settings,
            base_commit,
            env,
            observer,
            _exposed(config, agent, reviewer, env),
        )
        tally = _go(ctx, state, replayed, request, handle_signals)
        status = _final_status(ctx, tally)
    return _finish(ctx, state, status, tally)


def _warning(observer: Observer) -> Callable[[str], None]:
    return lambda message: observer(Progress(Kind.WARNING, detail=message))


def _run_dirs(root: Path, run_id: str) -> RunPaths:
    paths = RunPaths.of(root, run_id)
    fsutil.ensure_dir(paths.logs)
    fsutil.ensure_dir(paths.receipts)
    return paths


def _finish(ctx: RunContext, state: RunState, status: RunStatus, tally: Tally) -> RunResult:
    runstate.finish_run(ctx.root, state, status, reason="; ".join(tally.errors) or None)
    ctx.observer(Progress(Kind.RUN_FINISHED, detail=status.value))
    return RunResult(
        state.id,
        status,
        ctx.stopping.is_set() and not tally.errors,
        show_run(ctx.root, state.id),
        tuple(tally.errors),
        tuple(tally.crashes),
    )


def _settings(
    root: Path, config: cfg.Config, request: RunRequest
) -> tuple[RunState | None, RunSettings]:
    """The run taken over (on resume) and the run's settings."""
    if not request.resume:
        settings = RunSettings.from_config(
            config, workers=request.workers, agent=request.agent, watch=request.watch
        )
        return None, dataclasses.replace(settings, only=request.tasks)
    state = runstate.take_over(root, runstate.pick_run(root, request.run_id))
    settings = RunSettings.from_config(
        config,
        workers=request.workers or state.workers,
        agent=request.agent or state.agent,
        watch=request.watch,
    )
    return state, dataclasses.replace(settings, only=request.tasks)


def _base(root: Path, config: cfg.Config, warn: Callable[[str], None]) -> tuple[Hub, str]:
    """The hub, with the base branch pushed to it, and the base commit there (the hub's
    own when it is ahead of yours: work ``isollm merge`` landed)."""
    hub = Hub.for_project(config.project).ensure()
    base = config.git.base_branch
    pushed = push_base(root, hub, base, hub_ahead_ok=True)
    if pushed.outcome is PushOutcome.HUB_AHEAD:
        warn(
            f"the hub's {base} is ahead of yours (work `isollm merge` landed): tasks start "
            f"from the hub's {short(pushed.old)}; `isollm sync pull` brings it to your {base}"
        )
    base_commit = hub.head_of(config.git.base_branch)
    if base_commit is None:  # pragma: no cover - push_base just put it there
        raise RunError(f"the hub has no {config.git.base_branch} branch after pushing it")
    _warn_uncommitted(root, base, warn)
    return hub, base_commit


def _warn_uncommitted(root: Path, base: str, warn: Callable[[str], None]) -> None:
    """Agents see only commits: say so when the user's work tree holds more."""
    paths = uncommitted_files(Git(root))
    if paths is None:
        warn(
            f"`git status` fails in your work tree, so isollm cannot tell whether it holds "
            f"changes not in {base}: agents start from its last commit"
        )
    elif paths:
        more = f" and {len(paths) - 3} more" if len(paths) > 3 else ""
        warn(
            f"uncommitted changes in your work tree ({', '.join(paths[:3])}{more}) are not "
            f"in {base}: agents start from its last commit, without them (commit them "
            "first if tasks need them)"
        )


def _go(
    ctx: RunContext, state: RunState, replayed: Replay, request: RunRequest, signals: bool
) -> Tally:
    if replayed.damage is not None:
        ctx.observer(Progress(Kind.WARNING, detail=f"ledger: {replayed.damage.describe()}"))
    if request.resume:
        ctx.ledger.append(EventType.RUN_RESUMED, workers=ctx.settings.workers)
        reconcile(ctx, replayed.view)
    else:
        ctx.ledger.append(
            EventType.RUN_STARTED,
            workers=ctx.settings.workers,
            agent=ctx.agent.name,
            base=ctx.base_commit,
            snapshot=state.snapshot_id,
        )
    ctx.observer(Progress(Kind.RUN_STARTED, detail=state.id))
    ctx.upkeep.pack()  # task branches of earlier runs
    scheduler = Scheduler(ctx, replayed.view)
    with _interrupts(scheduler, signals):
        return scheduler.run()


def _final_status(ctx: RunContext, tally: Tally) -> RunStatus:
    """How the run ended, recorded as its last event: a run that ran to its end with a
    task blocked or delivered flagged (partial, unapproved) needs attention, never
    plain completed."""
    status = RunStatus.COMPLETED
    if tally.errors:
        status = RunStatus.FAILED
    elif ctx.stopping.is_set():
        status = RunStatus.ABORTED
    elif needs_attention(show_run(ctx.root, ctx.run_id).totals):
        status = RunStatus.NEEDS_ATTENTION
    ctx.ledger.append(EventType.RUN_FINISHED, status=status.value, claimed=tally.claimed)
    return status


def _agents(
    config: cfg.Config, settings: RunSettings, path_env: str | None
) -> tuple[Agent, Agent | None]:
    agent = get_agent(settings.agent_name, config.agent)
    require(agent)
    reviewer = None
    if settings.review and settings.review_agent:
        reviewer = get_agent(settings.review_agent, config.agent)
        require(reviewer)
    if config.sandbox.backend != "worktree":  # it hides the homes a CLI may be linked from
        container = config.sandbox.backend in CONTAINER_BACKENDS
        agent = sandboxed(agent, path_env, container=container)
        reviewer = sandboxed(reviewer, path_env, container=container) if reviewer else None
    return agent, reviewer


def _exposed(
    config: cfg.Config, agent: Agent, reviewer: Agent | None, env: Mapping[str, str]
) -> tuple[str, ...]:
    programs = [a.binary for a in (agent, reviewer) if a is not None and a.binary]
    container = config.sandbox.backend in CONTAINER_BACKENDS
    return exposed_paths(programs, config.sandbox.expose, env.get("PATH"), container=container)


def _new_run(root: Path, config: cfg.Config, settings: RunSettings, agent: Agent) -> RunState:
    snap = snapshot.capture(root, config.git.base_branch)
    state = runstate.create_run(
        root,
        workers=settings.workers,
        agent=agent.name,
        config_digest=runstate.config_digest(config),
        base_branch=config.git.base_branch,
        snapshot_id=snap.id,
    )
    snapshot.write(RunPaths.of(root, state.id).snapshot, snap)
    return state


@contextlib.contextmanager
def _interrupts(scheduler: Scheduler, enabled: bool) -> Iterator[None]:
    """First Ctrl-C: finish running tasks, claim no more. Second (or SIGTERM): stop the
    agents and give their tasks back."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return
    presses = 0

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        nonlocal presses
        presses += 1
        if presses == 1 and signum == signal.SIGINT:
            scheduler.stop()
        else:
            scheduler.abort()

    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, on_interrupt) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
