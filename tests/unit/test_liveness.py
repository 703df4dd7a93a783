"""Reading /proc/<pid>/stat and deciding whether a recorded process still runs (the one
liveness check, :mod:`isollm.liveness`, used by every record that names a process)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from isollm import liveness as proc_info
from isollm.liveness import ProcStat, is_alive, parse_stat, read_stat, start_time
from isollm.tasks.server import control
from isollm.tasks.server.options import ServeOptions

# 52 fields as Linux prints them; the command name holds spaces and parentheses.
STAT = (
    "4242 (weird ) (name) S 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 "
    "987654 1000 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 "
    "0 0 0 0 0 0 0 0"
)


def test_parse_stat_reads_state_and_field_22() -> None:
    assert parse_stat(STAT) == ProcStat(state="S", start_time=987654)


@pytest.mark.parametrize("text", ["", "garbage", "12 (x"])
def test_parse_stat_rejects_other_text(text: str) -> None:
    with pytest.raises(ValueError, match="stat"):
        parse_stat(text)


def test_our_own_process() -> None:
    stat = read_stat(os.getpid())
    assert stat is not None
    assert stat.state in "RS"
    assert start_time(os.getpid()) == stat.start_time
    assert is_alive(os.getpid())
    assert is_alive(os.getpid(), stat.start_time)


def test_a_recycled_pid_is_not_the_recorded_process() -> None:
    """Same pid, different start time: the process we recorded is gone."""
    real = start_time(os.getpid())
    assert real is not None
    assert not is_alive(os.getpid(), real - 1)


def test_an_exited_and_reaped_process_is_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    recorded = start_time(child.pid)
    child.wait()
    assert not is_alive(child.pid, recorded)
    assert read_stat(child.pid) is None


def test_a_zombie_is_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped
        assert read_stat(child.pid) is not None
        assert not is_alive(child.pid)
    finally:
        child.wait()


def test_a_running_child_is_alive_until_killed() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        recorded = start_time(child.pid)
        assert is_alive(child.pid, recorded)
    finally:
        child.kill()
        child.wait()
    assert not is_alive(child.pid, recorded)


@pytest.mark.parametrize("pid", [0, -1])
def test_nonsense_pids_are_dead(pid: int) -> None:
    assert not is_alive(pid)


def test_without_proc_the_signal_check_decides(
    monkeypatch: pytest.MonkeyPatch, tmp_path: os.PathLike[str]
) -> None:
    monkeypatch.setattr(proc_info, "PROC", tmp_path)
    assert is_alive(os.getpid(), 1)  # nothing to compare the start time with
    assert not is_alive(2**22 + 1)  # above pid_max: no such process


# --- every recorded process is checked by pid and start time ---------------------------


@pytest.fixture
def stranger() -> Iterator[subprocess.Popen[bytes]]:
    """A process that is not the one a record names, although it has its pid."""
    child = subprocess.Popen(["sleep", "60"])
    try:
        yield child
    finally:
        child.kill()
        child.wait()


def test_a_task_server_record_whose_pid_was_reused_is_not_running_and_stop_spares_it(
    stranger: subprocess.Popen[bytes],
) -> None:
    """The server crashed; the kernel gave its pid to another program. `isollm server
    stop` must not signal that program, and status must not report a server."""
    started = start_time(stranger.pid)
    assert started is not None
    port = 47999
    control.write_state(
        control.ServerState(
            stranger.pid, "127.0.0.1", port, "2026-01-01T00:00:00Z", "log", pid_start=started - 1
        )
    )
    assert not control.status(ServeOptions(port=port)).running
    assert control.stop(port) is None
    assert stranger.poll() is None  # still running: never signalled
    assert control.read_state(port) is None  # the stale record is gone


def test_a_task_server_record_keeps_its_start_time() -> None:
    state = control.ServerState(1, "h", 2, "t", "l", pid_start=1234)
    assert control.ServerState.from_json(dataclasses.asdict(state)) == state
    old = {k: v for k, v in dataclasses.asdict(state).items() if k != "pid_start"}
    assert control.ServerState.from_json(old).pid_start is None  # written before it had one
