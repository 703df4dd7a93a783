"""tmux: one private server per project, panes laid out by :mod:`.layout`.

Everything runs on a dedicated socket (``tmux -L isollm-<project>``): a crash or a
``kill-server`` of one project's session never touches the user's own tmux or another
project. Every call has a timeout and names its target exactly (``=NAME:`` for the
session, ``%N`` pane ids for panes), never by prefix.

How a pane's command is passed: tmux (3.0 and later) executes a command given as more
than one argument directly with ``execvp``, without a shell, so a :class:`PaneSpec`'s
argv reaches tmux as separate arguments after ``--`` and no shell string is ever built.
A one-element argv is run through ``env --`` for the same reason (tmux would hand a
single argument to ``sh -c``). tmux's own parser still treats an argument ending in
``;`` as a command separator: :func:`tmux_arg` escapes that; values tmux expands as
formats (a pane title, a start directory) have ``#`` doubled (:func:`format_literal`);
values passed on stdin in tmux's command language are quoted by :func:`config_string`.

Panes after exit (``remain-on-exit failed``): one whose command fails stays, dead, with
its last words and exit status on screen (tmux can drop what was written in the very
instant before the exit); one that ends well closes (tmux 3.3 now and then keeps it,
dead, when the end of its output arrives before its exit status). :meth:`Tmux.panes`
reports such a pane as dead and :meth:`Tmux.add_worker` restarts it in place. While a
session is being built every pane stays (the next split needs its target).

Panes are known by a pane option ``@isollm_title`` (and ``@isollm_role``), not by the
pane title, which the program inside can change with an escape sequence. The server
inherits the environment of the process that starts it; variables named in ``env``
are set in the session's environment through stdin (``source-file -``), so a pane
opened later by another process sees them too and the values never reach an argv.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import stat
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from isollm import proc
from isollm.session.mux import layout
from isollm.session.mux.base import (
    MuxError,
    PaneInfo,
    PaneSpec,
    SessionPlan,
    check_env,
    check_spec,
)

TMUX_TIMEOUT = 10.0  # seconds for any one tmux call
MIN_VERSION = (3, 1)  # argv panes, percentage sizes, select-layout -E
WIDTH, HEIGHT = 200, 50  # size of the detached session until a client attaches
TITLE = "@isollm_title"
ROLE = "@isollm_role"
_SEP = "\t"
_COLUMNS = ("pane_id", "pane_pid", "pane_dead", "window_index", ROLE, TITLE)  # title last
_FIELDS = _SEP.join(f"#{{{column}}}" for column in _COLUMNS)
_FIELD_COUNT = len(_COLUMNS)
_NO_SESSION = (
    "no server running",
    "can't find session",
    "error connecting",
    "server exited unexpectedly",
)
STOP_WAIT = 3.0  # seconds kill-server may take to end the server
_PANE_ID = re.compile(r"%[0-9]+")
_AFTER_BUILD = "set-option -wg remain-on-exit failed\n"
_PANE_GONE = ("can't find pane", "no such pane")
_OPTIONS = f"""\
set-option -g destroy-unattached off
set-option -wg remain-on-exit on
set-option -wg allow-rename off
set-option -wg automatic-rename off
set-option -wg pane-border-status top
set-option -wg pane-border-format " #{{?{TITLE},#{{{TITLE}}},#{{pane_title}}}} "
"""


def tmux_arg(text: str) -> str:
    """``text`` as one tmux argument: a trailing ``;`` would end the command, escape it."""
    return text[:-1] + "\\;" if text.endswith(";") else text


def format_literal(text: str) -> str:
    """``text`` where tmux expands formats: ``#`` doubled so ``#(...)`` runs nothing."""
    return text.replace("#", "##")


def config_string(text: str) -> str:
    """``text`` as a double-quoted string of tmux's command language (no ``$`` expansion)."""
    out = []
    for char in text:
        if char in '"\\$':
            out.append("\\" + char)
        elif char.isprintable():
            out.append(char)
        else:
            out.append("".join(f"\\{byte:03o}" for byte in char.encode()))
    return '"' + "".join(out) + '"'


