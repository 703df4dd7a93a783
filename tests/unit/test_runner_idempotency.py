"""Idempotency keys: canonical JSON, stable across processes, checked against the ledger."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isollm.runner import idempotency as ik
from isollm.runner.idempotency import Decision
from tests.runner_helpers import fold

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def test_canonical_json_sorts_keys_at_every_level_without_whitespace() -> None:
    value = {"b": [1, {"z": None, "a": True}], "a": "é✓"}
    assert ik.canonical_json(value) == '{"a":"é✓","b":[1,{"a":true,"z":null}]}'.encode()


@given(JSON)
def test_canonical_json_round_trips(value: Any) -> None:
    assert json.loads(ik.canonical_json(value)) == value


@given(st.dictionaries(st.text(), JSON, min_size=1, max_size=6), st.randoms())
def test_key_order_does_not_change_the_digest(mapping: dict[str, Any], rnd: Any) -> None:
    items = list(mapping.items())
    rnd.shuffle(items)
    assert ik.digest(dict(items)) == ik.digest(mapping)


def test_a_key_is_the_sha256_of_the_canonical_command() -> None:
    canonical = b'{"inputs":{"attempt":1,"run_id":"r1","task_id":"ar-0001"},"kind":"task.execute"}'
    expected = "ik:" + hashlib.sha256(canonical).hexdigest()
    assert ik.key("task.execute", "r1", "ar-0001", 1) == expected
    assert ik.execute_key("r1", "ar-0001", 1) == expected
    assert ik.is_key(expected)


def test_every_input_changes_the_key() -> None:
    base = ik.execute_key("r1", "ar-0001", 1)
    others = {
        ik.execute_key("r2", "ar-0001", 1),
        ik.execute_key("r1", "ar-0002", 1),
        ik.execute_key("r1", "ar-0001", 2),
        ik.release_key("r1", "ar-0001", 1),
    }
    assert base not in others
    assert len(others) == 4


def test_keys_are_the_same_in_another_process_whatever_its_hash_seed() -> None:
    here = [
        ik.execute_key("r1", "ar-00é1", 3),
        ik.push_key("r1", "ar-0001", "isollm/ar-0001", "f" * 40),
        ik.complete_key("r1", "ar-0001"),
    ]
    code = (
        "from isollm.runner import idempotency as ik\n"
        "print(ik.execute_key('r1', 'ar-00é1', 3))\n"
        "print(ik.push_key('r1', 'ar-0001', 'isollm/ar-0001', 'f' * 40))\n"
        "print(ik.complete_key('r1', 'ar-0001'))\n"
    )
    for seed in ("0", "12345"):
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PYTHONIOENCODING": "utf-8"},
        )
        assert result.stdout.split() == here


def test_wrong_inputs_are_programming_errors() -> None:
    with pytest.raises(ValueError, match=r"unknown command kind 'task\.explode'"):
        ik.key("task.explode", "r1")
    with pytest.raises(TypeError, match=r"takes 3 inputs \(run_id, task_id, attempt\), got 2"):
        ik.key("task.execute", "r1", "ar-1")
    with pytest.raises(ValueError, match="JSON compliant"):
        ik.digest({"x": float("nan")})


def test_is_key_rejects_lookalikes() -> None:
    assert not ik.is_key("ik:" + "A" * 64)
    assert not ik.is_key("ik:" + "a" * 63)
    assert not ik.is_key("sha256:" + "a" * 64)


def test_decide_a_recorded_completion_is_never_run_again() -> None:
    done, running, new = (ik.execute_key("r1", t, 1) for t in ("a", "b", "c"))
    view = fold(
        ("task.claimed", {"task": "a", "ik": done}),
        ("task.done", {"task": "a", "ik": done, "end": True}),
        ("task.claimed", {"task": "b", "ik": running}),
    )
    assert ik.decide(view, done) is Decision.COMPLETED
    assert ik.decide(view, running) is Decision.IN_FLIGHT
    assert ik.decide(view, new) is Decision.NEW


@pytest.mark.parametrize(
    ("events", "decision"),
    [
        ([], Decision.NEW),
        (["task.claimed"], Decision.IN_FLIGHT),
        (["task.claimed", "task.pushed"], Decision.IN_FLIGHT),
        (["task.claimed", "task.failed"], Decision.NEW),
        (["task.claimed", "task.released"], Decision.NEW),
        (["task.claimed", "task.done"], Decision.COMPLETED),
        (["task.claimed", "task.blocked"], Decision.COMPLETED),
    ],
)
def test_task_decision_follows_the_latest_phase(events: list[str], decision: Decision) -> None:
    view = fold(*((kind, {"task": "a"}) for kind in events))
    assert ik.task_decision(view, "a") is decision
