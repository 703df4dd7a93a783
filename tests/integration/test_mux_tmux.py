"""The tmux multiplexer against a real tmux server, one private socket per test."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from isollm.errors import IsollmError
from isollm.session.mux.base import PaneSpec, SessionPlan
from isollm.session.mux.tmux import Tmux, tmux_arg
from tests.conftest import skip_or_fail

HOSTILE_TITLES = (
    "x;",
    "a; kill-server",
    "kill-server ;",
    "#(touch {canary})",
    "#{pane_pid}",
    "'; touch {canary}; '",
    '"$(touch {canary})"',
    "w\\;",
)


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        skip_or_fail("tmux is not installed")
    mux = Tmux(f"isollm-t{uuid.uuid4().hex[:12]}")
    try:
        yield mux
    finally:
        mux.stop()


def _pane(title: str, script: str, cwd: Path) -> PaneSpec:
    return PaneSpec(title=title, argv=("sh", "-c", script), cwd=cwd)


def _plan(mux: Tmux, count: int, cwd: Path, layout: str = "auto") -> SessionPlan:
    return SessionPlan(
        name=mux.session,
        dashboard=_pane("dashboard", "echo dashboard here; sleep 60", cwd),
        workers=tuple(
            _pane(f"w{i}", f"echo hello from w{i}; sleep 60", cwd) for i in range(1, count + 1)
        ),
        layout=layout,
    )


def _tmux(mux: Tmux, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["tmux", "-L", mux.socket, *args], capture_output=True, text=True, timeout=10, check=False
    )


def _no_server(mux: Tmux) -> bool:
    result = _tmux(mux, "list-sessions")
    gone = ("no server running", "error connecting")
    return result.returncode != 0 and any(text in result.stderr for text in gone)


def _geometry(mux: Tmux) -> dict[str, tuple[int, int, int]]:
    """title → (window index, left, top) of every pane isollm opened."""
    fmt = "#{@isollm_title}\t#{window_index}\t#{pane_left}\t#{pane_top}"
    out = _tmux(mux, "list-panes", "-s", "-t", f"={mux.session}:", "-F", fmt).stdout
    rows = (line.split("\t") for line in out.splitlines())
    return {title: (int(w), int(x), int(y)) for title, w, x, y in rows}


def _eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def _panes_become(mux: Tmux, expected: list[tuple[str, bool]]) -> None:
    seen: list[list[tuple[str, bool]]] = []

    def check() -> bool:
        seen.append([(p.title, p.dead) for p in mux.panes()])
        return seen[-1] == expected

    try:
        _eventually(check)
    except AssertionError:
        raise AssertionError(f"panes are {seen[-1]}, not {expected}") from None


def test_two_workers_one_window_titles_and_capture(tmux: Tmux, tmp_path: Path) -> None:
    tmux.start(_plan(tmux, 2, tmp_path))
    assert tmux.is_running()
    panes = tmux.panes()
    assert [p.title for p in panes] == ["dashboard", "w1", "w2"]
    assert all(p.pid and not p.dead for p in panes)
    where = _geometry(tmux)
    assert len({window for window, _, _ in where.values()}) == 1  # one window
    assert where["dashboard"][2] < where["w1"][2] == where["w2"][2]  # dashboard on top
    assert where["w1"][1] < where["w2"][1]  # two workers side by side
    titles = _tmux(tmux, "list-panes", "-s", "-t", f"={tmux.session}:", "-F", "#{pane_title}")
    assert titles.stdout.split() == ["dashboard", "w1", "w2"]
    _eventually(lambda: "hello from w2" in tmux.capture("w2"))
    assert "dashboard here" in tmux.capture("dashboard")
    assert tmux.capture("no-such-worker") == ""
    assert tmux.attach_argv() == [
        "tmux",
        "-L",
        tmux.socket,
        "attach-session",
        "-t",
        f"={tmux.session}",
    ]


def test_eight_workers_spill_into_a_second_window(tmux: Tmux, tmp_path: Path) -> None:
    tmux.start(_plan(tmux, 8, tmp_path))
    where = _geometry(tmux)
    assert len(where) == 9
    first, second = sorted({w for w, _, _ in where.values()})
    assert [t for t, v in where.items() if v[0] == first] == ["dashboard"] + [
        f"w{i}" for i in range(1, 7)
    ]
    assert [t for t, v in where.items() if v[0] == second] == ["w7", "w8"]
    grid_tops = sorted({where[f"w{i}"][2] for i in range(1, 7)})
    assert len(grid_tops) == 2  # six workers: a 2x3 grid
    names = _tmux(tmux, "list-windows", "-t", f"={tmux.session}", "-F", "#{window_name}")
    assert names.stdout.split() == ["main", "workers-2"]


def test_attach_shows_the_pane_asked_for_even_in_another_window(
    tmux: Tmux, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``isollm attach worker-8`` attaches a terminal (here a pane of another tmux
    server, started from inside it as from a user's own tmux) with w8's pane shown."""
    tmux.start(_plan(tmux, 8, tmp_path))
    argv = tmux.attach_argv(focus="w8")
    assert argv is not None
    assert tmux.attach_argv(focus="nobody") == tmux.attach_argv()
    terminal = Tmux(f"isollm-t{uuid.uuid4().hex[:12]}")
    command = [tmux_arg(arg) for arg in argv]  # the ";" for the inner tmux, not this one
    start = ["new-session", "-d", "-s", "terminal", "-x", "120", "-y", "40", "--", *command]
    try:
        assert _tmux(terminal, *start).returncode == 0
        clients = ("list-clients", "-t", f"={tmux.session}", "-F", "#{client_name}")
        _eventually(lambda: bool(_tmux(tmux, *clients).stdout.strip()))
        shown = ("display-message", "-p", "-t", f"={tmux.session}:", "#{@isollm_title}")
        assert _tmux(tmux, *shown).stdout.strip() == "w8"

        # From a window of the session itself (tmux refuses to nest): switch there.
        monkeypatch.setenv("TMUX", f"{tmux.socket_path()},1,0")  # as tmux sets it inside
        inside = [tmux_arg(arg) for arg in tmux.attach_argv(focus="w2") or []]
        assert inside[-3:] == ["switch-client", "-t", f"={tmux.session}"]
        code = tmp_path / "code"
        script = f'"$@"; echo $? > {code}'
        window = ["new-window", "-d", "-t", f"={tmux.session}:", "--", "sh", "-c", script, "sh"]
        assert _tmux(tmux, *window, *inside).returncode == 0
        _eventually(lambda: code.exists() and code.read_text() == "0\n")  # not refused
        assert _tmux(tmux, *shown).stdout.strip() == "w2"
    finally:
        terminal.stop()


