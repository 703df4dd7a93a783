"""Secrets are masked at write time: the registry, streamed output split anywhere, and
every writer (ledger, receipts and other records, crash logs)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isollm import redaction
from isollm.agents import envvars
from isollm.cli import main
from isollm.runner import ledger, receipts, records
from isollm.runner.layout import RunPaths

KEY = "sk-ant-api03-Zx9Zx9Zx9Zx9Zx9Zx9"
TOKEN = "ayr_0123456789abcdef"


@pytest.fixture(autouse=True)
def registry() -> Iterator[None]:
    redaction.forget_all()
    redaction.register(KEY, TOKEN, "short")
    yield
    redaction.forget_all()


def test_short_values_are_not_registered_and_longer_ones_are_masked_whole() -> None:
    redaction.register("sk-ant-api03")  # a prefix of KEY: KEY is still masked whole
    assert "short" not in redaction.registered()
    assert redaction.redact(f"a {KEY} b {TOKEN} short") == "a [redacted] b [redacted] short"


def test_an_agent_env_registers_every_secret_it_holds() -> None:
    redaction.forget_all()
    env = envvars.build({"OPENAI_API_KEY": KEY, "PATH": "/usr/bin"}, passthrough=["OPENAI_API_KEY"])
    assert env["OPENAI_API_KEY"] == KEY
    assert redaction.registered() == (KEY,)


@given(
    before=st.binary(max_size=300),
    after=st.binary(max_size=300),
    cuts=st.lists(st.integers(min_value=0, max_value=700), max_size=8),
)
def test_a_stream_split_anywhere_never_lets_a_secret_through(
    before: bytes, after: bytes, cuts: list[int]
) -> None:
    data = before + KEY.encode() + after + TOKEN.encode() + KEY.encode()[:10]
    stream = redaction.StreamRedactor()
    edges = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    out = b"".join(stream.feed(data[a:b]) for a, b in itertools.pairwise(edges))
    out += stream.flush()
    assert out == redaction.redact_bytes(data)
    assert KEY.encode() not in out
    assert TOKEN.encode() not in out


def test_a_stream_with_nothing_registered_passes_through() -> None:
    redaction.forget_all()
    stream = redaction.StreamRedactor()
    assert stream.feed(b"abc") == b"abc"
    assert stream.flush() == b""


def test_ledger_events_are_redacted_as_they_are_encoded() -> None:
    line = ledger.encode(1, "r1", "task.failed", reason=f"401 for {KEY}", extra=[{"k": TOKEN}])
    event = json.loads(line)
    assert event["reason"] == "401 for [redacted]"
    assert event["extra"] == [{"k": "[redacted]"}]


def test_receipts_are_redacted_when_written(tmp_path: Path) -> None:
    paths = RunPaths.of(tmp_path, "r1")
    receipt = receipts.Receipt(
        run_id="r1", task_id="ar-1", attempt=1, outcome="failed", worker="w1",
        agent="claude", branch="isollm/ar-1", base_commit="0" * 40, started="s", ended="e",
        duration_s=1.0, log_path="logs/ar-1-1.log", reason=f"the agent failed: {KEY}",
        files_changed=[f"leak-{TOKEN}.txt"],
    )  # fmt: skip
    path = receipts.write_receipt(paths, receipt)
    text = path.read_text()
    assert KEY not in text
    assert TOKEN not in text
    assert receipts.load_receipt(path).reason == "the agent failed: [redacted]"


def test_any_record_is_redacted_when_written(tmp_path: Path) -> None:
    records.write(tmp_path / "r.json", receipts.Receipts([], [f"problem {KEY}"]))
    assert KEY not in (tmp_path / "r.json").read_text()


def test_a_crash_log_is_redacted() -> None:
    path = main.write_crash_log(RuntimeError(f"request failed with key {KEY}"))
    text = path.read_text()
    assert KEY not in text
    assert "request failed with key [redacted]" in text
