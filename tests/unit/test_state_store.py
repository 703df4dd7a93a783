"""FileState: every case of seed 001's state test plan, plus permissions and names."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from isollm.errors import StateError
from isollm.liveness import start_time
from isollm.state import (
    CorruptStateError,
    FileState,
    InvalidTransitionError,
    InvalidWorkerNameError,
    NoSessionError,
    Session,
    SessionExistsError,
    SessionStatus,
    State,
    TaskRef,
    WorkerNotFoundError,
    WorkerState,
    WorkerStatus,
)


@pytest.fixture
def state(tmp_path: Path) -> FileState:
    return FileState(tmp_path / ".isollm")


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def me(**fields: Any) -> Session:
    return Session.for_this_process("/repo", **fields)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_file_state_satisfies_the_state_protocol(state: FileState) -> None:
    implementation: State = state
    assert implementation is state


def test_for_project_uses_dot_isollm(tmp_path: Path) -> None:
    assert FileState.for_project(tmp_path).state_dir == tmp_path / ".isollm"


# -- session ------------------------------------------------------------------------------


def test_create_session(state: FileState) -> None:
    session = me()
    assert state.create_session(session) is None
    assert state.load_session() == session
    assert json.loads(state.session_path.read_text())["pid"] == os.getpid()


def test_create_session_already_exists(state: FileState) -> None:
    state.create_session(me())
    with pytest.raises(SessionExistsError, match=f"pid {os.getpid()}") as info:
        state.create_session(me(multiplexer="tmux"))
    assert "Ctrl-C" in str(info.value)
    assert state.load_session().multiplexer == ""  # the first one is untouched


def test_create_session_replaces_a_stale_one_and_returns_it(state: FileState) -> None:
    stale = Session(pid=dead_pid(), project_root="/repo")
    state.create_session(stale)
    fresh = me()
    assert state.create_session(fresh) == stale
    assert state.load_session() == fresh


def test_create_session_replaces_a_recycled_pid(state: FileState) -> None:
    recycled = Session(pid=os.getpid(), project_root="/r", pid_start_time=1)
    state.create_session(recycled)
    assert state.create_session(me()) == recycled


def test_save_load_session(state: FileState) -> None:
    session = me()
    state.create_session(session)
    state.save_session(dataclasses.replace(session, status=SessionStatus.RUNNING))
    assert state.load_session().status is SessionStatus.RUNNING


def test_save_session_needs_an_existing_session(state: FileState) -> None:
    with pytest.raises(NoSessionError):
        state.save_session(me())
    assert not state.session_path.exists()


def test_load_session_not_found(state: FileState) -> None:
    with pytest.raises(NoSessionError) as info:
        state.load_session()
    assert isinstance(info.value, StateError)
    assert "isollm run" in str(info.value)


def test_load_session_corrupt(state: FileState) -> None:
    state.state_dir.mkdir()
    state.session_path.write_text('{"version": 1, "pid": ')
    with pytest.raises(CorruptStateError, match="invalid JSON") as info:
        state.load_session()
    assert str(state.session_path) in str(info.value)
    assert "delete the file" in str(info.value)


def test_clear_session(state: FileState) -> None:
    state.create_session(me())
    state.clear_session()
    with pytest.raises(NoSessionError):
        state.load_session()
    state.clear_session()  # idempotent
    state.create_session(me())  # and a new one can start


def test_has_active_session_no_session(state: FileState) -> None:
    assert not state.has_active_session()


def test_has_active_session_stale_session(state: FileState) -> None:
    state.create_session(Session(pid=dead_pid(), project_root="/repo"))
    assert not state.has_active_session()


def test_has_active_session_recycled_pid(state: FileState) -> None:
    real = start_time(os.getpid())
    assert real is not None
    state.create_session(Session(pid=os.getpid(), project_root="/r", pid_start_time=real + 1))
    assert not state.has_active_session()


def test_has_active_session_live_session(state: FileState) -> None:
    state.create_session(me())
    assert state.has_active_session()


def test_has_active_session_live_child_then_killed(state: FileState) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        state.create_session(
            Session(pid=child.pid, project_root="/r", pid_start_time=start_time(child.pid))
        )
        assert state.has_active_session()
    finally:
        child.kill()
        child.wait()
    assert not state.has_active_session()


# -- workers ------------------------------------------------------------------------------


def test_save_load_worker(state: FileState) -> None:
    worker = WorkerState("worker-1", sandbox_id="ctr", current_task=TaskRef("ar-1", "t"))
    state.save_worker(worker)
    assert state.load_worker("worker-1") == worker


def test_save_worker_overwrites(state: FileState) -> None:
    state.save_worker(WorkerState("w1"))
    state.save_worker(WorkerState("w1", status=WorkerStatus.IDLE))
    assert state.load_worker("w1").status is WorkerStatus.IDLE


def test_load_worker_not_found(state: FileState) -> None:
    with pytest.raises(WorkerNotFoundError, match="'nope'") as info:
        state.load_worker("nope")
    assert "isollm worker list" in str(info.value)


def test_load_worker_whose_file_holds_another_name(state: FileState) -> None:
    state.save_worker(WorkerState("w1"))
    (state.workers_dir / "w2.json").write_bytes((state.workers_dir / "w1.json").read_bytes())
    with pytest.raises(CorruptStateError, match="holds worker 'w1', not 'w2'"):
        state.load_worker("w2")


def test_load_all_workers(state: FileState) -> None:
    for name in ("worker-10", "worker-2", "worker-1"):
        state.save_worker(WorkerState(name))
    result = state.load_all_workers()
    assert [w.name for w in result.workers] == ["worker-1", "worker-2", "worker-10"]
    assert result.errors == []


def test_load_all_workers_without_a_directory(state: FileState) -> None:
    result = state.load_all_workers()
    assert (result.workers, result.errors) == ([], [])


def test_load_all_workers_partial_failure(state: FileState) -> None:
    state.save_worker(WorkerState("good-1"))
    state.save_worker(WorkerState("good-2"))
    (state.workers_dir / "torn.json").write_text('{"version": 1, "na')
    (state.workers_dir / "wrong.json").write_text('{"version": 1, "name": "wrong"}')
    (state.workers_dir / "newer.json").write_text('{"version": 99, "name": "newer"}')
    (state.workers_dir / "bad name.json").write_text("{}")
    result = state.load_all_workers()
    assert [w.name for w in result.workers] == ["good-1", "good-2"]
    messages = sorted(str(e) for e in result.errors)
    assert len(messages) == 4
    assert all(isinstance(e, StateError) for e in result.errors)
    assert any("torn.json" in m and "invalid JSON" in m for m in messages)
    assert any("wrong.json" in m and "'status' is missing" in m for m in messages)
    assert any("newer.json" in m and "newer isollm" in m for m in messages)
    assert any("'bad name'" in m for m in messages)


def test_load_all_workers_skips_temp_files_and_other_entries(state: FileState) -> None:
    state.save_worker(WorkerState("w1"))
    (state.workers_dir / ".w1.json.abc123.tmp").write_text("{half a fi")
    (state.workers_dir / "notes.txt").write_text("hi")
    (state.workers_dir / "dir.json").mkdir()
    result = state.load_all_workers()
    assert [w.name for w in result.workers] == ["w1"]
    assert result.errors == []


def test_delete_worker(state: FileState) -> None:
    state.save_worker(WorkerState("w1"))
    state.save_worker(WorkerState("w2"))
    state.delete_worker("w1")
    with pytest.raises(WorkerNotFoundError):
        state.load_worker("w1")
    state.delete_worker("w1")  # idempotent
    assert [w.name for w in state.load_all_workers().workers] == ["w2"]


def test_clear_all_workers(state: FileState) -> None:
    state.clear_all_workers()  # nothing there yet: fine
    for name in ("w1", "w2"):
        state.save_worker(WorkerState(name))
    (state.workers_dir / ".w1.json.x.tmp").write_text("left by a killed writer")
    state.clear_all_workers()
    assert state.load_all_workers().workers == []
    assert list(state.workers_dir.iterdir()) == []
    state.clear_all_workers()  # idempotent


@pytest.mark.parametrize(
    "name", ["", ".", "..", "../evil", "a/b", "a\\b", ".hidden", "-x", "a b", "a\nb", "x" * 65]
)
def test_unsafe_worker_names_never_become_paths(state: FileState, name: str) -> None:
    for call in (
        lambda: state.save_worker(WorkerState(name)),
        lambda: state.load_worker(name),
        lambda: state.delete_worker(name),
    ):
        with pytest.raises(InvalidWorkerNameError):
            call()
    assert not state.state_dir.exists() or not any(state.state_dir.rglob("*.json"))


def test_transition_worker_validates_and_saves(state: FileState) -> None:
    state.save_worker(WorkerState("w1"))
    state.transition_worker("w1", WorkerStatus.IDLE)
    busy = state.transition_worker(
        "w1", WorkerStatus.BUSY, task=TaskRef("ar-7", "t"), branch="isollm/ar-7"
    )
    assert state.load_worker("w1") == busy
    with pytest.raises(InvalidTransitionError):
        state.transition_worker("w1", WorkerStatus.STOPPED)
    assert state.load_worker("w1").status is WorkerStatus.BUSY
    failed = state.transition_worker("w1", WorkerStatus.ERROR, error="agent crashed")
    assert state.load_worker("w1").last_error == "agent crashed" == failed.last_error


def test_update_worker_cannot_rename(state: FileState) -> None:
    state.save_worker(WorkerState("w1"))
    with pytest.raises(ValueError, match="cannot rename"):
        state.update_worker("w1", lambda _w: WorkerState("w2"))
    with pytest.raises(WorkerNotFoundError):
        state.update_worker("w9", lambda w: w)


# -- files --------------------------------------------------------------------------------


def test_state_files_are_private(state: FileState) -> None:
    state.create_session(me())
    state.save_worker(WorkerState("w1"))
    state.save_session(me())
    assert mode(state.state_dir) == 0o700
    assert mode(state.workers_dir) == 0o700
    assert mode(state.session_path) == 0o600
    assert mode(state.worker_path("w1")) == 0o600


def test_atomic_write(state: FileState) -> None:
    """A save never leaves temp files behind, and the file is complete JSON."""
    for i in range(20):
        state.save_worker(WorkerState("w1", last_error="x" * i * 1000))
    assert [p.name for p in state.workers_dir.iterdir()] == ["w1.json"]
    assert json.loads(state.worker_path("w1").read_text())["last_error"] == "x" * 19000


def test_a_failed_rename_removes_its_temp_file(state: FileState) -> None:
    """The target is a directory, so the final rename fails after the temp file exists."""
    state.workers_dir.mkdir(parents=True)
    (state.workers_dir / "w1.json").mkdir()
    with pytest.raises(StateError, match="cannot write"):
        state.save_worker(WorkerState("w1"))
    assert [p.name for p in state.workers_dir.iterdir()] == ["w1.json"]


def test_an_unreadable_state_dir_is_a_state_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    state = FileState(tmp_path / "file")
    with pytest.raises(StateError, match="cannot"):
        state.save_worker(WorkerState("w1"))
    with pytest.raises(StateError, match="cannot list"):
        state.load_all_workers()
