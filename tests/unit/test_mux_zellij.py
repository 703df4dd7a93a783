"""zellij: layouts parsed by a real KDL v1 parser (ckdl), and the argv the session runs.

zellij cannot be installed on our machines: the commands are checked against a fake
``zellij`` on PATH that records its argv and keeps a tiny session table.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import ckdl
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from isollm.errors import IsollmError
from isollm.sandbox.containers import container_name
from isollm.session.mux.base import PaneSpec, SessionPlan, choose, session_name
from isollm.session.mux.none import NoMultiplexer
from isollm.session.mux.tmux import Tmux
from isollm.session.mux.zellij import Zellij, kdl_string, layout_kdl, print_layout

# What zellij's layout parser accepts on a pane and on a tab (zellij.dev "Creating a
# Layout"; zellij-utils kdl_layout_parser: is_a_valid_pane_property / _tab_property).
PANE_PROPERTIES = {
    "name",
    "command",
    "args",
    "cwd",
    "size",
    "split_direction",
    "borderless",
    "focus",
    "start_suspended",
    "close_on_exit",
    "edit",
    "plugin",
    "stacked",
    "expanded",
}
PANE_CHILDREN = PANE_PROPERTIES | {"pane"}
TAB_PROPERTIES = {"name", "focus", "split_direction", "cwd"}
TEMPLATE_CHILDREN = {"pane", "children"}


def _pane(title: str, cwd: str = "/work/p") -> PaneSpec:
    return PaneSpec(title=title, argv=("/usr/bin/isollm", "attach", title), cwd=Path(cwd))


def _plan(count: int, layout: str = "auto", name: str = "isollm-demo") -> SessionPlan:
    return SessionPlan(
        name=name,
        dashboard=PaneSpec("dashboard", ("/usr/bin/isollm", "status", "--watch", "2"), Path("/p")),
        workers=tuple(_pane(f"w{i}") for i in range(1, count + 1)),
        layout=layout,
    )


def _check_pane(node: Any) -> list[Any]:
    """Check one pane node against zellij's rules; its leaf panes."""
    assert node.name == "pane"
    assert set(node.properties) <= PANE_PROPERTIES, node.properties
    assert "args" not in node.properties  # args takes several values: a child node only
    names = [child.name for child in node.children]
    assert set(names) <= PANE_CHILDREN, names
    if split := node.properties.get("split_direction"):
        assert split in ("vertical", "horizontal")
    if "size" in node.properties:
        size = node.properties["size"]
        assert isinstance(size, int) or (isinstance(size, str) and size.endswith("%"))
    inner = [child for child in node.children if child.name == "pane"]
    if not inner:
        return [node]
    assert not {"command", "args", "cwd"} & set(names)  # a container runs nothing
    return [leaf for child in inner for leaf in _check_pane(child)]


def _tabs(text: str) -> list[tuple[Any, list[Any]]]:
    """Parse ``text`` as KDL v1 and check it as a zellij layout: (tab, its leaf panes)."""
    (root,) = ckdl.parse(text, version=1).nodes
    assert root.name == "layout"
    tabs = []
    for node in root.children:
        if node.name == "default_tab_template":
            assert {child.name for child in node.children} <= TEMPLATE_CHILDREN
            for child in node.children:
                if child.name == "pane":
                    _check_pane(child)
            continue
        assert node.name == "tab"
        assert set(node.properties) <= TAB_PROPERTIES
        leaves = [leaf for child in node.children for leaf in _check_pane(child)]
        tabs.append((node, leaves))
    return tabs


def _command(leaf: Any) -> tuple[str, ...]:
    child = {c.name: c for c in leaf.children}
    return (child["command"].args[0], *(child["args"].args if "args" in child else ()))


@pytest.mark.parametrize("count", [1, 2, 3, 4, 6, 9])
def test_layouts_parse_as_kdl_v1_with_only_valid_properties(count: int) -> None:
    plan = _plan(count)
    tabs = _tabs(layout_kdl(plan))
    leaves = [leaf for _, tab_leaves in tabs for leaf in tab_leaves]
    assert [leaf.properties["name"] for leaf in leaves] == ["dashboard"] + [
        f"w{i}" for i in range(1, count + 1)
    ]
    for leaf, spec in zip(leaves, (plan.dashboard, *plan.workers), strict=True):
        assert _command(leaf) == spec.argv
        children = {c.name: c for c in leaf.children}
        assert children["cwd"].args == [str(spec.cwd)]
        assert children["start_suspended"].args == [False]
    assert len(tabs) == (2 if count > 6 else 1)
    assert tabs[0][0].properties == {"name": "main", "focus": True}


