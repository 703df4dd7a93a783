"""Pure parts of the sandboxes: git output parsing, work state, records, reconcile decisions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from isollm.errors import SandboxError
from isollm.sandbox import gitops, meta
from isollm.sandbox.base import (
    Limits,
    SandboxExistsError,
    SandboxRecord,
    SandboxSpec,
    SandboxStatus,
)
from isollm.sandbox.gitops import WorkState
from isollm.sandbox.reconcile import GONE, Observed, decide
from isollm.sandbox.workers import move, next_name, path_to
from isollm.state import TaskRef, WorkerState, WorkerStatus

S = WorkerStatus
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_status_z_records_with_renames_and_spaces() -> None:
    text = " M README.md\0R  new name.txt\0old name.txt\0?? wip/a b.txt\0D  gone.py\0"
    assert gitops.parse_status_z(text) == [
        "M README.md",
        "R new name.txt",
        "?? wip/a b.txt",
        "D gone.py",
    ]
    assert gitops.parse_status_z("") == []


def test_refs_lines() -> None:
    text = "refs/heads/main aaa\nrefs/heads/isollm/ar-1 bbb\n"
    assert gitops.parse_refs(text) == {"refs/heads/main": "aaa", "refs/heads/isollm/ar-1": "bbb"}


def test_work_state_descriptions() -> None:
    assert WorkState().clean
    assert WorkState().describe() == "nothing"
    many = WorkState(uncommitted=tuple(f"?? f{i}" for i in range(7)), unpushed=(("b", 2),))
    assert not many.clean
    assert many.describe() == (
        "7 uncommitted change(s): f0, f1, f2, f3, f4 and 2 more; 2 unpushed commit(s) on b"
    )
    unknown = WorkState(unknown="lower checkout is gone")
    assert not unknown.clean
    assert "could not be checked (lower checkout is gone)" in unknown.describe()


def test_checkout_values_travel_as_arguments_never_in_the_script() -> None:
    argv = gitops.checkout_argv("isollm/x;$(rm -rf /)", "abc", "base")
    assert argv[:2] == ["sh", "-c"]
    assert argv[2] == gitops.CHECKOUT_SCRIPT
    assert argv[3:] == ["sh", "isollm/x;$(rm -rf /)", "abc", "base"]


def spec(**changes: object) -> SandboxSpec:
    values: dict[str, object] = {
        "name": "w1",
        "project": "app",
        "hub": Path("/h/app.git"),
        "work_branch": "isollm/ar-1",
        "network": "none",
        "limits": Limits("1G", 10, 0.5),
        "setup": ("npm", "ci"),
        "host_root": Path("/src/app"),
        "include": (".env",),
    }
    values.update(changes)
    return SandboxSpec(**values)  # type: ignore[arg-type]


def test_records_round_trip_through_json(tmp_path: Path) -> None:
    record = SandboxRecord("lxc", spec(), tmp_path, "abc", "overlay", ["a note"], "2026-01-01")
    again = meta.from_json(meta.to_json(record), tmp_path)
    assert again == record
    assert meta.to_json(record)["version"] == meta.RECORD_VERSION


def test_the_branch_defaults_to_the_base() -> None:
    assert spec(work_branch="").branch == "main"
    assert spec().branch == "isollm/ar-1"


@pytest.mark.parametrize("name", ["", "1abc", "a_b", "a.b", "a/b", "-a", "x" * 41, "../x"])
def test_bad_worker_names(name: str) -> None:
    with pytest.raises(SandboxError):
        meta.check_name(name)


def test_a_sandbox_name_is_claimed_once() -> None:
    meta.claim(spec(), "overlay")
    with pytest.raises(SandboxExistsError):
        meta.claim(spec(), "overlay")
    assert meta.names("app") == ["w1"]
    assert meta.load("app", "w1").spec == spec()


def test_an_unreadable_record_says_how_to_get_rid_of_it() -> None:
    meta.claim(spec(), "overlay")
    (meta.sandbox_dir("app", "w1") / meta.RECORD_FILE).write_text("{not json")
    with pytest.raises(SandboxError, match="--force"):
        meta.load("app", "w1")


def test_next_free_worker_name() -> None:
    assert next_name([]) == "worker-1"
    assert next_name(["worker-1", "worker-3"]) == "worker-2"


def test_paths_follow_the_status_machine() -> None:
    assert path_to(S.IDLE, S.STOPPED) == [S.STOPPING, S.STOPPED]
    assert path_to(S.STOPPED, S.IDLE) == [S.CREATING, S.IDLE]
    assert path_to(S.ERROR, S.IDLE) == [S.CREATING, S.IDLE]
    assert move(WorkerState("w", S.IDLE), S.IDLE).status is S.IDLE
    failed = move(WorkerState("w", S.BUSY), S.ERROR, error="boom")
    assert (failed.status, failed.last_error) == (S.ERROR, "boom")


def running(status: SandboxStatus = SandboxStatus.RUNNING) -> Observed:
    return Observed(status, "overlay")


def after(record: WorkerState | None, seen: Observed, name: str = "w") -> WorkerState:
    decided = decide(record, name, seen, NOW)
    assert decided is not None
    return decided


def test_a_sandbox_without_a_record_is_adopted() -> None:
    adopted = after(None, running(), "w9")
    assert (adopted.name, adopted.status, adopted.last_reconciled) == ("w9", S.IDLE, NOW)
    assert after(None, running(SandboxStatus.STOPPED)).status is S.STOPPED


def test_a_record_whose_sandbox_is_gone_becomes_an_error() -> None:
    busy = WorkerState("w1", S.BUSY, current_task=TaskRef("ar-1", "t"))
    gone = after(busy, Observed(SandboxStatus.MISSING))
    assert (gone.status, gone.last_error, gone.error_time) == (S.ERROR, GONE, NOW)
    later = decide(gone, "w1", Observed(SandboxStatus.MISSING), datetime(2027, 1, 1, tzinfo=UTC))
    assert later is not None
    assert later.error_time == NOW  # the same error is not stamped again


def test_leftover_containers_show_as_errors() -> None:
    leftover = after(None, Observed(SandboxStatus.MISSING, problem="a lxc container was left"))
    assert (leftover.status, leftover.last_error) == (S.ERROR, "a lxc container was left")


@pytest.mark.parametrize(
    ("recorded", "seen", "expected"),
    [
        (S.IDLE, SandboxStatus.STOPPED, S.STOPPED),
        (S.BUSY, SandboxStatus.STOPPED, S.STOPPED),
        (S.STOPPED, SandboxStatus.RUNNING, S.IDLE),
        (S.CREATING, SandboxStatus.RUNNING, S.IDLE),  # an add interrupted after the build
        (S.BUSY, SandboxStatus.RUNNING, S.BUSY),
        (S.IDLE, SandboxStatus.BROKEN, S.ERROR),
        (S.ERROR, SandboxStatus.RUNNING, S.ERROR),  # errors wait for a reset or remove
    ],
)
def test_drift_between_record_and_sandbox_is_corrected(
    recorded: WorkerStatus, seen: SandboxStatus, expected: WorkerStatus
) -> None:
    record = WorkerState("w", recorded, last_error="old" if recorded is S.ERROR else "")
    assert after(record, running(seen)).status is expected


def test_nothing_is_decided_while_a_worker_is_being_created() -> None:
    assert decide(None, "w", Observed(SandboxStatus.MISSING, in_progress=True), NOW) is None
    assert decide(None, "w", Observed(SandboxStatus.MISSING), NOW) is None
