"""Whether a recorded session still runs, whatever its multiplexer.

``.isollm/session.json`` names one process: the tmux server's once the panes run,
otherwise the ``isollm up`` that wrote it, which exits as soon as the session has
started (zellij's server is not a parent of the panes isollm can see; without a
multiplexer nothing else runs). So a session is live while that process runs (an
``isollm up`` still starting it), or:

- with panes (tmux, zellij): while the multiplexer's session runs;
- without (``--mux none``): while any of the project's workers' sandboxes runs (their
  agents are opened with ``isollm attach WORKER``; ``isollm down`` stops them).

:func:`session_alive` is the rule, given how to look; :func:`is_live` looks.
``isollm status`` applies the rule to what it collected anyway.
"""

from __future__ import annotations

from collections.abc import Callable

from isollm import liveness
from isollm.errors import IsollmError
from isollm.sandbox import registry
from isollm.sandbox.base import SandboxStatus
from isollm.sandbox.workers import Project
from isollm.session.mux import choose
from isollm.state import Session


def has_panes(session: Session) -> bool:
    """Whether the session runs in a multiplexer (tmux, zellij), not ``none``."""
    return session.multiplexer not in ("", "none")


def session_alive(
    session: Session,
    *,
    panes_running: Callable[[], bool],
    sandboxes_running: Callable[[], bool],
) -> bool:
    """The rule (see the module's docstring); the callables are asked only when needed."""
    if liveness.is_alive(session.pid, session.pid_start_time):
        return True
    return panes_running() if has_panes(session) else sandboxes_running()


def is_live(project: Project, session: Session) -> bool:
    """Whether ``session`` (recorded in ``project``) still runs."""
    return session_alive(
        session,
        panes_running=lambda: panes_running(project, session),
        sandboxes_running=lambda: any_worker_running(project),
    )


def panes_running(project: Project, session: Session) -> bool:
    """The session's multiplexer session runs (False when it cannot be asked)."""
    try:
        return choose(session.multiplexer, project.name).is_running()
    except IsollmError:
        return False


def any_worker_running(project: Project) -> bool:
    """Any of the project's workers has a running sandbox."""
    for worker in project.state.load_all_workers().workers:
        try:
            if registry.open_sandbox(project.name, worker.name).status() is SandboxStatus.RUNNING:
                return True
        except IsollmError:
            continue
    return False