def test_grid_nesting_rows_of_side_by_side_panes() -> None:
    (tab, _), (spill, spill_leaves) = _tabs(layout_kdl(_plan(9)))
    dashboard, workers = tab.children
    assert dashboard.properties["size"] == "20%"
    assert workers.properties == {"split_direction": "horizontal", "size": "80%"}
    rows = workers.children
    assert [row.properties.get("split_direction") for row in rows] == ["vertical", "vertical"]
    assert [len(row.children) for row in rows] == [3, 3]  # six workers: 2x3
    assert rows[0].children[0].properties.get("focus") is True
    assert spill.properties == {"name": "workers-2"}
    assert [leaf.properties["name"] for leaf in spill_leaves] == ["w7", "w8", "w9"]
    row = spill.children[0]
    first, second = row.children  # three workers: 2x2 with one gap
    assert [c.properties["name"] for c in first.children] == ["w7", "w8"]
    assert second.properties["name"] == "w9"


def test_explicit_arrangements() -> None:
    ((tab, _),) = _tabs(layout_kdl(_plan(3, "vertical")))
    assert tab.children[1].properties["split_direction"] == "horizontal"
    assert [c.properties["name"] for c in tab.children[1].children] == ["w1", "w2", "w3"]
    ((tab, _),) = _tabs(layout_kdl(_plan(3, "horizontal")))
    assert tab.children[1].properties["split_direction"] == "vertical"
    ((tab, leaves),) = _tabs(layout_kdl(_plan(0)))
    assert len(tab.children) == 1
    assert "size" not in leaves[0].properties  # the dashboard alone fills the tab


@example(title='w"1\\', arg='a\\"b\\\\n\n"', cwd='q"uote\\d/\x1b[0m')
@given(
    title=st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1),
    arg=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")),
    cwd=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")),
)
def test_any_name_argument_or_path_round_trips(title: str, arg: str, cwd: str) -> None:
    if not title.isprintable():
        return
    spec = PaneSpec(title, ("prog", arg, 'x" } pane command="rm"'), Path("/" + cwd))
    plan = SessionPlan("isollm-demo", spec, (spec,), "auto")
    tabs = _tabs(layout_kdl(plan))
    leaves = [leaf for _, tab_leaves in tabs for leaf in tab_leaves]
    assert len(leaves) == 2
    for leaf in leaves:
        assert leaf.properties["name"] == title
        assert _command(leaf) == spec.argv
        assert {c.name: c for c in leaf.children}["cwd"].args == [str(spec.cwd)]


def test_kdl_string_escapes() -> None:
    assert kdl_string('a"b\\c\nd\te') == '"a\\"b\\\\c\\nd\\te"'
    assert kdl_string("\x1b[31m") == '"\\u{1b}[31m"'
    assert ckdl.parse(f"n {kdl_string(chr(0x7F) + 'é')}", version=1).nodes[0].args == ["\x7fé"]


def test_print_layout_is_the_layout_with_a_comment() -> None:
    plan = _plan(2)
    text = print_layout(plan)
    assert text.startswith("//")
    assert text.endswith(layout_kdl(plan))
    _tabs(text)


def test_a_title_that_cannot_be_shown_is_refused() -> None:
    plan = _plan(0)
    bad = SessionPlan(plan.name, plan.dashboard, (_pane("a\nb"),), "auto")
    with pytest.raises(IsollmError):
        layout_kdl(bad)


# -- the session, against a fake zellij -----------------------------------------------

FAKE = r"""
import json, os, sys
from pathlib import Path
state = Path(os.environ["FAKE_ZELLIJ_DIR"])
args = sys.argv[1:]
with (state / "calls.jsonl").open("a") as log:
    log.write(json.dumps({"argv": args, "secret": os.environ.get("ISOLLM_TEST_SECRET")}) + "\n")
table = state / "sessions.json"
sessions = json.loads(table.read_text()) if table.exists() else {}
def save():
    table.write_text(json.dumps(sessions))
if args[:1] == ["list-sessions"]:
    if not sessions:
        sys.exit("No active zellij sessions found.")
    for name, how in sessions.items():
        dead = " (EXITED - attach to resurrect)" if how == "exited" else ""
        print(name + " [Created 3s ago]" + dead)
elif "attach" in args and "-b" in args:
    sessions[args[-1]] = "running"; save()
    if (state / "fail-attach").exists():
        sys.exit("could not start the session")
elif args[:1] == ["kill-session"]:
    if sessions.get(args[1]) != "running":
        sys.exit("No session named " + args[1])
    sessions[args[1]] = "exited"; save()
elif args[:1] == ["delete-session"]:
    sessions.pop(args[-1], None); save()
elif args[:1] == ["--session"] and args[2:5] == ["action", "list-panes", "--json"]:
    print((state / "panes.json").read_text())
elif args[:1] == ["--session"] and args[2:4] == ["action", "dump-screen"]:
    Path(args[-1]).write_text("old line\nagent says hello   \n\n\n")
"""


