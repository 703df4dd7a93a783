"""zellij: a KDL v1 layout per session, started detached.

:func:`layout_kdl` turns a plan into the layout zellij reads (``isollm up --mux zellij
--print-layout`` prints it): one tab per window of :mod:`.layout`, the dashboard pane on
top of the first, worker panes nested in rows (``split_direction``), each a command
pane with ``name``, ``command``, ``args``, ``cwd`` and ``start_suspended false``. Every
string is a quoted KDL string with its escapes (:func:`kdl_string`), so a name or path
holding a quote or a backslash reads back exactly.

:class:`Zellij` writes the layout to a private file under ``$ISOLLM_HOME/layouts/``,
deletes a dead session of the same name first (zellij would resurrect it instead of
using the layout), then runs ``zellij --layout FILE attach -b NAME``. The server is
started by that process and inherits its environment (``env`` is added to it, never to
an argv). A pane added later (:meth:`Zellij.add_worker`) is started by that server, so
it sees the environment the session started with: zellij has no way to hand a new pane
a variable without putting it on a command line.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from isollm import fsutil, proc
from isollm.session.mux import layout
from isollm.session.mux.base import (
    MuxError,
    PaneInfo,
    PaneSpec,
    SessionPlan,
    check_env,
    check_spec,
)

ZELLIJ_TIMEOUT = 15.0  # seconds for any one zellij call
MAX_SCREEN = 1 << 20  # bytes of a dumped screen read back
_KDL_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}
_INSIDE_ZELLIJ = ("ZELLIJ", "ZELLIJ_SESSION_NAME", "ZELLIJ_PANE_ID")

KdlValue = str | bool | int


# -- the layout (pure) -----------------------------------------------------------------


def kdl_string(text: str) -> str:
    """``text`` as a quoted KDL v1 string: quotes, backslashes and controls escaped."""
    out = []
    for char in text:
        if char in _KDL_ESCAPES:
            out.append(_KDL_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        else:
            out.append(f"\\u{{{ord(char):x}}}")
    return '"' + "".join(out) + '"'


def _value(value: KdlValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return kdl_string(value)


@dataclass
class _Node:
    """One KDL node: name, arguments, properties and children."""

    name: str
    args: Sequence[KdlValue] = ()
    props: dict[str, KdlValue] = field(default_factory=dict)
    children: list[_Node] = field(default_factory=list)

    def render(self, depth: int = 0) -> list[str]:
        head = " ".join(
            [self.name, *map(_value, self.args)]
            + [f"{key}={_value(value)}" for key, value in self.props.items()]
        )
        indent = "    " * depth
        if not self.children:
            return [indent + head]
        inner = [line for child in self.children for line in child.render(depth + 1)]
        return [f"{indent}{head} {{", *inner, indent + "}"]


def _command_pane(spec: PaneSpec) -> _Node:
    check_spec(spec)
    children = [_Node("command", (spec.argv[0],))]
    if len(spec.argv) > 1:
        children.append(_Node("args", tuple(spec.argv[1:])))
    children += [_Node("cwd", (str(spec.cwd),)), _Node("start_suspended", (False,))]
    return _Node("pane", props={"name": spec.title}, children=children)


def _group(nodes: list[_Node], direction: str) -> _Node:
    """One pane, or a container laying ``nodes`` out (vertical: side by side)."""
    if len(nodes) == 1:
        return nodes[0]
    return _Node("pane", props={"split_direction": direction}, children=nodes)


def _tab(window: layout.Window) -> _Node:
    children = []
    if window.dashboard is not None:
        dashboard = _command_pane(window.dashboard)
        if window.rows:
            dashboard.props["size"] = f"{layout.DASHBOARD_PERCENT}%"
        children.append(dashboard)
    if window.rows:
        panes = [[_command_pane(p) for p in row] for row in window.rows]
        if window.number == 1:
            panes[0][0].props["focus"] = True  # typing goes to the first agent
        workers = _group([_group(row, "vertical") for row in panes], "horizontal")
        if window.dashboard is not None:
            workers.props["size"] = f"{100 - layout.DASHBOARD_PERCENT}%"
        children.append(workers)
    props: dict[str, KdlValue] = {"name": window.name}
    if window.number == 1:
        props["focus"] = True
    return _Node("tab", props=props, children=children)


def _bar(plugin: str, size: int) -> _Node:
    location = _Node("plugin", props={"location": f"zellij:{plugin}"})
    return _Node("pane", props={"size": size, "borderless": True}, children=[location])


def layout_kdl(plan: SessionPlan) -> str:
    """The zellij layout (KDL v1) of ``plan``: one tab per window, tab and status bars."""
    template = _Node(
        "default_tab_template",
        children=[_bar("tab-bar", 1), _Node("children"), _bar("status-bar", 2)],
    )
    tabs = [_tab(window) for window in layout.windows(plan)]
    root = _Node("layout", children=[template, *tabs])
    return "\n".join(root.render()) + "\n"


def print_layout(plan: SessionPlan) -> str:
    """What ``isollm up --mux zellij --print-layout`` prints: the layout, commented."""
    header = f"// zellij layout of the isollm session {plan.name}: zellij --layout FILE\n"
    return header + layout_kdl(plan)


# -- the session -----------------------------------------------------------------------


def _client_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = proc.clean_env(extra)
    for key in _INSIDE_ZELLIJ:  # started from inside zellij: ours is a separate session
        env.pop(key, None)
    return env


class Zellij:
    """One project's session in zellij."""

    name = "zellij"

    def __init__(self, session: str, layout_dir: Path | None = None) -> None:
        self.session = session
        self.layout_dir = layout_dir or fsutil.isollm_home() / "layouts"

    @property
    def layout_path(self) -> Path:
        return self.layout_dir / f"{self.session}.kdl"

    def available(self) -> str | None:
        return None if shutil.which("zellij") else "zellij is not on PATH"

    def is_running(self) -> bool:
        return self._state() == "running"

    def start(self, plan: SessionPlan, env: Mapping[str, str] | None = None) -> None:
        """Start detached. A second start while the session runs is refused."""
        if plan.name != self.session:
            raise ValueError(f"plan for {plan.name!r} given to the session {self.session!r}")
        check_env(env)
        text = layout_kdl(plan)
        state = self._state()
        if state == "running":
            raise MuxError(
                f"the zellij session {self.session} is already running",
                hint="attach to it with `isollm attach`, or end it with `isollm down`",
            )
        if state == "exited":  # zellij would resurrect it instead of using our layout
            self._zellij("delete-session", "--force", self.session)
        fsutil.atomic_write_text(self.layout_path, text)
        try:
            layout_file = str(self.layout_path)
            self._zellij("--layout", layout_file, "attach", "-b", self.session, env=env)
        except BaseException:
            self.stop()
            raise

    def attach_argv(self, focus: str | None = None) -> list[str] | None:
        """Attach to the session as it was left (zellij cannot select a pane by name)."""
        return ["zellij", "attach", self.session]

    def panes(self) -> list[PaneInfo]:
        return [PaneInfo(title, None, dead) for _, title, dead in self._panes()]

    def capture(self, title: str, lines: int = 40) -> str:
        """The pane's visible text: written by an agent, make it safe before printing."""
        pane = next((pane_id for pane_id, name, _ in self._panes() if name == title), None)
        if pane is None or lines <= 0:
            return ""
        with tempfile.TemporaryDirectory(prefix="isollm-screen-") as tmp:
            dump = Path(tmp) / "screen.txt"
            result = self._action("dump-screen", "--pane-id", pane, str(dump), check=False)
            data = fsutil.read_bounded(Path(tmp), "screen.txt", limit=MAX_SCREEN)
        if not result.ok or data is None:
            return ""
        text = [line.rstrip() for line in data.decode(errors="replace").rstrip().splitlines()]
        return "\n".join(text[-lines:])

    def add_worker(self, spec: PaneSpec, env: Mapping[str, str] | None = None) -> None:
        """Open a pane for ``spec`` in the session's current tab (nothing if it is open).

        The pane sees the environment the session was started with: ``env`` is checked
        but cannot reach a zellij pane without a command line (see the module docstring).
        """
        check_spec(spec)
        check_env(env)
        if not self.is_running():
            raise MuxError(
                f"the zellij session {self.session} is not running",
                hint="start it with `isollm up`",
            )
        if any(title == spec.title and not dead for _, title, dead in self._panes()):
            return
        where = ["--name", spec.title, "--cwd", str(spec.cwd)]
        self._action("new-pane", *where, "--", *spec.argv)

    def stop(self) -> None:
        """Kill the session and delete it (no resurrection later); idempotent."""
        if self._state() is not None:
            self._zellij("kill-session", self.session, check=False)
            self._zellij("delete-session", "--force", self.session, check=False)
        with contextlib.suppress(FileNotFoundError):
            self.layout_path.unlink()
        if self._state() is not None:
            raise MuxError(
                f"the zellij session {self.session} could not be removed",
                hint=f"remove it with `zellij delete-session --force {self.session}`",
            )

    # -- talking to zellij -------------------------------------------------------------

    def _state(self) -> str | None:
        """ "running", "exited" (resurrectable) or None: from ``zellij list-sessions -n``."""
        result = self._zellij("list-sessions", "-n", check=False)
        for line in result.stdout.splitlines():
            words = line.split()
            if words and words[0] == self.session:
                return "exited" if "EXITED" in line else "running"
        return None

    def _panes(self) -> list[tuple[str, str, bool]]:
        """(pane id, title, exited) of the session's terminal panes."""
        if not self.is_running():
            return []
        result = self._action("list-panes", "--json")
        try:
            listed = json.loads(result.stdout)
        except ValueError as exc:
            raise MuxError(f"zellij listed the panes in a form isollm cannot read: {exc}") from exc
        if not isinstance(listed, list):
            raise MuxError("zellij listed the panes in a form isollm cannot read")
        return [
            (f"terminal_{pane['id']}", str(pane.get("title", "")), bool(pane.get("exited")))
            for pane in listed
            if isinstance(pane, dict) and not pane.get("is_plugin") and "id" in pane
        ]

    def _action(self, *args: str, check: bool = True) -> proc.Result:
        return self._zellij("--session", self.session, "action", *args, check=check)

    def _zellij(
        self, *args: str, check: bool = True, env: Mapping[str, str] | None = None
    ) -> proc.Result:
        return proc.run(
            ["zellij", *args],
            env=_client_env(env),
            timeout=ZELLIJ_TIMEOUT,
            check=check,
            error=MuxError,
            hint="check the session with `zellij list-sessions`",
        )
