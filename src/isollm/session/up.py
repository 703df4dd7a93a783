"""``isollm up``: start an interactive session, or take back one whose panes are gone.

In order: the command line's overrides applied to the config; a session already
running refused (with the ``isollm attach`` hint); a warning when the agent's
credentials are not in the environment (``isollm doctor``'s check); a hub whose
base lacks commits of yours refused unless forced; the session recorded
(``.isollm/session.json``, created exclusively: a session that no longer runs,
:mod:`.alive`, is taken over); the task
server started if needed and told where this project's deliveries go; the workers
gathered (existing ones first, re-adopted as they were: :mod:`.recovery`) and prepared
(instructions, agent settings and hooks: :mod:`.prepare`); the multiplexer started with
a dashboard pane and one pane per worker (:mod:`.panes`). If a step fails, the
multiplexer session is stopped, the delivery record and the session record removed;
workers (and the task server) stay.

The session record names the multiplexer's server process once it runs (the ``up``
process itself exits); whether a recorded session still runs, for every multiplexer
(``none`` included), is :mod:`.alive`'s rule.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from isollm import liveness
from isollm.agents.base import Agent
from isollm.config import Config
from isollm.doctor import endpoint
from isollm.doctor import host as doctor_host
from isollm.doctor.model import Status as CheckStatus
from isollm.errors import GitError, IsollmError
from isollm.git.hub import Hub
from isollm.git.sync import BaseState, compare_base, push_base
from isollm.runner import agenthome, byhand
from isollm.sandbox.base import Sandbox
from isollm.sandbox.workers import Project
from isollm.session import alive, panes, prepare, recovery
from isollm.session.mux import Multiplexer, SessionPlan, choose, session_name
from isollm.session.settings import SessionSettings
from isollm.state import NoSessionError, Session, SessionStatus
from isollm.tasks.client.http import TaskClient
from isollm.tasks.server import control, delivery
from isollm.tasks.store.model import Status, Task

Say = Callable[[str], None]


@dataclass(frozen=True)
class UpOptions:
    """``isollm up``'s command line (None: the config's value)."""

    workers: int | None = None
    agent: str | None = None
    base: str | None = None
    force: bool = False
    mux: str | None = None
    idle: bool = False


@dataclass(frozen=True)
class UpResult:
    session: str  # the multiplexer session name
    mux: str
    agent: str
    found: recovery.Found
    attach: list[str] | None  # what attaches a terminal (None: no panes)


class SessionRunningError(IsollmError):
    """A session of this project is running already."""


def configured(project: Project, options: UpOptions) -> Project:
    """``project`` with the command line's ``--base`` and ``-n`` applied to its config."""
    config = project.config
    if options.base:
        config = dataclasses.replace(
            config, git=dataclasses.replace(config.git, base_branch=options.base)
        )
    if options.workers is not None:
        if options.workers < 1:
            raise IsollmError("-n must be at least 1", hint="isollm up -n 3")
        config = dataclasses.replace(config, workers=options.workers)
    return dataclasses.replace(project, config=config)


def session_plan(project: Project, names: list[str], agent: str, options: UpOptions) -> SessionPlan:
    settings = SessionSettings.from_config(project.config, mux=options.mux, idle=options.idle)
    return panes.plan(
        project.name, project.root, names, agent=agent, layout=settings.layout, idle=options.idle
    )


def planned_names(project: Project) -> list[str]:
    """The workers a session would have, without creating or starting anything."""
    chosen, new = recovery.roster(project).session(project.config.workers)
    return chosen + new


def refuse_running(project: Project) -> Session | None:
    """The recorded session if it is over (or None); SessionRunningError if it runs."""
    try:
        session = project.state.load_session()
    except NoSessionError:
        return None
    if alive.is_live(project, session):
        raise SessionRunningError(
            f"an isollm session is already running in project {project.name!r} "
            f"(started {session.started_at:%Y-%m-%d %H:%M} UTC, "
            f"{session.multiplexer or 'no'} panes)",
            hint="join it with `isollm attach`, or end it with `isollm down`",
        )
    return session


def credentials_warning(agent: Agent, env: Mapping[str, str]) -> str | None:
    """What ``up`` warns when ``isollm doctor``'s credential check fails for ``agent``
    (:func:`isollm.doctor.host.credentials`); not refused: one may log in in a pane."""
    check = doctor_host.credentials(agent, env)
    if check.status is not CheckStatus.FAIL:
        return None
    return (
        f"{agent.name}: {check.detail}: its agents cannot work until you log in inside "
        f"each pane, or {check.fix} (`isollm doctor` checks the whole setup)"
    )


