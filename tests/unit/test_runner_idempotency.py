"""Idempotency keys: canonical JSON, stable across processes."""

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
    assert ik.execute_key("r1", "ar-0001", 1) == expected


def test_every_input_changes_the_key() -> None:
    base = ik.execute_key("r1", "ar-0001", 1)
    others = {
        ik.execute_key("r2", "ar-0001", 1),
        ik.execute_key("r1", "ar-0002", 1),
        ik.execute_key("r1", "ar-0001", 2),
    }
    assert base not in others
    assert len(others) == 3


def test_keys_are_the_same_in_another_process_whatever_its_hash_seed() -> None:
    here = [ik.execute_key("r1", "ar-00é1", 3), ik.execute_key("r1", "ar-0001", 1)]
    code = (
        "from isollm.runner import idempotency as ik\n"
        "print(ik.execute_key('r1', 'ar-00é1', 3))\n"
        "print(ik.execute_key('r1', 'ar-0001', 1))\n"
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


def test_only_json_values_have_a_digest() -> None:
    with pytest.raises(ValueError, match="JSON compliant"):
        ik.digest({"x": float("nan")})
