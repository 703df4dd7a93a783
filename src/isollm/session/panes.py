"""What runs in each pane of a session: the :class:`~isollm.session.mux.SessionPlan`.

The dashboard pane runs ``isollm status --watch 2``; worker W's pane runs ``isollm
attach W`` (the agent in W's sandbox, then a shell). Every argv starts with the absolute
path of the isollm that is running, so a pane runs the same isollm whatever the
multiplexer's PATH, and holds only values isollm made: the program path, a validated
worker name, an agent name from the registry and fixed flags (never task titles or
config text).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from isollm.session.mux import PaneSpec, SessionPlan, session_name
from isollm.state import check_worker_name

DASHBOARD = "dashboard"
WATCH_SECONDS = 2


def isollm_argv() -> list[str]:
    """The argv that runs this isollm again: its installed script by absolute path, or
    ``python -m isollm`` with this interpreter when started that way (or not found)."""
    program = sys.argv[0] if sys.argv else ""
    if program and Path(program).name == "isollm":
        found = program if "/" in program else shutil.which(program)
        if found and Path(found).is_file():
            return [str(Path(found).resolve())]
    return [sys.executable, "-m", "isollm"]


def dashboard_argv(program: Sequence[str]) -> tuple[str, ...]:
    return (*program, "status", "--watch", str(WATCH_SECONDS))


def attach_argv(
    program: Sequence[str], worker: str, agent: str, *, idle: bool = False
) -> tuple[str, ...]:
    """The pane program of ``worker``: ``isollm attach W --agent A --pane [--idle]``
    (``--pane``: started by ``isollm up``, which prepared the worker already)."""
    argv = [*program, "attach", check_worker_name(worker), "--agent", agent, "--pane"]
    return (*argv, "--idle") if idle else tuple(argv)


def plan(
    project: str,
    root: Path,
    workers: Sequence[str],
    *,
    agent: str,
    layout: str,
    idle: bool = False,
    program: Sequence[str] | None = None,
) -> SessionPlan:
    """The session of ``project`` (at ``root``): a dashboard and one pane per worker."""
    argv = list(program) if program is not None else isollm_argv()
    return SessionPlan(
        name=session_name(project),
        dashboard=PaneSpec(DASHBOARD, dashboard_argv(argv), root),
        workers=tuple(worker_pane(argv, root, w, agent, idle=idle) for w in workers),
        layout=layout,
    )


def worker_pane(
    program: Sequence[str], root: Path, worker: str, agent: str, *, idle: bool = False
) -> PaneSpec:
    return PaneSpec(worker, attach_argv(program, worker, agent, idle=idle), root)