def pane_command(argv: Sequence[str]) -> list[str]:
    """The tail of a new-session/split-window argv that runs ``argv`` without a shell."""
    if not argv:
        raise ValueError("a pane needs a command")
    return ["--", *(["env", "--", argv[0]] if len(argv) == 1 else argv)]


@dataclass(frozen=True)
class _Pane:
    pane_id: str
    pid: int | None
    dead: bool
    window: int
    role: str
    title: str


def _parse_panes(text: str) -> list[_Pane]:
    panes = []
    for line in text.splitlines():
        fields = line.split(_SEP, _FIELD_COUNT - 1)
        if len(fields) != _FIELD_COUNT or not fields[-1]:
            continue  # a pane isollm did not open (the user split one)
        pane_id, pid, dead, window, role, title = fields
        panes.append(
            _Pane(
                pane_id,
                int(pid) if pid.isdigit() else None,
                dead == "1",
                int(window) if window.isdigit() else 0,
                role,
                title,
            )
        )
    return panes


def _version(text: str) -> tuple[int, int] | None:
    match = re.search(r"(\d+)\.(\d+)", text)
    return (int(match[1]), int(match[2])) if match else None


@functools.cache
def _installed_version(program: str) -> tuple[int, int] | None:
    """The version of the tmux at ``program``, asked once per process (status runs often)."""
    result = proc.run([program, "-V"], timeout=TMUX_TIMEOUT, check=False, error=MuxError)
    return _version(result.stdout)


def _client_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = proc.clean_env(extra)
    env.pop("TMUX", None)  # started from inside another tmux: ours is separate
    env.pop("TMUX_PANE", None)
    return env