class FakeZellij:
    def __init__(self, root: Path) -> None:
        self.root = root

    def calls(self) -> list[list[str]]:
        log = self.root / "calls.jsonl"
        lines = log.read_text().splitlines() if log.exists() else []
        return [json.loads(line)["argv"] for line in lines]

    def secrets(self) -> list[str | None]:
        lines = (self.root / "calls.jsonl").read_text().splitlines()
        return [json.loads(line)["secret"] for line in lines]

    def set_sessions(self, table: dict[str, str]) -> None:
        (self.root / "sessions.json").write_text(json.dumps(table))

    def sessions(self) -> dict[str, str]:
        table = self.root / "sessions.json"
        return json.loads(table.read_text()) if table.exists() else {}

    def set_panes(self, panes: list[dict[str, object]]) -> None:
        (self.root / "panes.json").write_text(json.dumps(panes))

    def forget(self) -> None:
        (self.root / "calls.jsonl").unlink(missing_ok=True)


@pytest.fixture
def fake_zellij(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeZellij:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "zellij"
    script.write_text(f"#!{sys.executable}\n{FAKE}")
    script.chmod(0o755)
    state = tmp_path / "zellij-state"
    state.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_ZELLIJ_DIR", str(state))
    return FakeZellij(state)


def test_start_writes_a_private_layout_and_starts_detached(
    fake_zellij: FakeZellij, tmp_path: Path
) -> None:
    mux = Zellij("isollm-demo", layout_dir=tmp_path / "layouts")
    plan = _plan(3)
    mux.start(plan, env={"ISOLLM_TEST_SECRET": "s3cret"})
    layout_file = tmp_path / "layouts" / "isollm-demo.kdl"
    assert layout_file.read_text() == layout_kdl(plan)
    assert stat.S_IMODE(layout_file.stat().st_mode) == 0o600
    calls = fake_zellij.calls()
    assert calls == [
        ["list-sessions", "-n"],
        ["--layout", str(layout_file), "attach", "-b", "isollm-demo"],
    ]
    assert fake_zellij.secrets()[-1] == "s3cret"  # in the server's environment
    assert all("s3cret" not in arg for call in calls for arg in call)  # never in an argv
    assert mux.is_running()
    assert mux.attach_argv() == ["zellij", "attach", "isollm-demo"]


def test_a_dead_session_is_deleted_before_starting(fake_zellij: FakeZellij, tmp_path: Path) -> None:
    fake_zellij.set_sessions({"isollm-demo": "exited", "isollm-demo-2": "running"})
    mux = Zellij("isollm-demo", layout_dir=tmp_path)
    mux.start(_plan(1))
    calls = fake_zellij.calls()
    assert calls[1] == ["delete-session", "--force", "isollm-demo"]
    assert calls[2][-3:] == ["attach", "-b", "isollm-demo"]
    assert fake_zellij.sessions()["isollm-demo"] == "running"


def test_a_failed_start_leaves_no_session_and_no_layout(
    fake_zellij: FakeZellij, tmp_path: Path
) -> None:
    (fake_zellij.root / "fail-attach").touch()
    mux = Zellij("isollm-demo", layout_dir=tmp_path)
    with pytest.raises(IsollmError) as info:
        mux.start(_plan(2))
    assert "could not start the session" in str(info.value)
    assert fake_zellij.sessions() == {}
    assert not mux.layout_path.exists()


def test_a_second_start_is_refused(fake_zellij: FakeZellij, tmp_path: Path) -> None:
    fake_zellij.set_sessions({"isollm-demo": "running"})
    with pytest.raises(IsollmError) as info:
        Zellij("isollm-demo", layout_dir=tmp_path).start(_plan(1))
    assert info.value.hint is not None
    assert "isollm attach" in info.value.hint
    assert [call[0] for call in fake_zellij.calls()] == ["list-sessions"]


def test_a_sibling_session_with_a_longer_name_is_not_ours(
    fake_zellij: FakeZellij, tmp_path: Path
) -> None:
    fake_zellij.set_sessions({"isollm-demo-2": "running"})
    mux = Zellij("isollm-demo", layout_dir=tmp_path)
    assert not mux.is_running()
    assert mux.panes() == []
    assert mux.capture("w1") == ""


def test_stop_kills_and_deletes_and_is_idempotent(fake_zellij: FakeZellij, tmp_path: Path) -> None:
    mux = Zellij("isollm-demo", layout_dir=tmp_path)
    mux.start(_plan(1))
    fake_zellij.forget()
    mux.stop()
    assert fake_zellij.calls() == [
        ["list-sessions", "-n"],
        ["kill-session", "isollm-demo"],
        ["delete-session", "--force", "isollm-demo"],
        ["list-sessions", "-n"],
    ]
    assert not mux.layout_path.exists()
    assert fake_zellij.sessions() == {}
    mux.stop()


def test_panes_capture_and_add_worker(fake_zellij: FakeZellij, tmp_path: Path) -> None:
    mux = Zellij("isollm-demo", layout_dir=tmp_path)
    mux.start(_plan(2))
    fake_zellij.set_panes(
        [
            {"id": 0, "is_plugin": True, "title": "tab-bar"},
            {"id": 1, "is_plugin": False, "title": "dashboard", "exited": False},
            {"id": 2, "is_plugin": False, "title": "w1", "exited": False},
            {"id": 3, "is_plugin": False, "title": "w2", "exited": True},
        ]
    )
    assert [(p.title, p.dead) for p in mux.panes()] == [
        ("dashboard", False),
        ("w1", False),
        ("w2", True),
    ]
    fake_zellij.forget()
    assert mux.capture("w1", lines=1) == "agent says hello"
    dump = fake_zellij.calls()[-1]
    assert dump[:5] == ["--session", "isollm-demo", "action", "dump-screen", "--pane-id"]
    assert dump[5] == "terminal_2"
    assert not Path(dump[6]).exists()  # the dump is removed once read
    fake_zellij.forget()
    mux.add_worker(_pane("w1"))  # open and alive: nothing to do
    assert all("new-pane" not in call for call in fake_zellij.calls())
    odd = PaneSpec('w"3', ("/usr/bin/isollm", "attach", "-x", 'w"3'), Path("/p q"))
    mux.add_worker(odd)
    assert fake_zellij.calls()[-1] == [
        "--session",
        "isollm-demo",
        "action",
        "new-pane",
        "--name",
        'w"3',
        "--cwd",
        "/p q",
        "--",
        "/usr/bin/isollm",
        "attach",
        "-x",
        'w"3',
    ]


def test_add_worker_needs_a_running_session(fake_zellij: FakeZellij, tmp_path: Path) -> None:
    with pytest.raises(IsollmError):
        Zellij("isollm-demo", layout_dir=tmp_path).add_worker(_pane("w1"))


# -- choosing a multiplexer -----------------------------------------------------------


def test_choose_auto_prefers_zellij_on_path(fake_zellij: FakeZellij) -> None:
    chosen = choose(None, "demo")
    assert isinstance(chosen, Zellij)
    assert chosen.session == "isollm-demo"
    assert isinstance(choose("auto", "demo"), Zellij)
    assert isinstance(choose("tmux", "demo"), Tmux)


def test_choose_without_zellij(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(IsollmError) as info:
        choose("zellij", "demo")
    assert info.value.hint is not None
    assert "install zellij" in info.value.hint
    with pytest.raises(IsollmError):
        choose(None, "demo")  # neither zellij nor tmux here
    assert isinstance(choose("none", "demo"), NoMultiplexer)


def test_choose_rejects_unknown_names_and_projects() -> None:
    with pytest.raises(IsollmError) as info:
        choose("screen", "demo")
    assert info.value.hint is not None
    assert "tmux" in info.value.hint
    with pytest.raises(IsollmError):
        session_name("bad name;")
    assert session_name("my-proj2").startswith("isollm-my-proj2")


def test_names_of_two_isollm_homes_never_meet(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """tmux servers and containers are machine-wide: the same project in two isollm
    homes gets two names; the default home keeps the plain one."""
    monkeypatch.delenv("ISOLLM_HOME", raising=False)
    assert session_name("web") == "isollm-web"
    assert container_name("web", "worker-1") == "isollm-web-worker-1"
    names = set()
    for home in ("a", "b"):
        monkeypatch.setenv("ISOLLM_HOME", str(tmp_path / home))
        names.add((session_name("web"), container_name("web", "worker-1")))
    assert len(names) == 2
    assert all(s.startswith("isollm-web-") for s, _ in names)


def test_none_has_no_panes() -> None:
    mux = NoMultiplexer("isollm-demo")
    mux.start(_plan(2))
    assert mux.available() is None
    assert not mux.is_running()
    assert mux.attach_argv() is None
    assert mux.panes() == []
    assert mux.capture("w1") == ""
    mux.add_worker(_pane("w3"))
    mux.stop()
