"""The one interface every terminal multiplexer implements, and how one is chosen.

A :class:`SessionPlan` says what runs where: a dashboard pane and one pane per worker,
each an argv run directly (never a shell string built from names or titles). A
:class:`Multiplexer` turns the plan into a live session: tmux, zellij, or none (no
panes at all; ``isollm attach W`` opens one later).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from isollm import fsutil
from isollm.errors import CommandError, IsollmError

MUX_NAMES = ("auto", "zellij", "tmux", "none")
LAYOUTS = ("auto", "horizontal", "vertical", "grid")
VALID_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,79}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class MuxError(CommandError):
    """The terminal multiplexer failed."""


@dataclass(frozen=True)
class PaneSpec:
    """One pane: what runs in it."""

    title: str  # "dashboard" or the worker name
    argv: tuple[str, ...]  # run directly, never through a shell string
    cwd: Path


@dataclass(frozen=True)
class SessionPlan:
    """Everything a multiplexer needs to start a session."""

    name: str  # the multiplexer session name, "isollm-<project>"
    dashboard: PaneSpec
    workers: tuple[PaneSpec, ...]
    layout: str  # auto | horizontal | vertical | grid (config zellij.layout)


@dataclass(frozen=True)
class PaneInfo:
    """One live pane as the multiplexer reports it."""

    title: str
    pid: int | None
    dead: bool


class Multiplexer(Protocol):
    """A terminal multiplexer that holds one project's session."""

    name: str  # "tmux" | "zellij" | "none"

    def available(self) -> str | None:
        """None, or why it cannot run here (with an install hint)."""

    def is_running(self) -> bool:
        """The session exists and its server answers."""

    def start(self, plan: SessionPlan, env: Mapping[str, str] | None = None) -> None:
        """Start the session, always detached; refuses a second start while it runs.

        ``env``: variables the panes must see even when the multiplexer's server was
        started earlier by another process (API keys named by the agent adapter); the
        values never reach an argv, a log or a file.
        """

    def attach_argv(self, focus: str | None = None) -> list[str] | None:
        """The argv that attaches a terminal to the session (None: there are no panes);
        ``focus``: the title of the pane to show, where the multiplexer can (tmux)."""

    def panes(self) -> list[PaneInfo]:
        """The session's panes ([] when it does not run)."""

    def capture(self, title: str, lines: int = 40) -> str:
        """The visible text of the pane titled ``title`` ("" if none)."""

    def add_worker(self, spec: PaneSpec, env: Mapping[str, str] | None = None) -> None:
        """Open a pane for a worker restarted or added later (``env`` as for start)."""

    def stop(self) -> None:
        """End the session; idempotent: no session afterwards."""


def check_spec(spec: PaneSpec) -> None:
    """Refuse a pane a multiplexer could not run, show or list safely."""
    if not spec.title or not spec.title.isprintable():  # no tab, newline or escape
        raise MuxError(f"pane title {spec.title!r} must be non-empty printable text")
    if not spec.argv:
        raise MuxError(f"the pane {spec.title!r} has no command")


def check_env(env: Mapping[str, str] | None) -> None:
    """Refuse a variable name that is not one (it could not be passed as one word)."""
    for key in env or {}:
        if not _ENV_NAME.fullmatch(key):
            raise MuxError(f"{key!r} is not an environment variable name")


def session_name(project: str) -> str:
    """The multiplexer session (and tmux socket) name of a project: ``isollm-<project>``,
    tagged when ``$ISOLLM_HOME`` is not the default (:func:`isollm.fsutil.home_tag`)."""
    if not VALID_NAME.fullmatch(project):
        raise IsollmError(
            f"project name {project!r} cannot name a terminal session",
            hint="use letters, digits and hyphens, starting with a letter",
        )
    return f"isollm-{project}{fsutil.home_tag()}"


def choose(mux: str | None, project: str) -> Multiplexer:
    """The multiplexer to use: None/"auto" means zellij when on PATH, else tmux."""
    # the implementations import this module: import them here, not at the top
    from isollm.session.mux.none import NoMultiplexer  # noqa: PLC0415
    from isollm.session.mux.tmux import Tmux  # noqa: PLC0415
    from isollm.session.mux.zellij import Zellij  # noqa: PLC0415

    name = session_name(project)
    wanted = mux or "auto"
    if wanted == "auto":
        wanted = "zellij" if shutil.which("zellij") else "tmux"
    chosen: Multiplexer
    if wanted == "none":
        return NoMultiplexer(name)
    if wanted == "tmux":
        chosen = Tmux(name)
    elif wanted == "zellij":
        chosen = Zellij(name)
    else:
        raise IsollmError(
            f"unknown multiplexer {mux!r}",
            hint="use one of: " + ", ".join(MUX_NAMES),
        )
    problem = chosen.available()
    if problem:
        raise IsollmError(
            f"{chosen.name} cannot be used: {problem}", hint=_install_hint(chosen.name)
        )
    return chosen


def _install_hint(name: str) -> str:
    return (
        f"install {name} (e.g. `apt install {name}`), or pick another with "
        "--mux tmux|zellij|none (config session.mux)"
    )