def test_add_worker_opens_one_pane_and_is_idempotent(tmux: Tmux, tmp_path: Path) -> None:
    extra = _pane("w3", "echo late worker; sleep 60", tmp_path)
    with pytest.raises(IsollmError):
        tmux.add_worker(extra)  # no session yet
    tmux.start(_plan(tmux, 2, tmp_path))
    tmux.add_worker(extra)
    tmux.add_worker(extra)
    assert [p.title for p in tmux.panes()] == ["dashboard", "w1", "w2", "w3"]
    _eventually(lambda: "late worker" in tmux.capture("w3"))
    for i in range(4, 9):
        tmux.add_worker(_pane(f"w{i}", "sleep 60", tmp_path))
    where = _geometry(tmux)
    assert where["w7"][0] == where["dashboard"][0] + 1  # the seventh worker spills over
    assert where["w8"][0] == where["w7"][0]


def test_a_failed_pane_stays_dead_and_add_worker_restarts_it(tmux: Tmux, tmp_path: Path) -> None:
    plan = _plan(tmux, 0, tmp_path)
    # tmux can drop what a command writes in the instant it exits: pause before exiting
    failing = _pane("w1", "echo it broke; sleep 0.2; exit 3", tmp_path)
    tmux.start(SessionPlan(plan.name, plan.dashboard, (failing,), "auto"))
    _panes_become(tmux, [("dashboard", False), ("w1", True)])
    _eventually(lambda: "it broke" in tmux.capture("w1"))
    tmux.add_worker(_pane("w1", "echo back again; sleep 60", tmp_path))
    _eventually(lambda: "back again" in tmux.capture("w1"))
    tmux.add_worker(_pane("w2", "sleep 0.2; exit 0", tmp_path))
    assert [p.title for p in tmux.panes()] == ["dashboard", "w1", "w2"]
    # a pane that ends well closes; tmux 3.3 sometimes keeps it, dead, when the end of its
    # output reaches tmux before its exit status does
    _eventually(lambda: [(p.title, p.dead) for p in tmux.panes()][-1] != ("w2", False))
    assert [(p.title, p.dead) for p in tmux.panes()][:2] == [("dashboard", False), ("w1", False)]


def test_stop_leaves_no_server_and_is_idempotent(tmux: Tmux, tmp_path: Path) -> None:
    tmux.start(_plan(tmux, 1, tmp_path))
    pid = tmux.panes()[1].pid
    assert pid is not None
    tmux.stop()
    assert not tmux.is_running()
    assert tmux.panes() == []
    assert tmux.capture("w1") == ""
    assert _no_server(tmux)
    assert not tmux.socket_path().exists()
    _eventually(lambda: not Path(f"/proc/{pid}").exists())
    tmux.stop()


