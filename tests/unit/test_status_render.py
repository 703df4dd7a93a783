"""`isollm status`: the pure parts. Snapshot → text and the versioned JSON document,
agent state decisions, CPU sampling arithmetic, and who starts waiting."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from isollm.errors import IsollmError
from isollm.sandbox.limits import group_name
from isollm.session.status import briefcache, render, snapfile, usage
from isollm.session.status.agentstate import Decision, PaneWatch, Reported, current, decide
from isollm.session.status.model import (
    STATUS_VERSION,
    AgentState,
    Board,
    BoardEntry,
    ConflictView,
    Health,
    Service,
    SessionView,
    Snapshot,
    Source,
    SyncView,
    TaskCounts,
    WorkerView,
)
from isollm.session.status.watch import (
    Notifier,
    markup_free,
    notify_env,
    started_waiting,
    watch,
)

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
HOSTILE = "Fix \x1b[2J\x1b]0;pwned\x07 the \u202eparser\nline2 \x1b]52;c;ZXZpbA==\x07"


def worker(name: str, state: AgentState = AgentState.WORKING, **kw: object) -> WorkerView:
    fields: dict[str, object] = {
        "status": "busy",
        "sandbox": "running",
        "state": state,
        "since": NOW - timedelta(minutes=2),
        "source": Source.HOOK,
    }
    fields.update(kw)
    return WorkerView(name, **fields)  # type: ignore[arg-type]


def snapshot(*workers: WorkerView, **kw: object) -> Snapshot:
    fields: dict[str, object] = {
        "session": SessionView(True, True, "running", "tmux", "isollm-app", NOW),
        "tasks": TaskCounts(True, ready=5, waiting=1, in_progress=2, blocked=1, done=12),
        "sync": SyncView(True, "main", "in-sync", host_branch="main", task_branches=8),
        "services": (
            Service("task server", Health.UP, "http://127.0.0.1:7432"),
            Service("tmux", Health.UP, "isollm-app"),
        ),
        "board": Board(
            True,
            context=(BoardEntry("worker-1", "working", "parser rewrite", ("src/p.py",)),),
            locks=(BoardEntry("worker-1", path="src/p.py", task_id="ar-1"),),
        ),
    }
    fields.update(kw)
    return Snapshot("app", "/src/app", NOW, workers=workers, **fields)  # type: ignore[arg-type]


FULL = snapshot(
    worker(
        "worker-1",
        task_id="ar-a1b2",
        task_title="Fix the parser",
        branch="isollm/ar-a1b2",
        added=12,
        deleted=3,
        cpu_percent=37.5,
        rss_bytes=312 * 2**20,
    ),
    worker("worker-2", AgentState.WAITING, since=NOW - timedelta(seconds=15), detail="Bash"),
    worker("worker-3", AgentState.DEAD, sandbox="missing", source=Source.SANDBOX, problem="gone"),
)


def test_full_view_shows_every_part() -> None:
    text = render.full(FULL)
    assert text.startswith("isollm: app\n═")
    assert "Session: running in tmux" in text
    assert "Workers (3: 1 working, 1 waiting, 1 dead):" in text
    assert re.search(r"worker-1  ● working 2m\s+cpu\s+38%\s+rss\s+312M", text)
    assert "└─ task: ar-a1b2 Fix the parser → isollm/ar-a1b2 (+12/-3)" in text
    assert "worker-2  ◆ waiting 15s" in text
    assert "   Bash" in text
    assert "worker-3  ✗ dead" in text
    assert "(no task)" in text
    for row in ("Ready:        5", "Waiting:      1", "In progress:  2", "Blocked:      1"):
        assert row in text
    assert "Host: main in sync" in text
    assert "Task branches on the hub: 8" in text
    assert "worker-1  working" in text
    assert "[src/p.py]" in text
    assert "lock src/p.py (worker-1, ar-1)" in text
    assert "Task server: ● up (http://127.0.0.1:7432)" in text
    assert "Tmux: ● up (isollm-app)" in text


def test_a_session_whose_process_is_gone_is_stale() -> None:
    gone = SessionView(True, False, "running", "tmux", "isollm-app", NOW - timedelta(hours=2))
    assert "Session: running in tmux, started 2h ago; stale: it no longer runs" in (
        render.full(snapshot(session=gone))
    )
    assert "stale" not in render.full(FULL)


def test_brief_is_one_line() -> None:
    line = render.brief(FULL)
    assert "\n" not in line
    assert line == (
        "workers: 3 (1 working, 1 waiting, 1 dead) | tasks: 5 ready, 2 in progress, "
        "1 blocked, 12 done | waiting: worker-2 | task server ● | tmux ●"
    )


def test_no_session_no_server_says_what_it_can() -> None:
    bare = Snapshot(
        "app",
        "/src/app",
        NOW,
        tasks=TaskCounts(),
        sync=SyncView(True, "main", "no-hub"),
        services=(Service("task server", Health.DOWN, "nothing answers"),),
        board=Board(note="unavailable (the task server is not up)"),
    )
    text = render.full(bare)
    assert "Session: none" in text
    assert "Workers: none" in text
    assert "Tasks: unavailable (the task server is not up)" in text
    assert "no hub yet" in text
    assert "Context board: unavailable (the task server is not up)" in text
    assert "Task server: ○ down (nothing answers)" in text
    assert render.brief(bare) == "workers: 0 | tasks: ? | task server ○"


def test_a_session_without_panes_says_which_worker_to_attach() -> None:
    none = SessionView(True, True, "running", "none", "", NOW - timedelta(minutes=3))
    opened = worker("worker-1", AgentState.IDLE)
    closed = worker("worker-2", AgentState.NOT_ATTACHED, since=None, source=Source.PROCESS)
    text = render.full(snapshot(opened, closed, session=none))
    assert (
        "Session: running without a multiplexer, started 3m ago "
        "(attach each worker: isollm attach worker-2)"
    ) in text
    assert "Workers (2: 1 idle, 1 not attached):" in text
    line = next(n for n, s in enumerate(text.splitlines()) if "worker-2  · not attached" in s)
    assert "open its agent: isollm attach worker-2" in text.splitlines()[line + 2]
    assert "1 not attached" in render.brief(snapshot(closed, session=none))
    # everyone attached, or the session over: no hint
    assert "attach each" not in render.full(snapshot(opened, session=none))
    stale = SessionView(True, False, "running", "none", "", NOW)
    assert "attach each" not in render.full(snapshot(closed, session=stale))
    doc = snapshot(closed, session=none).to_json()
    assert doc["workers"][0]["state"] == "not-attached"
    assert Snapshot.from_json(doc).workers[0].state is AgentState.NOT_ATTACHED


@pytest.mark.parametrize("where", ["task_title", "task_id", "branch", "detail", "name"])
def test_hostile_text_from_agents_is_made_safe(where: str) -> None:
    fields: dict[str, object] = {"task_id": "ar-1", where: HOSTILE}
    name = str(fields.pop("name", "worker-1"))
    evil = worker(name, AgentState.WAITING, **fields)
    board = Board(True, context=(BoardEntry(HOSTILE, "blocked", HOSTILE, (HOSTILE,)),))
    shown = render.full(snapshot(evil, board=board)) + render.brief(snapshot(evil))
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]", shown)
    assert "\\x1b]0;pwned\\x07" in shown or "\\x1b]0;pwned" in shown


def test_json_document_is_versioned_and_round_trips() -> None:
    doc = FULL.to_json()
    assert next(iter(doc)) == "version"
    assert doc["version"] == STATUS_VERSION == 1
    assert set(doc) == {
        "version",
        "project",
        "root",
        "taken_at",
        "session",
        "workers",
        "tasks",
        "sync",
        "services",
        "board",
        "problems",
        "conflicts",
        "conflicts_note",
    }
    assert set(doc["workers"][0]) == {
        "name",
        "status",
        "sandbox",
        "state",
        "since",
        "source",
        "detail",
        "task_id",
        "task_title",
        "branch",
        "added",
        "deleted",
        "cpu_percent",
        "rss_bytes",
        "problem",
    }
    assert doc["workers"][1]["state"] == "waiting"
    back = Snapshot.from_json(json.loads(json.dumps(doc)))
    assert back == FULL
    assert render.full(back) == render.full(FULL)


def test_a_starting_worker_is_shown_and_kept_in_json() -> None:
    starting = worker(
        "worker-1", AgentState.STARTING, since=NOW - timedelta(seconds=4), source=Source.PROCESS
    )
    snap = snapshot(starting)
    assert "worker-1  ◌ starting 4s" in render.full(snap)
    assert render.brief(snap).startswith("workers: 1 (1 starting) |")
    doc = snap.to_json()
    assert doc["workers"][0]["state"] == "starting"
    assert Snapshot.from_json(json.loads(json.dumps(doc))) == snap


def test_conflicts_show_in_every_view() -> None:
    files = tuple(f"src/f{i}.py" for i in range(10))
    clash = ConflictView("ar-1", "worker-1", "ar-2", "worker-2", files)
    snap = snapshot(conflicts=(clash,))
    text = render.full(snap)
    assert "Conflicts (1):" in text
    assert "! ar-1 (worker-1) and ar-2 (worker-2) both touch src/f0.py, src/f1.py" in text
    assert "src/f7.py and 2 more" in text
    assert "conflicts: 1 |" in render.brief(snap)
    assert "Conflicts" not in render.full(FULL)
    assert "conflicts" not in render.brief(FULL)
    doc = snap.to_json()
    assert doc["conflicts"] == [
        {
            "earlier": "ar-1",
            "earlier_agent": "worker-1",
            "later": "ar-2",
            "later_agent": "worker-2",
            "files": list(files),
        }
    ]
    assert Snapshot.from_json(json.loads(json.dumps(doc))) == snap
    hostile = snapshot(conflicts=(ConflictView(HOSTILE, HOSTILE, "b", "w", (HOSTILE,)),))
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]", render.full(hostile))
    unchecked = render.full(snapshot(conflicts_note="the hub cannot be read"))
    assert "Conflicts: unavailable: the hub cannot be read" in unchecked


def test_json_reading_tolerates_garbage() -> None:
    odd = Snapshot.from_json({"workers": [{"name": "w", "state": "dancing", "added": "x"}, 3]})
    assert odd.workers == (WorkerView("w", "", "", AgentState.UNKNOWN),)


def test_snapshot_file_is_fresh_only_for_a_while(tmp_path: Path) -> None:
    (tmp_path / ".isollm").mkdir()
    snapfile.write(tmp_path, FULL)
    assert snapfile.read_fresh(tmp_path, now=NOW + timedelta(seconds=2)) == FULL
    assert snapfile.read_fresh(tmp_path, now=NOW + timedelta(seconds=30)) is None
    (tmp_path / ".isollm" / "status.json").write_text('{"version": 99}')
    assert snapfile.read_fresh(tmp_path, now=NOW) is None
    assert snapfile.read_fresh(tmp_path / "nowhere", now=NOW) is None


def test_project_root_is_found_upwards(tmp_path: Path) -> None:
    (tmp_path / "isollm.yaml").write_text("project: app\n")
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert briefcache.project_root(tmp_path / "a" / "b") == tmp_path
    assert briefcache.project_root(Path("/")) is None


@pytest.mark.parametrize(
    ("seconds", "shown"), [(0, "0s"), (59, "59s"), (60, "1m"), (7200, "2h"), (172800, "2d")]
)
def test_ages(seconds: int, shown: str) -> None:
    assert render.age(NOW - timedelta(seconds=seconds), NOW) == shown


def test_sizes() -> None:
    assert [render.size(n) for n in (None, 12, 2048, 5 * 2**20, 3 * 2**30 // 2)] == [
        "-",
        "12B",
        "2K",
        "5M",
        "1.5G",
    ]


# --- agent state --------------------------------------------------------------------

HOOK = Reported("working", NOW, "Edit")
LATER = NOW + timedelta(seconds=5)
PANE = Decision(AgentState.WAITING, NOW, Source.PANE)


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({"sandbox": "missing"}, (AgentState.DEAD, Source.SANDBOX)),
        ({"sandbox": "broken"}, (AgentState.DEAD, Source.SANDBOX)),
        ({"sandbox": "stopped"}, (AgentState.EXITED, Source.SANDBOX)),
        ({"processes": 0}, (AgentState.EXITED, Source.PROCESS)),
        # without panes (`--mux none`) an agent runs only once `isollm attach` opens it
        ({"processes": 0, "panes": False}, (AgentState.NOT_ATTACHED, Source.PROCESS)),
        ({"sandbox": "stopped", "panes": False}, (AgentState.EXITED, Source.SANDBOX)),
        ({"panes": False}, (AgentState.WORKING, Source.HOOK)),
        ({"pane_exited": True}, (AgentState.EXITED, Source.PROCESS)),
        # a pane alive in a session just begun: its `isollm attach` is starting the agent
        ({"processes": 0, "starting": NOW}, (AgentState.STARTING, Source.PROCESS)),
        (
            {"processes": 0, "starting": NOW, "pane_exited": True},
            (AgentState.EXITED, Source.PROCESS),
        ),
        ({"sandbox": "stopped", "starting": NOW}, (AgentState.EXITED, Source.SANDBOX)),
        ({"starting": NOW}, (AgentState.WORKING, Source.HOOK)),  # once it runs, its own word
        ({"hook": None, "pane": None, "starting": NOW}, (AgentState.STARTING, Source.NONE)),
        ({}, (AgentState.WORKING, Source.HOOK)),  # the hook wins over the pane
        # ... unless it said "working" and the pane settled on idle or waiting after it
        ({"pane": Decision(AgentState.IDLE, LATER, Source.PANE)}, (AgentState.IDLE, Source.PANE)),
        (
            {
                "hook": Reported("waiting", NOW),
                "pane": Decision(AgentState.IDLE, LATER, Source.PANE),
            },
            (AgentState.WAITING, Source.HOOK),
        ),
        ({"hook": None}, (AgentState.WAITING, Source.PANE)),
        ({"hook": Reported("unknown", NOW)}, (AgentState.WAITING, Source.PANE)),
        ({"hook": None, "pane": None}, (AgentState.UNKNOWN, Source.NONE)),
        ({"hook": Reported("sleeping", NOW), "pane": None}, (AgentState.UNKNOWN, Source.NONE)),
        # what the hooks last said before this session began was its predecessor's agent
        (
            {"hook": Reported("exited", NOW, reported_at=NOW), "session_start": LATER},
            (AgentState.WAITING, Source.PANE),
        ),
        (
            {
                "hook": Reported("exited", NOW, reported_at=NOW),
                "pane": None,
                "starting": LATER,
                "session_start": LATER,
            },
            (AgentState.STARTING, Source.NONE),
        ),
        (
            {"hook": Reported("idle", NOW, reported_at=LATER), "session_start": LATER},
            (AgentState.IDLE, Source.HOOK),
        ),
    ],
)
def test_agent_state_order(kw: dict[str, object], expected: tuple[AgentState, Source]) -> None:
    args: dict[str, object] = {"sandbox": "running", "processes": 3, "hook": HOOK, "pane": PANE}
    args.update(kw)
    got = decide(**args)  # type: ignore[arg-type]
    assert (got.state, got.source) == expected


def test_hooks_heard_before_the_session_began_are_not_its_agents() -> None:
    old = Reported("exited", NOW, reported_at=NOW)
    assert current(old, LATER) is None  # then the pane is read instead
    assert current(old, NOW) is old
    assert current(old, None) is old  # no session: what exists is shown
    again = Reported("idle", NOW, reported_at=LATER)  # the new agent's first word repeats it
    assert current(again, LATER) == Reported("idle", LATER, reported_at=LATER)


def test_pane_watch_needs_two_agreeing_looks_over_the_settle_time() -> None:
    clock = [100.0]
    panes = PaneWatch(clock=lambda: clock[0])
    asking = "Do you want to proceed?\n❯ 1. Yes\n  2. No\n"
    assert panes.look("w", "claude", asking, NOW).state is AgentState.UNKNOWN
    clock[0] += 0.5
    assert panes.look("w", "claude", asking, NOW).state is AgentState.UNKNOWN
    clock[0] += 1.5
    seen = panes.look("w", "claude", asking, NOW + timedelta(seconds=2))
    assert (seen.state, seen.source, seen.since) == (
        AgentState.WAITING,
        Source.PANE,
        NOW + timedelta(seconds=2),
    )


def test_pane_watch_seeded_from_a_recent_snapshot_keeps_its_state() -> None:
    panes = PaneWatch(clock=lambda: 0.0)
    panes.seed("w", AgentState.IDLE, NOW - timedelta(minutes=3))
    seen = panes.look("w", "claude", "esc to interrupt", NOW)
    assert (seen.state, seen.since) == (AgentState.IDLE, NOW - timedelta(minutes=3))


# --- CPU and memory -----------------------------------------------------------------


def test_cpu_percent_between_two_samples() -> None:
    before = usage.Sample(10.0, (1,), 2.0, 100)
    assert usage.cpu_percent(before, usage.Sample(12.0, (1,), 3.0, 100)) == 50.0
    assert usage.cpu_percent(None, before) is None
    assert usage.cpu_percent(before, usage.Sample(12.0, None, None, None)) is None
    assert usage.cpu_percent(before, usage.Sample(10.0, (1,), 3.0, 100)) is None


def test_cgroup_files_are_read(tmp_path: Path) -> None:
    sandbox = tmp_path / "sandboxes" / "app" / "worker-1"
    root = tmp_path / "cgroup"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu memory pids\n")  # a cgroup v2 tree
    group = root / group_name(sandbox)
    group.mkdir(parents=True)
    (group / "cgroup.procs").write_text("12\n34\n")
    (group / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\n")
    (group / "memory.stat").write_text("anon 4096000\nfile 99999999\n")
    seen = usage.sample(sandbox, root)
    assert (seen.pids, seen.cpu_seconds, seen.rss_bytes) == ((12, 34), 2.5, 4096000)
    none = usage.sample(tmp_path / "other", root)
    assert (none.pids, none.cpu_seconds, none.rss_bytes) == (None, None, None)


# --- notifications ------------------------------------------------------------------


def test_started_waiting_once_per_transition() -> None:
    idle = snapshot(worker("a", AgentState.IDLE), worker("b", AgentState.WAITING))
    waiting = snapshot(worker("a", AgentState.WAITING), worker("b", AgentState.WAITING))
    assert started_waiting(None, waiting) == []  # already waiting when the watch started
    assert [w.name for w in started_waiting(idle, waiting)] == ["a"]
    assert started_waiting(waiting, waiting) == []


def test_watch_notifies_through_the_command_with_its_environment(tmp_path: Path) -> None:
    out = tmp_path / "calls"
    command = ["sh", "-c", 'echo "$ISOLLM_WORKER $ISOLLM_TASK $ISOLLM_STATE" >> "$0"', str(out)]
    rings: list[str] = []
    notifier = Notifier(command, rings.append, notify_send=None)
    seen = iter(
        [
            snapshot(worker("w", AgentState.WORKING, task_id="ar-9")),
            snapshot(worker("w", AgentState.WAITING, task_id="ar-9")),
            snapshot(worker("w", AgentState.WAITING, task_id="ar-9")),
        ]
    )
    shown: list[Snapshot] = []
    watch(
        lambda: next(seen),
        lambda s, problems: shown.append(s),
        notifier,
        interval=0.0,
        sleep=lambda s: None,
        rounds=3,
    )
    assert len(shown) == 3
    assert rings == ["\a"]
    assert out.read_text() == "w ar-9 waiting\n"
    assert notify_env(worker("w", AgentState.WAITING)) == {
        "ISOLLM_WORKER": "w",
        "ISOLLM_TASK": "",
        "ISOLLM_STATE": "waiting",
    }


def test_a_failing_notify_command_is_reported_not_raised(tmp_path: Path) -> None:
    notifier = Notifier(["false"], lambda text: None, notify_send=None)
    notifier(worker("w", AgentState.WAITING))
    notifier.wait()
    assert notifier.problems == ["notification false exited with status 1"]
    missing = Notifier([str(tmp_path / "nope")], lambda text: None, notify_send=None)
    missing(worker("w", AgentState.WAITING))
    missing.wait()
    assert "not installed" in missing.problems[0]


def test_a_failed_look_shows_the_last_snapshot_and_says_so() -> None:
    first = snapshot(worker("w", AgentState.WORKING))
    looks: list[Snapshot | Exception] = [first, IsollmError("hub tampered\nmore")]

    def take() -> Snapshot:
        found = looks.pop(0)
        if isinstance(found, Exception):
            raise found
        return found

    shown: list[tuple[Snapshot, list[str]]] = []
    watch(
        take,
        lambda s, problems: shown.append((s, problems)),
        Notifier(notify_send=None),
        interval=0.0,
        sleep=lambda s: None,
        rounds=2,
    )
    assert shown == [(first, []), (first, ["this look failed: hub tampered"])]


def test_notification_markup_is_escaped() -> None:
    assert markup_free("<a href='x'>&</a>") == "&lt;a href='x'&gt;&amp;&lt;/a&gt;"
