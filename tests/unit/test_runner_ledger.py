"""The run ledger: append, replay, crash damage at the tail, corruption elsewhere."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isollm.errors import StateError
from isollm.runner import ledger
from isollm.runner.ledger import LedgerBusyError, LedgerCorruptError, LedgerWriter
from isollm.runner.view import EventType, Phase

RUN = "20261121-190512-ab12"
TS = "2026-11-21T19:05:12.000000Z"


def encode_all(events: list[tuple[str, dict[str, Any]]]) -> bytes:
    return b"".join(
        ledger.encode(seq, RUN, kind, ts=TS, **fields)
        for seq, (kind, fields) in enumerate(events, 1)
    )


def replay_bytes(data: bytes, chunk_size: int = ledger.CHUNK_SIZE) -> ledger.Replay:
    return ledger.replay_stream(io.BytesIO(data), chunk_size=chunk_size)


TASK_EVENTS = st.sampled_from(
    [
        ("task.claimed", {"worker": "w1"}),
        ("sandbox.ready", {}),
        ("agent.started", {}),
        ("agent.finished", {"exit": 0}),
        ("agent.finished", {"exit": 2}),
        ("task.committed", {"sha": "a" * 40}),
        ("task.pushed", {"sha": "b" * 40, "branch": "isollm/t"}),
        ("task.done", {"end": True}),
        ("task.failed", {"reason": "tests failed", "end": True}),
        ("task.blocked", {"reason": "needs a human"}),
        ("receipt.written", {"path": "receipts/x-1.json"}),
        ("some.future.event", {"note": "ünïcode ✓"}),
    ]
)


@st.composite
def event_lists(draw: st.DrawFn) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = [("run.started", {"workers": 2})]
    for _ in range(draw(st.integers(0, 25))):
        kind, fields = draw(TASK_EVENTS)
        task = draw(st.sampled_from(["ar-0001", "ar-0002", "ar-0003"]))
        attempt = draw(st.integers(1, 3))
        ik = f"ik:{task}-{attempt}"
        events.append((kind, {**fields, "task": task, "attempt": attempt, "ik": ik}))
    return events


@settings(max_examples=300, deadline=None)
@given(events=event_lists(), data=st.data())
def test_any_prefix_replays_to_the_complete_events_before_the_cut(
    events: list[tuple[str, dict[str, Any]]], data: st.DataObject
) -> None:
    stream = encode_all(events)
    cut = data.draw(st.integers(0, len(stream)), label="cut")
    chunk = data.draw(st.sampled_from([1, 7, 64, ledger.CHUNK_SIZE]), label="chunk")
    boundary = stream.rfind(b"\n", 0, cut) + 1  # end of the last complete line before the cut
    complete = stream[:boundary].count(b"\n")

    replayed = replay_bytes(stream[:cut], chunk)

    expected = replay_bytes(encode_all(events[:complete]))
    assert replayed.view == expected.view
    assert replayed.view.last_seq == complete
    assert replayed.end_offset == boundary
    if cut == boundary:
        assert replayed.damage is None
    else:
        assert replayed.damage is not None
        assert replayed.damage.kind == "truncated"
        assert (replayed.damage.offset, replayed.damage.length) == (boundary, cut - boundary)
        assert replayed.damage.line == complete + 1


@settings(max_examples=100, deadline=None)
@given(events=event_lists())
def test_latest_phase_per_task_matches_a_simple_model(
    events: list[tuple[str, dict[str, Any]]],
) -> None:
    phases = {
        "task.claimed": Phase.CLAIMED,
        "sandbox.ready": Phase.SANDBOX_READY,
        "agent.started": Phase.AGENT_STARTED,
        "agent.finished": Phase.AGENT_FINISHED,
        "task.committed": Phase.COMMITTED,
        "task.pushed": Phase.PUSHED,
        "task.done": Phase.DONE,
        "task.failed": Phase.FAILED,
        "task.blocked": Phase.BLOCKED,
    }
    model: dict[str, Phase] = {}
    for kind, fields in events:
        if kind in phases:
            model[fields["task"]] = phases[kind]

    view = replay_bytes(encode_all(events)).view

    assert {t: v.phase for t, v in view.tasks.items() if t in model} == model
    assert view.unknown_events == sum(1 for kind, _ in events if kind == "some.future.event")


def test_a_corrupt_last_line_is_ignored_and_reported() -> None:
    good = encode_all([("run.started", {}), ("task.claimed", {"task": "ar-0001"})])

    replayed = replay_bytes(good + b'{"seq": 3, "ty\x00\x00\n')

    assert replayed.view.last_seq == 2
    assert replayed.end_offset == len(good)
    assert replayed.damage is not None
    assert replayed.damage.kind == "corrupt"
    assert replayed.damage.line == 3
    assert "not valid JSON" in replayed.damage.describe()


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (b"garbage\n", "not valid JSON"),
        (b"[1, 2]\n", "not a JSON object"),
        (b'{"seq": 2}\n', "no 'type' field"),
        (b'{"seq": 7, "type": "x"}\n', "sequence number 7 where 2 was expected"),
        (b'{"seq": 2, "type": "x", "task": 5}\n', "'task' is not a string"),
    ],
)
def test_damage_before_the_last_line_is_an_error_naming_the_line(bad: bytes, reason: str) -> None:
    head = encode_all([("run.started", {})])
    tail = ledger.encode(3, RUN, "task.done", ts=TS, task="ar-0001")

    with pytest.raises(LedgerCorruptError) as caught:
        replay_bytes(head + bad + tail)

    message = str(caught.value)
    assert "line 2" in message
    assert f"byte {len(head)}" in message
    assert reason in message
    assert "hint:" in message


def test_a_corrupt_line_followed_by_a_torn_tail_is_an_error() -> None:
    head = encode_all([("run.started", {})])
    with pytest.raises(LedgerCorruptError, match="line 2"):
        replay_bytes(head + b"garbage\n" + b'{"seq": 3')


def test_a_repeated_line_is_corruption() -> None:
    lines = encode_all([("run.started", {}), ("task.claimed", {"task": "ar-0001"})])
    first = lines[: lines.index(b"\n") + 1]
    with pytest.raises(LedgerCorruptError, match="sequence number 1 where 2"):
        replay_bytes(first + first + first)


def test_events_of_another_run_are_corruption() -> None:
    head = encode_all([("run.started", {})])
    alien = ledger.encode(2, "other-run", "run.resumed", ts=TS)
    tail = ledger.encode(3, RUN, "run.finished", ts=TS, status="completed")
    with pytest.raises(LedgerCorruptError, match="other-run"):
        replay_bytes(head + alien + tail)


def test_a_ledger_from_a_newer_isollm_is_refused() -> None:
    newer = ledger.encode(1, RUN, EventType.LEDGER_OPENED, ts=TS, format=ledger.FORMAT + 1)
    with pytest.raises(StateError, match="newer isollm"):
        replay_bytes(newer)


def test_a_missing_or_unreadable_ledger_says_so(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="does not exist"):
        ledger.replay(tmp_path / "events.ndjson")
    (tmp_path / "dir.ndjson").mkdir()
    with pytest.raises(StateError, match="cannot read the run ledger"):
        ledger.replay(tmp_path / "dir.ndjson")


def test_event_data_cannot_override_the_envelope() -> None:
    with pytest.raises(ValueError, match="reserved"):
        ledger.encode(1, RUN, "task.done", run="another-run")


def test_lines_are_compact_json_with_the_envelope_first() -> None:
    line = ledger.encode(4, RUN, "task.pushed", ts=TS, task="ar-0001", attempt=2, sha="c" * 40)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert list(orjson.loads(line)) == ["seq", "ts", "run", "type", "task", "attempt", "sha"]
    assert b" " not in line


# -- the writer ------------------------------------------------------------------------------


def test_the_writer_appends_durable_numbered_events(tmp_path: Path) -> None:
    path = tmp_path / "run" / "events.ndjson"
    with LedgerWriter.open(path, RUN)[0] as writer:
        writer.append("run.started", workers=2, agent="command")
        seq = writer.append("task.claimed", task="ar-0001", attempt=1, worker="w1")
        writer.append("task.done", task="ar-0001", attempt=1, ik="ik:x", end=True)

    assert seq == 3
    replayed = ledger.replay(path)
    assert replayed.damage is None
    assert replayed.view.run_id == RUN
    assert replayed.view.last_seq == 4
    assert replayed.view.tasks["ar-0001"].phase is Phase.DONE
    assert replayed.view.completed_keys == {"ik:x"}
    opened = replayed.view.run_events[0]
    assert opened["type"] == "ledger.opened"
    assert opened["format"] == ledger.FORMAT
    assert opened["repaired"] is None
    assert path.stat().st_mode & 0o777 == 0o600


def test_reopening_continues_the_sequence(tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    with LedgerWriter.open(path, RUN)[0] as writer:
        writer.append("run.started")
    writer, replayed = LedgerWriter.open(path, RUN)
    with writer:
        assert replayed.view.last_seq == 2
        assert writer.append("run.resumed") == 4  # 3 is this open's ledger.opened
    assert ledger.replay(path).view.last_seq == 4


@pytest.mark.parametrize("tail", [b'{"seq": 3, "ts": "20', b"\x00\x00\x00\x00", b"{oops}\n"])
def test_opening_cuts_off_a_damaged_tail_and_records_it(tmp_path: Path, tail: bytes) -> None:
    path = tmp_path / "events.ndjson"
    with LedgerWriter.open(path, RUN)[0] as writer:
        writer.append("run.started")
    intact = path.read_bytes()
    with path.open("ab") as f:
        f.write(tail)

    writer, replayed = LedgerWriter.open(path, RUN)
    with writer:
        writer.append("run.resumed")

    assert replayed.damage is not None
    assert path.read_bytes().startswith(intact)
    after = ledger.replay(path)
    assert after.damage is None
    assert after.view.last_seq == 4
    assert "ignored" in after.view.run_events[2]["repaired"]


def test_only_one_writer_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    with LedgerWriter.open(path, RUN)[0], pytest.raises(LedgerBusyError, match="another process"):
        LedgerWriter.open(path, RUN)
    LedgerWriter.open(path, RUN)[0].close()  # free again once closed


def test_a_ledger_belongs_to_one_run(tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    LedgerWriter.open(path, RUN)[0].close()
    with pytest.raises(StateError, match=f"ledger of run {RUN}"):
        LedgerWriter.open(path, "20261121-190513-ffff")


def test_concurrent_appenders_share_syncs_and_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    seqs: list[int] = []
    writer = LedgerWriter.open(path, RUN)[0]

    def work(worker: int) -> None:
        for i in range(50):
            seqs.append(writer.append("task.claimed", task=f"ar-{worker}{i:03d}", attempt=1))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.close()

    assert sorted(seqs) == list(range(2, 302))
    view = ledger.replay(path).view
    assert view.last_seq == 301
    assert len(view.tasks) == 300


def test_unsynced_appends_become_durable_on_sync(tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    with LedgerWriter.open(path, RUN)[0] as writer:
        for i in range(10):
            writer.append("task.claimed", task=f"ar-{i:04d}", sync=False)
        writer.sync()
        assert ledger.replay(path).view.last_seq == 11


def test_a_closed_writer_refuses_to_append(tmp_path: Path) -> None:
    writer = LedgerWriter.open(tmp_path / "events.ndjson", RUN)[0]
    writer.close()
    writer.close()  # closing twice is harmless
    with pytest.raises(ValueError, match="closed"):
        writer.append("run.finished")


def test_a_failed_append_leaves_no_torn_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "events.ndjson"
    writer = LedgerWriter.open(path, RUN)[0]
    real_write = os.write

    def half_then_full(fd: int, data: Any) -> int:
        if len(data) > 100 and fd == writer._fd:
            real_write(fd, bytes(data[: len(data) // 2]))
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(StateError, match="No space left"):
        writer.append("task.claimed", task="ar-0001", note="x" * 200)
    monkeypatch.undo()

    writer.append("task.claimed", task="ar-0002")
    writer.close()
    replayed = ledger.replay(path)
    assert replayed.damage is None
    assert list(replayed.view.tasks) == ["ar-0002"]
    assert replayed.view.last_seq == 2
