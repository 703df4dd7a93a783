"""The one event vocabulary (runner.events.STEPS): progress and the replayed view are
derived from ledger events, and ledgers written before it replay the same."""

from __future__ import annotations

import shutil
from pathlib import Path

from isollm.runner.events import RUN_EVENTS, STEPS, EventType, Kind, Phase, Progress
from isollm.runner.ledger import LedgerWriter, replay
from isollm.runner.steps import Recorder

FIXTURES = Path(__file__).parent / "fixtures"
# Written by the runner before the vocabulary (review.finished was a bare string then).
OLD_LEDGER = FIXTURES / "ledger_before_vocabulary.ndjson"
RUN = "20261121-190512-ab12"


def test_every_event_type_is_in_the_table_or_a_run_event() -> None:
    assert set(EventType) == set(STEPS) | RUN_EVENTS
    assert not set(STEPS) & RUN_EVENTS


def test_progress_only_events_are_the_ones_not_synced() -> None:
    lazy = {e for e, s in STEPS.items() if not s.durable}
    assert lazy == {
        EventType.SANDBOX_READY,
        EventType.AGENT_STARTED,
        EventType.AGENT_FINISHED,
        EventType.AGENT_STALLED,
        EventType.TASK_COMMITTED,
        EventType.TASK_PUSHED,
        EventType.RECEIPT_WRITTEN,
        EventType.REVIEW_FINISHED,
    }


def test_an_old_ledger_replays_with_review_verdicts_known(tmp_path: Path) -> None:
    view = replay(OLD_LEDGER).view
    assert view.unknown_events == 0  # the old reader counted the two verdicts as unknown
    task = view.tasks["ar-1a2b"]
    assert (task.phase, task.attempt, task.pushed) == (Phase.DONE, 2, "2" * 40)
    assert task.reviews == ("changes", "approve")
    assert [f.attempt for f in task.failures] == [1]
    assert task.receipts == ("receipts/ar-1a2b-1.json", "receipts/ar-1a2b-2.json")
    assert view.tasks["ar-3c4d"].phase is Phase.RELEASED
    assert view.status == "aborted"


def test_an_old_ledger_can_be_appended_to_and_replayed(tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    shutil.copy(OLD_LEDGER, path)
    writer, replayed = LedgerWriter.open(path, RUN)
    seen: list[Progress] = []
    with writer:
        Recorder(writer, seen.append, "w1").record(
            EventType.REVIEW_FINISHED, "ar-3c4d", title="t", attempt=2, round=1, verdict="approve"
        )
    view = replay(path).view
    assert view.last_seq == replayed.view.last_seq + 2  # ledger.opened, then ours
    assert view.tasks["ar-3c4d"].reviews == ("approve",)
    assert [(p.kind, p.detail) for p in seen] == [(Kind.REVIEWED, "round 1: approve")]


def test_one_call_records_the_event_and_derives_its_progress(tmp_path: Path) -> None:
    writer, _ = LedgerWriter.open(tmp_path / "events.ndjson", RUN)
    seen: list[Progress] = []
    rec = Recorder(writer, seen.append, "w2")
    with writer:
        rec.record(EventType.TASK_CLAIMED, "ar-1", title="T", attempt=3, worker="w2")
        rec.record(EventType.TASK_PUSHED, "ar-1", attempt=3, sha="f" * 40, branch="b")
        rec.record(EventType.RECEIPT_WRITTEN, "ar-1", attempt=3, path="r.json")
        rec.record(EventType.TASK_DONE, "ar-1", attempt=3, show=False)
    assert [(p.kind, p.worker, p.detail) for p in seen] == [
        (Kind.CLAIMED, "w2", "attempt 3"),
        (Kind.PUSHED, "w2", f"b at {'f' * 10}"),
    ]
    assert replay(tmp_path / "events.ndjson").view.tasks["ar-1"].phase is Phase.DONE


def test_every_shown_step_renders_from_its_facts() -> None:
    for step in STEPS.values():
        if step.kind is not None:
            assert isinstance(step.detail({"attempt": 1}), str)


def test_a_stall_is_recorded_shown_and_counted_without_moving_the_phase(tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    writer, _ = LedgerWriter.open(path, RUN)
    seen: list[Progress] = []
    with writer:
        rec = Recorder(writer, seen.append, "w1")
        rec.record(EventType.TASK_CLAIMED, "ar-1", title="t", attempt=1)
        rec.record(EventType.AGENT_STARTED, "ar-1", title="t", attempt=1, agent="c", role="agent")
        rec.record(
            EventType.AGENT_STALLED,
            "ar-1",
            title="t",
            attempt=1,
            idle=300,
            last="Bash(x)",
            action="stop",
        )
    task = replay(path).view.tasks["ar-1"]
    assert (task.phase, task.stalls) == (Phase.AGENT_STARTED, 1)
    assert seen[-1].kind is Kind.STALLED
    assert seen[-1].detail == "no activity for 300 s (last: Bash(x)); stopping it"
