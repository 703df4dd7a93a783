"""Run state in run.json: ids, status, stale detection, take-over for resume, listing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from isollm.config import Config
from isollm.errors import RunError, StateError
from isollm.runner import runstate
from isollm.runner.layout import RunPaths
from isollm.runner.runstate import RunState, RunStatus


def new_run(root: Path, **fields: str) -> RunState:
    return runstate.create_run(root, workers=3, agent="claude", config_digest="sha256:x", **fields)


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_run_ids_sort_by_start_time() -> None:
    early = runstate.new_run_id(datetime(2026, 11, 21, 19, 5, 12, tzinfo=UTC))
    late = runstate.new_run_id(datetime(2026, 11, 21, 19, 5, 13, tzinfo=UTC))
    assert re.fullmatch(r"20261121-190512-[0-9a-f]{4}", early)
    assert early < late


def test_a_new_run_is_running_owned_by_this_process(tmp_path: Path) -> None:
    state = new_run(tmp_path, base_branch="main", snapshot_id="snap-123456789abc")

    assert state.run_status is RunStatus.RUNNING
    assert state.pid == os.getpid()
    assert state.pid_start is not None
    assert not runstate.is_stale(state)
    path = RunPaths.of(tmp_path, state.id).state
    assert json.loads(path.read_text())["status"] == "running"
    assert runstate.load_run(tmp_path, state.id) == state


def test_runs_started_in_the_same_second_get_different_ids(tmp_path: Path) -> None:
    ids = {new_run(tmp_path).id for _ in range(30)}
    assert len(ids) == 30


def test_finishing_records_the_end(tmp_path: Path) -> None:
    state = new_run(tmp_path)
    done = runstate.finish_run(tmp_path, state, RunStatus.FAILED, "2 tasks failed")
    assert runstate.load_run(tmp_path, state.id) == done
    assert (done.status, done.reason) == ("failed", "2 tasks failed")
    assert done.ended is not None
    with pytest.raises(ValueError, match="finishes as"):
        runstate.finish_run(tmp_path, state, RunStatus.RUNNING)


def test_a_running_run_whose_process_died_is_stale(tmp_path: Path) -> None:
    state = replace(new_run(tmp_path), pid=dead_pid())
    assert runstate.is_stale(state)


def test_a_reused_pid_is_not_mistaken_for_the_runner(tmp_path: Path) -> None:
    state = new_run(tmp_path)
    assert state.pid_start is not None
    assert runstate.is_stale(replace(state, pid_start=state.pid_start + 1))


def test_a_finished_run_is_never_stale(tmp_path: Path) -> None:
    state = replace(new_run(tmp_path), pid=dead_pid(), status=RunStatus.FAILED)
    assert not runstate.is_stale(state)


def test_take_over_resumes_a_stale_or_failed_run(tmp_path: Path) -> None:
    for status in (RunStatus.RUNNING, RunStatus.FAILED):
        state = replace(new_run(tmp_path), pid=dead_pid(), status=status, ended="x")
        runstate.save_run(tmp_path, state)

        resumed = runstate.take_over(tmp_path, state)

        assert (resumed.status, resumed.pid, resumed.resumes) == ("running", os.getpid(), 1)
        assert resumed.ended is None
        assert runstate.load_run(tmp_path, state.id) == resumed


def test_take_over_refuses_a_live_run(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="still running"):
        runstate.take_over(tmp_path, new_run(tmp_path))


@pytest.mark.parametrize("status", [RunStatus.COMPLETED, RunStatus.ABORTED])
def test_take_over_refuses_a_finished_run(tmp_path: Path, status: RunStatus) -> None:
    state = runstate.finish_run(tmp_path, new_run(tmp_path), status)
    with pytest.raises(RunError, match=f"is {status} and cannot be resumed"):
        runstate.take_over(tmp_path, state)


def test_listing_and_latest(tmp_path: Path) -> None:
    assert runstate.latest_run(tmp_path) is None
    assert runstate.list_runs(tmp_path) == runstate.RunList([], [])
    template = new_run(tmp_path)
    first = replace(template, id="30261121-190512-aaaa")
    second = replace(template, id="30261121-190513-0000")
    for state in (first, second):
        runstate.save_run(tmp_path, state)
    (RunPaths.of(tmp_path, "30261121-190513-0001").dir / "logs").mkdir(parents=True)  # no run.json
    broken = RunPaths.of(tmp_path, "30261121-190514-bbbb").state
    broken.parent.mkdir()
    broken.write_text('{"status": "exploded"}')

    listing = runstate.list_runs(tmp_path)

    assert [s.id for s in listing.runs] == [template.id, first.id, second.id]
    assert len(listing.problems) == 1
    assert "run state" in listing.problems[0]
    with pytest.raises(StateError, match=r"bbbb/run\.json is not valid: id: is missing"):
        runstate.latest_run(tmp_path)  # the newest is the broken one: say so


def test_an_unknown_run_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="there is no run 20261121-000000-0000"):
        runstate.load_run(tmp_path, "20261121-000000-0000")


def test_a_run_state_with_a_bad_status_names_it(tmp_path: Path) -> None:
    state = new_run(tmp_path)
    path = RunPaths.of(tmp_path, state.id).state
    path.write_text(json.dumps({**json.loads(path.read_text()), "status": "paused"}))
    with pytest.raises(StateError, match="'paused' is not a valid RunStatus"):
        runstate.load_run(tmp_path, state.id)


def test_the_config_digest_follows_the_content() -> None:
    a = runstate.config_digest(Config(project="demo"))
    assert a == runstate.config_digest(Config(project="demo"))
    assert a != runstate.config_digest(Config(project="other"))
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", a)