def test_a_second_start_is_refused_and_keeps_the_session(tmux: Tmux, tmp_path: Path) -> None:
    tmux.start(_plan(tmux, 1, tmp_path))
    before = tmux.panes()
    with pytest.raises(IsollmError) as info:
        tmux.start(_plan(tmux, 3, tmp_path))
    assert "already running" in str(info.value)
    assert info.value.hint is not None
    assert "isollm attach" in info.value.hint
    assert tmux.panes() == before


def test_panes_see_the_callers_env_and_env_given_later(
    tmux: Tmux, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a leftover server on the socket, started without the variable, is not reused
    subprocess.run(
        ["tmux", "-L", tmux.socket, "new-session", "-d", "-s", "leftover", "sleep", "60"],
        check=True,
        timeout=10,
    )
    monkeypatch.setenv("ISOLLM_TEST_INHERITED", "from-the-caller")
    show = 'printf "<%s>\\n" "$ISOLLM_TEST_INHERITED" "$ISOLLM_TEST_KEY"; sleep 60'
    plan = _plan(tmux, 0, tmp_path)
    plan = SessionPlan(plan.name, plan.dashboard, (_pane("w1", show, tmp_path),), "auto")
    tmux.start(plan)
    _eventually(lambda: "<from-the-caller>" in tmux.capture("w1"))
    assert _tmux(tmux, "has-session", "-t", "=leftover").returncode != 0
    # a server that already runs: the value comes through tmux's environment, not argv
    monkeypatch.delenv("ISOLLM_TEST_INHERITED")
    value = "k'e\"y $HOME \\ ;#{x}"
    tmux.add_worker(_pane("w2", show, tmp_path), env={"ISOLLM_TEST_KEY": value})
    _eventually(lambda: f"<{value}>" in tmux.capture("w2"))
    with pytest.raises(IsollmError):
        tmux.add_worker(_pane("w3", show, tmp_path), env={"BAD NAME": "x"})


def test_hostile_titles_cwd_and_args_inject_nothing(tmux: Tmux, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    cwd = tmp_path / "odd #{pane_id} dir;"
    cwd.mkdir()
    titles = [t.replace("{canary}", str(canary)) for t in HOSTILE_TITLES]
    args = tuple(a.replace("{c}", str(canary)) for a in ("#(touch {c})", "$(touch {c})", "a;", ";"))
    script = 'sleep 0.5; printf "[%s]\\n" "$@"; pwd; sleep 60'  # once the panes are laid out
    argv = ("sh", "-c", script, "sh", *args)
    plan = SessionPlan(
        name=tmux.session,
        dashboard=_pane("dashboard", "sleep 60", tmp_path),
        workers=tuple(PaneSpec(title, argv, cwd) for title in titles),
        layout="grid",
    )
    tmux.start(plan)
    assert [p.title for p in tmux.panes()] == ["dashboard", *titles]
    first = titles[0]
    _eventually(lambda: str(cwd) in tmux.capture(first))
    shown = tmux.capture(first)
    for arg in args:
        assert f"[{arg}]" in shown
    fmt = "#{pane_id}\t#{pane_title}\t#{T:pane-border-format}"
    listed = _tmux(tmux, "list-panes", "-s", "-t", f"={tmux.session}:", "-F", fmt).stdout
    for title in titles:
        assert f"\t{title}\t {title} " in listed
    time.sleep(0.5)  # a #() job would run in the background
    assert not canary.exists()
    assert tmux.is_running()


def test_a_title_that_cannot_be_listed_is_refused(tmux: Tmux, tmp_path: Path) -> None:
    plan = _plan(tmux, 1, tmp_path)
    bad = SessionPlan(plan.name, plan.dashboard, (_pane("a\tb", "sleep 1", tmp_path),), "auto")
    with pytest.raises(IsollmError):
        tmux.start(bad)
    assert not tmux.is_running()


def test_an_interrupted_start_leaves_no_server(
    tmux: Tmux, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(Tmux, "_split", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tmux.start(_plan(tmux, 4, tmp_path))
    assert not tmux.is_running()
    assert _no_server(tmux)


def test_bad_input_is_refused_before_anything_starts(tmux: Tmux, tmp_path: Path) -> None:
    with pytest.raises(IsollmError):
        tmux.start(_plan(tmux, 2, tmp_path, layout="spiral"))
    with pytest.raises(IsollmError):
        tmux.start(_plan(tmux, 1, tmp_path), env={"BAD NAME": "x"})
    assert _no_server(tmux)


def test_available_here() -> None:
    if shutil.which("tmux") is None:
        skip_or_fail("tmux is not installed")
    assert Tmux("isollm-x").available() is None
