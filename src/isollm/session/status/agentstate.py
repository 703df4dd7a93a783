"""Which state a worker's agent is in, from everything isollm can observe.

In order, the first that applies wins (:func:`decide`, pure):

1. the sandbox is missing or broken: ``dead``; stopped: ``exited``;
2. no process is left in the sandbox (its cgroup is empty), or the worker's pane
   command ended: ``exited``; but while the worker's pane is alive and has only just
   started (``isollm attach`` is still setting the agent up): ``starting``; and in a
   session without panes (``--mux none``), where an agent runs only while someone has
   it open with ``isollm attach WORKER``: ``not-attached``;
3. the state the agent's hooks reported to the task server (``airyra hook``), except
   a "working" the pane has since shown ended (a turn that fails, for example on a
   missing login, fires no Stop hook), and a report older than the session (its
   agent's, ended by ``isollm down`` or a crash);
4. the state read from the worker's pane, debounced (:class:`PaneWatch`, built on
   :mod:`isollm.agents.panestate`): for agents whose hooks said nothing;
5. ``starting`` while the pane has only just started, else ``unknown``.

Each comes with the time the agent entered it, so the dashboard shows "working 2m".
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from isollm.agents import panestate
from isollm.session.status.model import AgentState, Source

GONE = ("missing", "broken")
STARTING_DETAIL = "its pane is starting the agent"
NOT_ATTACHED_DETAIL = "no pane: nothing runs until `isollm attach` opens its agent"
_PANE_STATES: dict[str, panestate.PaneState] = {
    "working": "working",
    "waiting": "waiting",
    "idle": "idle",
}


@dataclass(frozen=True)
class Reported:
    """A state reported by an agent's hooks (the task server's ``AgentState``)."""

    state: str
    since: datetime | None
    detail: str = ""
    reported_at: datetime | None = None  # the last report


@dataclass(frozen=True)
class Decision:
    state: AgentState
    since: datetime | None
    source: Source
    detail: str = ""


def _state(raw: str) -> AgentState:
    try:
        return AgentState(raw)
    except ValueError:
        return AgentState.UNKNOWN


def decide(
    *,
    sandbox: str,
    processes: int | None,
    hook: Reported | None,
    pane: Decision | None,
    pane_exited: bool = False,
    starting: datetime | None = None,
    problem: str = "",
    session_start: datetime | None = None,
    panes: bool = True,
) -> Decision:
    """The state to show for one worker (see the module's docstring for the order).

    ``processes`` is how many processes run in the sandbox (None: not known);
    ``pane`` is the debounced pane state (None: not looked at); ``pane_exited``: the
    worker's pane is there but its command ended; ``starting``: when the worker's pane
    started, if it is alive and started moments ago (its agent may not run yet);
    ``session_start``: hooks last heard before it spoke of an earlier session's agent;
    ``panes``: False in a running session without panes (``--mux none``)."""
    hook = current(hook, session_start)
    seen = _observed(sandbox, processes, pane_exited=pane_exited, problem=problem, panes=panes)
    if seen is not None:
        if starting is not None and processes == 0 and not pane_exited:
            return Decision(AgentState.STARTING, starting, Source.PROCESS, STARTING_DETAIL)
        return seen
    if hook is not None and _state(hook.state) is not AgentState.UNKNOWN:
        if pane is not None and _stopped_since(hook, pane):
            return pane
        return Decision(_state(hook.state), hook.since, Source.HOOK, hook.detail)
    if pane is not None and pane.state is not AgentState.UNKNOWN:
        return pane
    return _unknown(starting)


def current(hook: Reported | None, session_start: datetime | None) -> Reported | None:
    """``hook``, unless last heard before ``session_start``: then it was the word of an
    earlier session's agent (ended by ``isollm down`` or a crash), not of this one.
    Its ``since`` is not before the session either (the server keeps it while reports
    repeat a state, as the next session's first report may)."""
    if hook is None or session_start is None:
        return hook
    if hook.reported_at is not None and hook.reported_at < session_start:
        return None
    if hook.since is not None and hook.since < session_start:
        return dataclasses.replace(hook, since=session_start)
    return hook


def _unknown(starting: datetime | None) -> Decision:
    """Nothing says what the agent does: it is starting while its pane just started."""
    if starting is None:
        return Decision(AgentState.UNKNOWN, None, Source.NONE)
    return Decision(AgentState.STARTING, starting, Source.NONE, STARTING_DETAIL)


def _stopped_since(hook: Reported, pane: Decision) -> bool:
    """The hooks last said "working", and the pane has settled on idle or waiting since."""
    return (
        _state(hook.state) is AgentState.WORKING
        and pane.state in (AgentState.IDLE, AgentState.WAITING)
        and pane.since is not None
        and (hook.since is None or pane.since > hook.since)
    )


def _observed(
    sandbox: str, processes: int | None, *, pane_exited: bool, problem: str, panes: bool
) -> Decision | None:
    """What isollm sees for itself: a dead sandbox or an agent that cannot be running
    (without panes: that nobody opened)."""
    if sandbox in GONE:
        return Decision(AgentState.DEAD, None, Source.SANDBOX, problem or f"sandbox {sandbox}")
    if sandbox == "stopped":
        return Decision(AgentState.EXITED, None, Source.SANDBOX, "sandbox stopped")
    if processes == 0 and not panes:
        return Decision(AgentState.NOT_ATTACHED, None, Source.PROCESS, NOT_ATTACHED_DETAIL)
    if processes == 0:
        return Decision(AgentState.EXITED, None, Source.PROCESS, "no process runs in the sandbox")
    if pane_exited:
        return Decision(AgentState.EXITED, None, Source.PROCESS, "its pane's command exited")
    return None


class PaneWatch:
    """Debounced pane states, one per worker, kept across looks (``status --watch``).

    A single ``isollm status`` gets one look: a worker then keeps the state a recent
    snapshot read from its pane (:meth:`seed`) until two agreeing looks say otherwise,
    or stays unknown.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._debouncers: dict[str, panestate.Debouncer] = {}
        self._since: dict[str, datetime] = {}

    def seed(self, worker: str, state: AgentState, since: datetime | None) -> None:
        """Start ``worker`` from a state a recent snapshot read from its pane."""
        if worker in self._debouncers or state.value not in _PANE_STATES:
            return
        self._debouncers[worker] = panestate.Debouncer(
            clock=self._clock, initial=_PANE_STATES[state.value]
        )
        if since is not None:
            self._since[worker] = since

    def look(self, worker: str, agent: str, screen: str, now: datetime) -> Decision:
        """Feed one look at ``worker``'s pane; its debounced state."""
        debouncer = self._debouncers.get(worker)
        if debouncer is None:
            debouncer = self._debouncers[worker] = panestate.Debouncer(clock=self._clock)
        before = debouncer.state
        after = debouncer.look(agent, screen)
        if after != before or worker not in self._since:
            self._since[worker] = now
        return Decision(_state(after), self._since[worker], Source.PANE)
