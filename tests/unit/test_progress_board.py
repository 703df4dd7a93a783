"""The live board and the plain output keep moving between events: times tick, the
agent's latest activity shows, a stall is flagged, plain output beats for busy workers."""

from __future__ import annotations

import io
import time

import pytest
from rich.console import Console

from isollm.cli import output, progress
from isollm.runner.events import Kind, Progress


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def shown(board: progress.LiveBoard, now: float) -> str:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(board.render(now))
    return console.file.getvalue()  # type: ignore[attr-defined]


def started(clock: Clock) -> list[Progress]:
    return [
        Progress(Kind.CLAIMED, "w1", "ar-1", "Add slugify()", "attempt 1", at=clock.now),
        Progress(Kind.AGENT_STARTED, "w1", "ar-1", "Add slugify()", "claude", at=clock.now),
    ]


def test_the_time_in_state_ticks_without_events() -> None:
    clock = Clock()
    board = progress.LiveBoard(clock=clock)
    for p in started(clock):
        board(p)
    assert "agent started  0s" in shown(board, clock.now)
    clock.now += 42
    assert "agent started  42s" in shown(board, clock.now)
    clock.now += 100
    assert "2m22s" in board_text(board)  # render() without a time reads the clock


def board_text(board: progress.LiveBoard) -> str:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(board.render())
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_what_the_live_display_redraws_moves_with_the_clock() -> None:
    clock = Clock()
    board = progress.LiveBoard(clock=clock)
    for p in started(clock):
        board(p)
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(board.live.get_renderable())  # what each refresh draws
    clock.now += 41
    console.print(board.live.get_renderable())
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "agent started  0s" in text
    assert "agent started  41s" in text


def test_latest_activity_and_its_age_are_shown() -> None:
    clock = Clock()
    board = progress.LiveBoard(clock=clock)
    for p in started(clock):
        board(p)
    board(Progress(Kind.ACTIVITY, "w1", "ar-1", "Add slugify()", "Bash(pytest)", at=clock.now))
    clock.now += 7
    text = shown(board, clock.now)
    assert "7s ago: Bash(pytest)" in text
    assert "agent started  7s" in text  # activity does not restart the state's time


def test_a_stall_is_flagged_on_the_row_and_noted_until_activity_comes() -> None:
    clock = Clock()
    board = progress.LiveBoard(clock=clock)
    for p in started(clock):
        board(p)
    clock.now += 300
    board(Progress(Kind.STALLED, "w1", "ar-1", "t", "no activity for 300 s", at=clock.now))
    text = shown(board, clock.now)
    assert "agent started (STALLED)" in text
    assert "stalled: w1 ar-1: no activity for 300 s" in text
    board(Progress(Kind.ACTIVITY, "w1", "ar-1", "t", "API retry 4/10 (529)", at=clock.now))
    assert "(STALLED)" not in shown(board, clock.now)


def test_a_new_task_starts_with_no_activity() -> None:
    clock = Clock()
    rows = progress.Rows()
    rows.apply(Progress(Kind.ACTIVITY, "w1", "ar-1", "", "old work", at=clock.now))
    rows.apply(Progress(Kind.CLAIMED, "w1", "ar-2", "next", "attempt 1", at=clock.now))
    assert rows.rows["w1"].activity == ""


def test_plain_heartbeats_for_busy_workers_every_period() -> None:
    clock = Clock()
    rows = progress.Rows()
    for p in started(clock):
        rows.apply(p)
    rows.apply(Progress(Kind.DONE, "w2", "ar-2", "", "", at=clock.now))  # not busy
    assert rows.heartbeats(clock.now + 29) == []
    clock.now += 30
    (beat,) = rows.heartbeats(clock.now)
    assert beat.endswith("w1 ar-1 still agent started 30s - no agent activity yet")
    assert rows.heartbeats(clock.now + 29) == []  # once a period
    rows.apply(Progress(Kind.ACTIVITY, "w1", "ar-1", "", "Edit(a.py)", at=clock.now + 40))
    rows.apply(Progress(Kind.STALLED, "w1", "ar-1", "", "no activity", at=clock.now + 45))
    assert rows.heartbeats(clock.now + 60) == []  # the stall's line was printed at +45
    (beat,) = rows.heartbeats(clock.now + 75)
    assert beat.endswith(
        "w1 ar-1 still agent started 1m45s - STALLED - last activity 35s ago: Edit(a.py)"
    )


def test_plain_log_prints_events_and_heartbeats_but_not_each_activity(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    buffer = io.StringIO()
    monkeypatch.setattr(output, "out", Console(file=buffer))
    clock = Clock()
    log = progress.PlainLog(every=30, clock=clock)
    for p in started(clock):
        log(p)
    log(Progress(Kind.ACTIVITY, "w1", "ar-1", "", "Bash(ls)", at=clock.now))
    log.tick()
    clock.now += 31
    log.tick()
    log(Progress(Kind.STALLED, "w1", "ar-1", "", "no activity for 31 s", at=clock.now))
    lines = buffer.getvalue().splitlines()
    assert [x.split(" ", 1)[1] for x in lines] == [
        "w1 ar-1 claimed  Add slugify() - attempt 1",
        "w1 ar-1 agent started  Add slugify() - claude",
        "w1 ar-1 still agent started 31s - last activity 31s ago: Bash(ls)",
        "w1 ar-1 stalled - no activity for 31 s",
    ]


def test_plain_log_beats_from_its_own_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.StringIO()
    monkeypatch.setattr(output, "out", Console(file=buffer))
    log = progress.PlainLog(every=0.05)
    with log.running():
        log(Progress(Kind.AGENT_STARTED, "w1", "ar-1", "", "claude"))
        for _ in range(100):
            if "still agent started" in buffer.getvalue():
                break
            time.sleep(0.02)
    assert "w1 ar-1 still agent started" in buffer.getvalue()