class Tmux:
    """One project's session on its own tmux server."""

    name = "tmux"

    def __init__(self, session: str, socket: str | None = None) -> None:
        self.session = session
        self.socket = socket or session

    # -- the Multiplexer interface -----------------------------------------------------

    def available(self) -> str | None:
        tmux = shutil.which("tmux")
        if tmux is None:
            return "tmux is not on PATH"
        found = _installed_version(tmux)
        if found is not None and found < MIN_VERSION:
            return f"tmux {found[0]}.{found[1]} is too old (need {'.'.join(map(str, MIN_VERSION))})"
        return None

    def is_running(self) -> bool:
        return self._run("has-session", "-t", f"={self.session}", check=False).ok

    def start(self, plan: SessionPlan, env: Mapping[str, str] | None = None) -> None:
        """Start detached. A second start while the session runs is refused."""
        if plan.name != self.session:
            raise ValueError(f"plan for {plan.name!r} given to the session {self.session!r}")
        for spec in (plan.dashboard, *plan.workers):
            check_spec(spec)
        check_env(env)
        layout.windows(plan)  # an unknown layout is refused before anything starts
        if self.is_running():
            raise MuxError(
                f"the tmux session {self.session} is already running",
                hint="attach to it with `isollm attach`, or end it with `isollm down`",
            )
        # A server on this private socket without the session is a leftover: end it, so
        # the new server (and every pane) inherits this process's environment.
        self.stop()
        try:
            self._build(plan, env)
        except BaseException:
            self.stop()  # nothing half-started is left behind
            raise

    def attach_argv(self, focus: str | None = None) -> list[str] | None:
        """Attach; with ``focus``, its pane's window and the pane selected first (one
        tmux command line: ``;`` alone separates commands). Run from inside the session
        (a window of its own), where tmux refuses to nest it, it switches instead."""
        show: list[str] = []
        pane = next((p for p in self._list() if p.title == focus), None) if focus else None
        if pane is not None:
            show = ["select-window", "-t", pane.pane_id, ";", "select-pane", "-t", pane.pane_id]
            show.append(";")
        inside = os.environ.get("TMUX", "").split(",")[0] == str(self.socket_path())
        join = "switch-client" if inside else "attach-session"
        return ["tmux", "-L", self.socket, *show, join, "-t", f"={self.session}"]

    def panes(self) -> list[PaneInfo]:
        return [PaneInfo(p.title, p.pid, p.dead) for p in self._list()]

    def capture(self, title: str, lines: int = 40) -> str:
        """The pane's last ``lines`` lines of text (wrapped lines joined, trailing blanks dropped).

        Written by an agent: make it safe before printing.
        """
        pane = next((p for p in self._list() if p.title == title), None)
        if pane is None:
            return ""
        back = f"-{lines}"  # from this far into the history: the screen may have scrolled
        result = self._run("capture-pane", "-p", "-J", "-S", back, "-t", pane.pane_id, check=False)
        text = [line.rstrip() for line in result.stdout.rstrip().splitlines()] if result.ok else []
        return "\n".join(text[-lines:]) if lines > 0 else ""

    def add_worker(self, spec: PaneSpec, env: Mapping[str, str] | None = None) -> None:
        """Open a pane for ``spec``; nothing to do when its pane is open and alive."""
        check_spec(spec)
        check_env(env)
        if not self.is_running():
            raise MuxError(
                f"the tmux session {self.session} is not running",
                hint="start it with `isollm up`",
            )
        if env:
            self._push_env(env)
        panes = self._list()
        same = next((p for p in panes if p.title == spec.title), None)
        if same is not None:
            if same.dead:
                cwd = format_literal(str(spec.cwd))
                argv = pane_command(spec.argv)
                self._run("respawn-pane", "-k", "-t", same.pane_id, "-c", cwd, *argv)
            return
        self._place(spec, panes)

    def stop(self) -> None:
        """Kill this project's tmux server (and every pane in it); wait until it is gone."""
        deadline = time.monotonic() + STOP_WAIT
        while True:
            result = self._run("kill-server", check=False)
            if not result.ok and _gone(result.stderr):
                self._remove_socket()
                return
            if not result.ok or time.monotonic() > deadline:
                raise MuxError(
                    f"the tmux server {self.socket} did not stop\n{proc.describe_failure(result)}",
                    hint=f"end it with `tmux -L {self.socket} kill-server`",
                )
            time.sleep(0.05)

    # -- building the session ----------------------------------------------------------

    def _build(self, plan: SessionPlan, env: Mapping[str, str] | None) -> None:
        windows = layout.windows(plan)
        first = windows[0]
        dashboard = self._open(
            ["new-session", "-d", "-s", self.session, "-n", first.name, *self._size()],
            plan.dashboard,
            role="dashboard",
            env=_client_env(env),
        )
        self._source(_OPTIONS)
        if env:
            self._push_env(env)
        self._fill(first, dashboard)
        for window in windows[1:]:
            self._fill(window, None)
        self._source(_AFTER_BUILD)

    def _fill(self, window: layout.Window, dashboard: str | None) -> None:
        """Open the window's worker panes: a column of rows, then each row's columns."""
        if not window.rows:
            return
        head = window.rows[0][0]
        if dashboard is not None:
            below = f"{100 - layout.DASHBOARD_PERCENT}%"
            first = self._open(["split-window", "-v", "-d", "-t", dashboard, "-l", below], head)
        else:
            where = ["new-window", "-d", "-n", window.name, "-t", f"={self.session}:"]
            first = self._open(where, head)
        heads = [first]
        for index, row in enumerate(window.rows[1:], start=1):
            heads.append(self._split(heads[-1], "-v", len(window.rows) - index, row[0]))
        for head_pane, row in zip(heads, window.rows, strict=True):
            current = head_pane
            for index, spec in enumerate(row[1:], start=1):
                current = self._split(current, "-h", len(row) - index, spec)

    def _split(self, target: str, direction: str, remaining: int, spec: PaneSpec) -> str:
        """Split ``target`` so the new pane holds ``remaining`` of ``remaining + 1`` shares."""
        share = f"{round(100 * remaining / (remaining + 1))}%"
        return self._open(["split-window", direction, "-d", "-t", target, "-l", share], spec)

    def _place(self, spec: PaneSpec, panes: list[_Pane]) -> None:
        """Add a pane to the first window with room, else open a new window."""
        windows: dict[int, list[_Pane]] = {}
        for pane in panes:
            windows.setdefault(pane.window, []).append(pane)
        for members in windows.values():
            workers = [p for p in members if p.role == "worker"]
            if len(workers) >= layout.MAX_WORKERS_PER_WINDOW:
                continue
            if workers:
                new = self._split(workers[-1].pane_id, "-h", 1, spec)
                self._run("select-layout", "-E", "-t", new, check=False)  # cosmetic
            else:
                share = f"{100 - layout.DASHBOARD_PERCENT}%"
                below = members[0].pane_id
                self._open(["split-window", "-v", "-d", "-t", below, "-l", share], spec)
            return
        name = f"workers-{len(windows) + 1}"
        self._open(["new-window", "-d", "-n", name, "-t", f"={self.session}:"], spec)

    def _open(
        self,
        how: list[str],
        spec: PaneSpec,
        *,
        role: str = "worker",
        env: Mapping[str, str] | None = None,
    ) -> str:
        """Run ``how`` (a command that opens a pane) for ``spec``; label the new pane."""
        result = self._run(
            *how,
            "-P",
            "-F",
            "#{pane_id}",
            "-c",
            format_literal(str(spec.cwd)),
            *pane_command(spec.argv),
            env=env,
        )
        pane = result.stdout.strip()
        if not _PANE_ID.fullmatch(pane):
            raise MuxError(f"tmux did not report the new pane for {spec.title!r}: {pane!r}")
        labelled = self._source(
            f"set-option -p -t {pane} {TITLE} {config_string(spec.title)}\n"
            f"set-option -p -t {pane} {ROLE} {role}\n"
            f"select-pane -t {pane} -T {config_string(format_literal(spec.title))}\n",
            check=False,
        )
        if not labelled.ok and not any(m in labelled.stderr for m in _PANE_GONE):
            raise MuxError(proc.describe_failure(labelled))
        return pane  # (a pane whose command already ended with success is gone)

    def socket_path(self) -> Path:
        """Where tmux puts this server's socket (it leaves the file behind on exit)."""
        base = os.environ.get("TMUX_TMPDIR") or "/tmp"  # noqa: S108 - tmux's own default
        return Path(base) / f"tmux-{os.getuid()}" / self.socket

    def _remove_socket(self) -> None:
        """Remove the socket of a server that has ended (callers hold the session lock)."""
        path = self.socket_path()
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(path.lstat().st_mode):
                path.unlink()

    @staticmethod
    def _size() -> list[str]:
        return ["-x", str(WIDTH), "-y", str(HEIGHT)]

    # -- talking to tmux ---------------------------------------------------------------

    def _list(self) -> list[_Pane]:
        target = f"={self.session}:"
        result = self._run("list-panes", "-s", "-t", target, "-F", _FIELDS, check=False)
        if not result.ok:
            if _gone(result.stderr):
                return []
            raise MuxError(proc.describe_failure(result))
        return _parse_panes(result.stdout)

    def _push_env(self, env: Mapping[str, str]) -> None:
        lines = []
        for key, value in env.items():
            lines.append(f"set-environment -t ={self.session} {key} {config_string(value)}\n")
        self._source("".join(lines))

    def _source(self, commands: str, *, check: bool = True) -> proc.Result:
        """Run tmux commands given on stdin: values in them never appear in an argv."""
        return self._run("source-file", "-", input=commands, check=check)

    def _run(
        self,
        *args: str,
        check: bool = True,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> proc.Result:
        return proc.run(
            ["tmux", "-L", self.socket, *(tmux_arg(arg) for arg in args)],
            env=env if env is not None else _client_env(),
            input=input,
            timeout=TMUX_TIMEOUT,
            check=check,
            error=MuxError,
            hint=f"check the tmux server with `tmux -L {self.socket} list-sessions`",
        )


def _gone(stderr: str) -> bool:
    """tmux said there is no such server or session (as opposed to failing)."""
    return any(marker in stderr for marker in _NO_SESSION)
