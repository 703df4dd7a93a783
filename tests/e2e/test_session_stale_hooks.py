"""What an agent's hooks last told the task server in an earlier session is not the
state of the agent the next session starts: after `isollm down` (the hooks' last word
"exited") and `isollm up`, the dashboard must not show the new agent exited.

A real task server, real state files and a real overlay sandbox with a process in it
(the new session's agent, running but not yet heard from).
"""

from __future__ import annotations

import time
from pathlib import Path

from isollm.sandbox import registry
from isollm.sandbox.workers import Project, add_worker
from isollm.session.status.model import AgentState, Source
from isollm.state import Session, SessionStatus
from tests.conftest import skip_or_fail
from tests.integration.status_support import project
from tests.integration.test_status_collect import collector, server, wait_for_process

__all__ = ["project"]  # the fixture, for this module's tests


def test_hooks_heard_before_the_session_began_are_not_its_agents(project: Path) -> None:
    if registry.available("overlay"):
        skip_or_fail(f"overlay sandboxes unavailable: {registry.available('overlay')}")
    p = Project.load(project)
    sb = add_worker(p)
    job = sb.spawn(["sleep", "30"])  # the new session's agent, not heard from yet
    wait_for_process(sb.record.directory)
    try:
        with server(project) as client:
            client.add_task("a task, so the project exists on the server")
            client.set_agent_state("worker-1", "exited", "")  # the last session's agent
            time.sleep(0.05)
            session = Session.for_this_process(
                str(project), status=SessionStatus.RUNNING, multiplexer="none"
            )
            p.state.create_session(session)
            with collector(project) as c:
                before = c.collect(cpu=False)
            client.set_agent_state("worker-1", "working", "Edit")  # the new agent speaks
            with collector(project) as c:
                after = c.collect(cpu=False)
    finally:
        job.kill()
    assert (before.workers[0].state, before.workers[0].source) == (
        AgentState.UNKNOWN,
        Source.NONE,
    )
    assert (after.workers[0].state, after.workers[0].source) == (AgentState.WORKING, Source.HOOK)
    assert after.workers[0].since is not None
    assert after.workers[0].since >= session.started_at
