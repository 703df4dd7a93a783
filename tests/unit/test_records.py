"""isollm.records: the one way state files are written and read, and every state file
that goes through it (the run's, ``.isollm/``'s, a sandbox's, the uid record)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from isollm import fsutil, records, redaction
from isollm.errors import SandboxError
from isollm.records import Schema
from isollm.sandbox import identity, meta
from isollm.sandbox.base import SandboxRecord, SandboxSpec
from isollm.state import CorruptStateError, FileState, WorkerState

PLAIN = Schema("test record", 1)


def add_size(d: dict[str, Any]) -> dict[str, Any]:
    return {**d, "size": len(d.get("name", ""))}


def rename_size(d: dict[str, Any]) -> dict[str, Any]:
    d["length"] = d.pop("size")
    return d


V3 = Schema("test record", 3, {1: add_size, 2: rename_size})


def test_a_record_round_trips_with_its_version_first(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    records.write(path, {"name": "x", "version": 99}, PLAIN)  # the schema's version wins
    assert next(iter(json.loads(path.read_text()))) == "version"
    assert records.read(path, PLAIN) == {"version": 1, "name": "x"}
    assert path.stat().st_mode & 0o777 == fsutil.FILE_MODE


def test_older_versions_are_migrated_step_by_step(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text('{"version": 1, "name": "abc"}')
    assert records.read(path, V3) == {"version": 3, "name": "abc", "length": 3}


def test_a_file_from_a_newer_isollm_is_refused_saying_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text('{"version": 4}')
    with pytest.raises(records.NewerRecordError) as caught:
        records.read(path, V3)
    assert "written by a newer isollm" in caught.value.message
    assert str(path) in caught.value.message
    assert caught.value.hint is not None
    assert "upgrade isollm" in caught.value.hint


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('{"version": 1, "na', "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"name": "x"}', "'version' must be a schema number, got None"),
        ('{"version": true}', "'version' must be a schema number"),
        ('{"version": 0}', "'version' must be a schema number"),
    ],
)
def test_corruption_is_reported_naming_the_file(tmp_path: Path, text: str, why: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(text)
    with pytest.raises(records.CorruptRecordError) as caught:
        records.read(path, V3)
    assert why in caught.value.message
    assert str(path) in caught.value.message


def test_a_version_without_a_migration_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text('{"version": 1}')
    with pytest.raises(records.CorruptRecordError, match="too old and has no migration"):
        records.read(path, Schema("test record", 2))


def test_an_unversioned_file_counts_as_the_schemas_first_version(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text('{"name": "x"}')
    old = Schema("test record", 2, {1: add_size}, unversioned=1)
    assert records.read(path, old) == {"name": "x", "size": 1, "version": 2}


def test_a_missing_file_is_the_callers_to_name(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        records.read(tmp_path / "nothing.json", PLAIN)


def test_secrets_are_masked_when_written(tmp_path: Path) -> None:
    secret = "sk-test-" + "q" * 30
    redaction.register(secret)
    records.write(tmp_path / "r.json", {"note": f"key {secret}"}, PLAIN)
    assert secret not in (tmp_path / "r.json").read_text()


def test_a_failed_write_leaves_the_old_record_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "r.json"
    records.write(path, {"name": "old"}, PLAIN)

    def crash(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="No space"):
        records.write(path, {"name": "new"}, PLAIN)
    assert records.read(path, PLAIN)["name"] == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


# --- every state file goes through it ---------------------------------------------------


def test_worker_files_from_a_newer_isollm_are_refused(tmp_path: Path) -> None:
    state = FileState(tmp_path / ".isollm")
    state.save_worker(WorkerState("w1"))
    path = state.worker_path("w1")
    path.write_text(json.dumps({**json.loads(path.read_text()), "version": 99}))
    with pytest.raises(CorruptStateError, match="written by a newer isollm"):
        state.load_worker("w1")


def test_a_sandbox_record_from_a_newer_isollm_is_refused() -> None:
    spec = SandboxSpec(name="w1", project="app", hub=Path("/h/app.git"))
    record: SandboxRecord = meta.claim(spec, "overlay")
    path = record.directory / meta.RECORD_FILE
    assert json.loads(path.read_text())["version"] == meta.RECORD_VERSION
    assert meta.load("app", "w1") == record
    path.write_text(json.dumps({**json.loads(path.read_text()), "version": 99}))
    with pytest.raises(SandboxError, match="written by a newer isollm") as caught:
        meta.load("app", "w1")
    assert caught.value.hint == "upgrade isollm to use this sandbox"
    path.write_text("{")
    with pytest.raises(SandboxError, match="is unreadable: invalid JSON"):
        meta.load("app", "w1")


def test_the_sandbox_uid_record_checks_its_version() -> None:
    path = fsutil.ensure_dir(fsutil.isollm_home()) / identity.IDS_FILE
    records.write(path, {"ids": {"app": identity.ID_FIRST}}, identity.IDS_SCHEMA)
    assert identity._read(path) == {"app": identity.ID_FIRST}
    path.write_text(json.dumps({"version": 2, "ids": {}}))
    with pytest.raises(SandboxError, match="written by a newer isollm"):
        identity._read(path)
