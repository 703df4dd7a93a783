"""Receipts: one atomic JSON per task attempt, and the attempt's log."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from isollm.errors import StateError
from isollm.runner import receipts
from isollm.runner.layout import RunPaths
from isollm.runner.receipts import Receipt
from tests.runner_helpers import RUN, make_receipt


@pytest.fixture
def paths(tmp_path: Path) -> RunPaths:
    return RunPaths.of(tmp_path, RUN)


def make(paths: RunPaths, task: str = "ar-0001", attempt: int = 1, **fields: Any) -> Receipt:
    defaults: dict[str, Any] = {
        "head_commit": "b" * 40,
        "files_changed": ["src/app.py", "tests/test_app.py"],
        "exit_code": 0,
        "log_path": receipts.log_path(paths, task, attempt),
    }
    return make_receipt(task, attempt, **{**defaults, **fields})


def test_a_receipt_is_written_where_its_attempt_says_and_reads_back(paths: RunPaths) -> None:
    receipt = make(paths, tokens_in=1200, tokens_out=300, cost_usd=0.04)

    path = receipts.write_receipt(paths, receipt)

    assert path == paths.dir / "receipts" / "ar-0001-1.json"
    assert receipts.load_receipt(path) == receipt
    data = json.loads(path.read_text())
    assert data["log_path"] == "logs/ar-0001-1.log"
    assert data["format"] == receipts.FORMAT
    assert receipt.tokens == 1500
    assert path.stat().st_mode & 0o777 == 0o600


def test_tokens_are_unknown_unless_reported(paths: RunPaths) -> None:
    assert make(paths).tokens is None
    assert make(paths, tokens_out=7).tokens == 7


def test_a_failed_rewrite_leaves_the_old_receipt_whole(
    paths: RunPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = make(paths)
    path = receipts.write_receipt(paths, first)

    def crash(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="No space"):
        receipts.write_receipt(paths, make(paths, outcome="failed", reason="disk full"))

    assert receipts.load_receipt(path) == first
    assert sorted(p.name for p in path.parent.iterdir()) == ["ar-0001-1.json"]


def test_receipts_are_listed_by_task_and_attempt_with_unreadable_ones_named(
    paths: RunPaths,
) -> None:
    for task, attempt in [("ar-0002", 1), ("ar-0001", 2), ("ar-0001", 1)]:
        receipts.write_receipt(paths, make(paths, task, attempt))
    (paths.receipts / "ar-0003-1.json").write_text("{not json")

    found = receipts.load_receipts(paths)

    assert [(r.task_id, r.attempt) for r in found.receipts] == [
        ("ar-0001", 1),
        ("ar-0001", 2),
        ("ar-0002", 1),
    ]
    assert len(found.problems) == 1
    assert "ar-0003-1.json is not valid JSON" in found.problems[0]


def test_a_run_without_receipts_has_none(paths: RunPaths) -> None:
    assert receipts.load_receipts(paths) == receipts.Receipts([], [])


def test_a_receipt_with_a_bad_field_names_it(paths: RunPaths) -> None:
    path = receipts.write_receipt(paths, make(paths))
    data = json.loads(path.read_text())
    data.update(outcome="exploded", duration_s="long")
    path.write_text(json.dumps(data))
    with pytest.raises(StateError) as caught:
        receipts.load_receipt(path)
    assert "outcome: must be one of" in str(caught.value)
    assert "duration_s: expected a number" in str(caught.value)


def test_a_receipt_from_a_newer_isollm_is_refused(paths: RunPaths) -> None:
    path = receipts.write_receipt(paths, make(paths))
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "format": receipts.FORMAT + 1}))
    with pytest.raises(StateError, match="newer isollm"):
        receipts.load_receipt(path)


def test_a_receipt_goes_to_its_own_run(paths: RunPaths, tmp_path: Path) -> None:
    other = RunPaths.of(tmp_path, "20261121-190513-0000")
    with pytest.raises(ValueError, match="written to run"):
        receipts.write_receipt(other, make(paths))


@pytest.mark.parametrize("task", ["../escape", ".hidden", "a/b", ""])
def test_task_ids_that_are_not_file_names_are_refused(paths: RunPaths, task: str) -> None:
    with pytest.raises(StateError, match="cannot be used in a file name"):
        paths.receipt(task, 1)


def test_the_log_is_appended_to_across_opens(paths: RunPaths) -> None:
    with receipts.open_log(paths, "ar-0001", 1) as log:
        log.write(b"first\n")
    with receipts.open_log(paths, "ar-0001", 1) as log:
        log.write(b"second\n")
    log_file = paths.dir / receipts.log_path(paths, "ar-0001", 1)
    assert log_file.read_bytes() == b"first\nsecond\n"
    assert log_file.stat().st_mode & 0o777 == 0o600