def check_hub(project: Project, force: bool, warn: Say) -> Hub:
    """The hub, with the base pushed the first time; refuses a hub whose base lacks
    commits of yours (workers would start from an old base) unless ``force``."""
    config = project.config
    base = config.git.base_branch
    hub = Hub.for_project(project.name)
    seen = compare_base(project.root, hub, base)
    if seen.state in (BaseState.NO_HUB, BaseState.NOT_PUSHED, BaseState.NO_HOST_BRANCH):
        push_base(project.root, hub, base)
    elif seen.state.stale:
        what = f"{seen.ahead} commit(s)" if seen.state is BaseState.AHEAD else "diverging commits"
        message = f"the hub's {base} lacks {what} of your {base}: workers would start without them"
        if not force:
            raise GitError(
                message,
                hint="bring the hub up to date with `isollm sync push`, or start anyway "
                "with `isollm up --force`",
            )
        warn(f"{message} (--force)")
    return hub


def refuse_offline(agent: Agent, network: str) -> None:
    """Refuse, as ``isollm run``'s preflight does, an agent that could not reach its
    model API (``sandbox.network: none``; the command agent runs offline)."""
    if network == "none":
        check = endpoint.model_endpoint(agent, {}, network)
        if check.status is CheckStatus.FAIL:
            raise IsollmError(check.detail, hint=check.fix)


def up(project: Project, options: UpOptions, say: Say, warn: Say | None = None) -> UpResult:
    """Start (or take back) the session of ``project``; see the module docstring.
    ``say`` hears what is started on the way, ``warn`` what is forced (default: ``say``)."""
    project = configured(project, options)
    config = project.config
    settings = SessionSettings.from_config(config, mux=options.mux, idle=options.idle)
    hand = byhand.hand_agent(config, options.agent or config.agent.name)
    mux = choose(settings.mux, project.name)
    refuse_running(project)
    refuse_offline(hand.agent, config.sandbox.network)
    missing = credentials_warning(hand.agent, hand.host_env)
    if missing:
        (warn or say)(missing)
    hub = check_hub(project, options.force, warn or say)
    record = Session.for_this_process(
        str(project.root),
        hub_path=str(hub.path),
        multiplexer=mux.name,
        multiplexer_session=session_name(project.name),
        agent=hand.agent.name,
    )
    previous = project.state.create_session(record)
    try:
        return _start(project, options, hand, mux, previous, say)
    except BaseException:
        with contextlib.suppress(IsollmError):
            mux.stop()
        with contextlib.suppress(IsollmError, OSError):
            delivery.unregister(project.name)
        project.state.clear_session()
        raise


def _start(
    project: Project,
    options: UpOptions,
    hand: byhand.HandAgent,
    mux: Multiplexer,
    previous: Session | None,
    say: Say,
) -> UpResult:
    config = project.config
    client = control.ensure_server(config, project.root, notify=say)
    with client:
        delivery.register(project.name, config.git.base_branch, config.git.branch_prefix)
        shown = hand.shown(config.sandbox.backend)
        found, sandboxes = recovery.gather(project, config.workers, held_tasks(client), shown)
    found = recovery.with_previous(found, previous)
    prepare_all(config, sandboxes, hand)
    plan = session_plan(project, found.names, hand.agent.name, options)
    mux.start(plan)
    session = project.state.load_session()
    pid = server_pid(mux) or session.pid
    project.state.save_session(
        dataclasses.replace(
            session,
            status=SessionStatus.RUNNING,
            pid=pid,
            pid_start_time=liveness.start_time(pid),
        )
    )
    return UpResult(plan.name, mux.name, hand.agent.name, found, mux.attach_argv())


def held_tasks(client: TaskClient) -> dict[str, Task]:
    """The tasks in progress, by the agent holding each."""
    return {t.claimed_by: t for t in client.all_tasks(Status.IN_PROGRESS) if t.claimed_by}


def prepare_all(config: Config, sandboxes: list[Sandbox], hand: byhand.HandAgent) -> None:
    airyra = agenthome.airyra_program()
    recovery.parallel(lambda sb: prepare.prepare_worker(config, sb, hand.agent, airyra), sandboxes)


def server_pid(mux: Multiplexer) -> int | None:
    """The multiplexer server's process: the parent of its panes' programs."""
    for pane in mux.panes():
        if pane.pid is None:
            continue
        parent = _parent(pane.pid)
        if parent is not None and parent > 1:
            return parent
    return None


def _parent(pid: int) -> int | None:
    try:
        text = (liveness.PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()
    return int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else None
