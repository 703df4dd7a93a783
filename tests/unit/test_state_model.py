"""Session / worker records: JSON round trips, schema versions, malformed documents."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from isollm.liveness import start_time
from isollm.state import model
from isollm.state.model import (
    SESSION_VERSION,
    WORKER_VERSION,
    Session,
    SessionStatus,
    TaskRef,
    WorkerState,
    WorkerStatus,
)

T0 = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def full_worker() -> WorkerState:
    return WorkerState(
        name="worker-1",
        status=WorkerStatus.BUSY,
        sandbox_id="ctr-1",
        ip="10.0.3.7",
        current_task=TaskRef("ar-1a2b", "Fix the parser", T0),
        current_branch="isollm/ar-1a2b",
        started_at=T0,
        last_activity=T0 + timedelta(seconds=5),
        last_error="boom",
        error_time=T0 + timedelta(seconds=1),
        last_reconciled=T0 + timedelta(seconds=2),
    )


def test_worker_round_trips_every_field() -> None:
    worker = full_worker()
    assert WorkerState.from_dict(worker.to_dict()) == worker


def test_minimal_worker_round_trips() -> None:
    worker = WorkerState("w", started_at=T0, last_activity=T0)
    data = worker.to_dict()
    assert data["current_task"] is None
    assert data["error_time"] is None
    assert WorkerState.from_dict(data) == worker


def test_session_round_trips() -> None:
    session = Session(
        pid=42,
        project_root="/repo",
        started_at=T0,
        status=SessionStatus.RUNNING,
        pid_start_time=12345,
        hub_path="/home/u/.isollm/p.git",
        multiplexer="tmux",
        multiplexer_session="isollm-p",
    )
    assert Session.from_dict(session.to_dict()) == session


def test_files_carry_their_schema_version_first() -> None:
    assert next(iter(full_worker().to_dict())) == "version"
    assert full_worker().to_dict()["version"] == WORKER_VERSION
    assert Session(pid=1, project_root="/r").to_dict()["version"] == SESSION_VERSION


def test_times_are_stored_in_utc_and_naive_times_read_as_utc() -> None:
    plus2 = timezone(timedelta(hours=2))
    worker = WorkerState("w", started_at=datetime(2025, 1, 1, 12, tzinfo=plus2))
    assert worker.to_dict()["started_at"] == "2025-01-01T10:00:00+00:00"
    data = worker.to_dict() | {"started_at": "2025-01-01T10:00:00"}
    assert WorkerState.from_dict(data).started_at == datetime(2025, 1, 1, 10, tzinfo=UTC)


def test_for_this_process_records_pid_and_start_time() -> None:
    session = Session.for_this_process("/repo", multiplexer="tmux")
    assert session.pid == os.getpid()
    assert session.pid_start_time == start_time(os.getpid())
    assert session.pid_start_time is not None
    assert session.status is SessionStatus.INITIALIZING
    assert session.multiplexer == "tmux"


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"name": None}, "'name' is missing"),
        ({"name": 7}, "'name' has the wrong type"),
        ({"status": "running"}, "'status' is not one of"),
        ({"started_at": "yesterday"}, "'started_at' is not an ISO 8601 time"),
        ({"current_task": "ar-1"}, "current_task must be a JSON object"),
        ({"current_task": {"id": "ar-1"}}, "'title' is missing"),
        ({"version": None}, "'version' must be a schema number"),
        ({"version": True}, "'version' must be a schema number"),
        ({"version": 0}, "'version' must be a schema number"),
        ({"version": WORKER_VERSION + 1}, "written by a newer isollm"),
    ],
)
def test_malformed_worker_documents_name_the_field(change: dict[str, Any], needle: str) -> None:
    data = full_worker().to_dict() | change
    with pytest.raises((ValueError, TypeError), match=needle):
        WorkerState.from_dict(data)


def test_a_document_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(TypeError, match="must be a JSON object"):
        Session.from_dict([1, 2])


def test_bool_is_not_accepted_as_a_pid() -> None:
    data = Session(pid=1, project_root="/r").to_dict() | {"pid": True}
    with pytest.raises(TypeError, match="'pid'"):
        Session.from_dict(data)


def test_registered_migrations_bring_old_files_up_to_date(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hook: bump the version, register a step, and old files still load."""
    old = full_worker().to_dict() | {"version": 1}
    del old["sandbox_id"]
    old["container_id"] = "ctr-9"  # the shape version 1 had in this story

    def v1_to_v2(d: dict[str, Any]) -> dict[str, Any]:
        d["sandbox_id"] = d.pop("container_id")
        d["version"] = 2
        return d

    monkeypatch.setattr(model, "WORKER_VERSION", 2)
    with pytest.raises(ValueError, match="no migration"):
        WorkerState.from_dict(old)
    monkeypatch.setitem(model.WORKER_MIGRATIONS, 1, v1_to_v2)
    assert WorkerState.from_dict(old).sandbox_id == "ctr-9"
    assert WorkerState.from_dict(old).to_dict()["version"] == 2


def test_migrate_refuses_an_old_version_without_a_step() -> None:
    with pytest.raises(ValueError, match="schema 1 is too old and has no migration"):
        model.migrate({"version": 1}, 3, {})


def test_migrate_runs_every_step_in_order() -> None:
    steps = {
        1: lambda d: d | {"version": 2, "trail": ["1->2"]},
        2: lambda d: d | {"version": 3, "trail": [*d["trail"], "2->3"]},
    }
    assert model.migrate({"version": 1}, 3, steps)["trail"] == ["1->2", "2->3"]


def test_migrate_leaves_a_current_document_alone() -> None:
    data = {"version": 3, "x": 1}
    assert model.migrate(data, 3, {}) == data
