"""Worker and Scheduler over in-memory fakes (tests/fakes.py): every path the e2e run
tests take, in milliseconds. The ledger, view, policy, gates and receipts are real."""

from __future__ import annotations

from pathlib import Path

import pytest

from isollm.errors import IsollmError
from isollm.runner import receipts
from isollm.runner.context import Shown, StartGate, StepGate, Steps
from isollm.runner.events import Kind, Phase
from isollm.runner.ledger import replay
from isollm.runner.policy import Outcome
from isollm.runner.scheduler import Scheduler
from isollm.runner.summary import RunSummary, done_counts, money, summarize
from isollm.runner.view import RunView
from isollm.runner.worker import Worker
from isollm.tasks.store.errors import ServerUnavailableError
from isollm.tasks.store.model import Status
from tests.fakes import RUN_ID, FakeWorkspace, Play, Rig, make_context, sha

DONE_STEPS = [
    "task.claimed",
    "sandbox.ready",
    "agent.started",
    "agent.finished",
    "task.committed",
    "task.pushed",
    "task.done",
    "receipt.written",
]
FAILED_STEPS = [
    "task.claimed",
    "sandbox.ready",
    "agent.started",
    "agent.finished",
    "task.failed",
    "receipt.written",
]


def worker(rig: Rig) -> tuple[Worker, FakeWorkspace]:
    ws = rig.workspace(rig.ctx, "w1")
    gate = StartGate(0, 4)
    return Worker(rig.ctx, 1, gate, Steps(StepGate(4), rig.ctx.aborting), ws), ws


def execute(rig: Rig, task_id: str = "ar-1", failures: list[str] | None = None) -> int:
    w, _ = worker(rig)
    claim = rig.tasks.claim_next(w.agent_id, 300)
    assert claim is not None
    assert claim.task.id == task_id
    return w.execute(claim, 1, [] if failures is None else failures)


def view(rig: Rig) -> RunView:
    rig.ctx.ledger.sync()
    return replay(rig.ctx.paths.ledger).view


def kinds(rig: Rig) -> list[Kind]:
    return [p.kind for p in rig.progress if p.task_id]


# --- Worker ------------------------------------------------------------------------------
def test_a_task_is_done_delivered_and_recorded_once_per_step(tmp_path: Path) -> None:
    rig = make_context(tmp_path)
    rig.tasks.add("ar-1")
    assert execute(rig) == 1
    assert rig.types("ar-1") == DONE_STEPS
    assert rig.tasks.status("ar-1") is Status.DONE
    assert rig.hub.heads["isollm/ar-1"] == view(rig).tasks["ar-1"].pushed
    assert view(rig).tasks["ar-1"].phase is Phase.DONE
    # progress is derived from the ledger's events: one line per shown step
    assert kinds(rig) == [
        Kind.CLAIMED,
        Kind.SANDBOX_READY,
        Kind.AGENT_STARTED,
        Kind.AGENT_FINISHED,
        Kind.PUSHED,
        Kind.DONE,
    ]
    done = next(p for p in rig.progress if p.kind is Kind.DONE)
    assert done.detail == "1 file(s) changed"
    assert done.title == "task ar-1"
    receipt = (rig.ctx.paths.receipts / "ar-1-1.json").read_text()
    assert '"outcome": "done"' in receipt or '"outcome":"done"' in receipt


def test_a_failed_attempt_is_retried_with_its_failure(tmp_path: Path) -> None:
    rig = make_context(tmp_path, plays=[Play(exit=1, output="no compiler"), Play()])
    rig.tasks.add("ar-1")
    failures: list[str] = []
    assert execute(rig, failures=failures) == 2
    assert rig.types("ar-1") == FAILED_STEPS + DONE_STEPS
    assert failures == ["the agent failed (exit 1): no compiler"]
    seen = view(rig).tasks["ar-1"]
    assert (seen.phase, seen.attempt, len(seen.failures)) == (Phase.DONE, 2, 1)


def test_a_task_failing_every_attempt_is_blocked_with_the_reason(tmp_path: Path) -> None:
    rig = make_context(tmp_path, plays=[Play(exit=1), Play(exit=2)], max_attempts=2)
    rig.tasks.add("ar-1")
    assert execute(rig) == 2
    assert rig.types("ar-1")[-1] == "task.blocked"
    assert rig.tasks.status("ar-1") is Status.BLOCKED
    reason = rig.tasks.tasks["ar-1"].description or ""
    assert reason.startswith("failed 2 attempt(s); last: the agent failed (exit 2)")
    assert view(rig).tasks["ar-1"].phase is Phase.BLOCKED


def test_a_resumed_task_out_of_attempts_is_blocked_without_running(tmp_path: Path) -> None:
    rig = make_context(tmp_path, max_attempts=2)
    rig.tasks.add("ar-1")
    execute(rig, failures=["one", "two"])
    assert rig.types("ar-1") == ["task.blocked"]
    assert rig.tasks.tasks["ar-1"].description == "failed 2 attempt(s); last: two"


def test_a_timed_out_agent_fails_the_attempt(tmp_path: Path) -> None:
    rig = make_context(tmp_path, plays=[Play(stop=Outcome.TIMED_OUT)], max_attempts=1)
    rig.tasks.add("ar-1")
    execute(rig)
    assert view(rig).tasks["ar-1"].failures[0].reason.startswith("the agent ran past its timeout")


def test_a_claim_lost_while_the_agent_ran_is_left_alone(tmp_path: Path) -> None:
    rig = make_context(tmp_path, plays=[Play(stop=Outcome.LOST_CLAIM)])
    rig.tasks.add("ar-1")
    assert execute(rig) == 1
    assert rig.types("ar-1") == FAILED_STEPS
    assert [a for a, _ in rig.tasks.history] == ["claim"]  # no release, block or done
    assert "the claim was lost while the agent ran" in (view(rig).tasks["ar-1"].reason or "")


def test_a_claim_lost_before_the_delivery_moves_nothing(tmp_path: Path) -> None:
    rig = make_context(tmp_path)
    rig.tasks.add("ar-1")
    rig.tasks.lose_on["ar-1"] = "heartbeat"  # the intake checks the claim right before
    assert execute(rig) == 1
    assert "isollm/ar-1" not in rig.hub.heads
    assert rig.types("ar-1")[-2] == "task.failed"
    assert [a for a, _ in rig.tasks.history] == ["claim"]


def test_a_claim_lost_between_delivery_and_done_is_not_retried(tmp_path: Path) -> None:
    rig = make_context(tmp_path)
    rig.tasks.add("ar-1")
    rig.tasks.lose_on["ar-1"] = "done"
    assert execute(rig) == 1
    assert "isollm/ar-1" in rig.hub.heads  # delivered: the next holder builds on it
    types = rig.types("ar-1")
    assert types[-3:] == ["task.pushed", "task.failed", "receipt.written"]
    assert types.count("task.claimed") == 1


def test_a_delivery_the_intake_refuses_fails_the_attempt(tmp_path: Path) -> None:
    rig = make_context(tmp_path, plays=[Play(refuse="the ref is not the task's"), Play()])
    rig.tasks.add("ar-1")
    assert execute(rig) == 2
    failure = view(rig).tasks["ar-1"].failures[0]
    assert "the ref is not the task's" in failure.reason
    assert rig.tasks.status("ar-1") is Status.DONE


def test_the_hub_not_holding_the_delivery_fails_the_attempt(tmp_path: Path) -> None:
    rig = make_context(tmp_path, max_attempts=1)
    rig.tasks.add("ar-1")
    w, ws = worker(rig)
    real = ws.deliver

    def forgetful(*args: object, **kwargs: object) -> object:
        delivery = real(*args, **kwargs)  # type: ignore[arg-type]
        rig.hub.heads.pop("isollm/ar-1")
        return delivery

    ws.deliver = forgetful  # type: ignore[method-assign]
    claim = rig.tasks.claim_next(w.agent_id, 300)
    assert claim is not None
    w.execute(claim, 1, [])
    assert "not marked done" in (view(rig).tasks["ar-1"].failures[0].reason)
    assert rig.tasks.status("ar-1") is Status.BLOCKED


def test_review_rounds_feed_changes_back_and_replay_as_known_events(tmp_path: Path) -> None:
    plays = [
        Play(),
        Play(output="needs a test\nVERDICT: CHANGES add a test", files=()),
        Play(),
        Play(output="VERDICT: APPROVE", files=()),
    ]
    rig = make_context(tmp_path, plays=plays, review=True, max_review_rounds=3)
    rig.tasks.add("ar-1")
    assert execute(rig) == 1
    seen = view(rig)
    assert seen.tasks["ar-1"].reviews == ("changes", "approve")
    assert seen.unknown_events == 0
    assert seen.tasks["ar-1"].phase is Phase.DONE
    reviewed = [p.detail for p in rig.progress if p.kind is Kind.REVIEWED]
    assert reviewed == ["round 1: changes", "round 2: approve"]
    assert rig.types("ar-1").count("task.committed") == 2


def test_review_rounds_stop_at_the_limit_and_deliver(tmp_path: Path) -> None:
    plays = [Play(), Play(output="VERDICT: CHANGES more", files=())] * 2
    rig = make_context(tmp_path, plays=plays, review=True, max_review_rounds=2)
    rig.tasks.add("ar-1")
    execute(rig)
    assert view(rig).tasks["ar-1"].reviews == ("changes", "changes")
    assert rig.tasks.status("ar-1") is Status.DONE


# --- Scheduler ---------------------------------------------------------------------------
def schedule(rig: Rig) -> Scheduler:
    return Scheduler(rig.ctx, RunView(), rig.workspace)


def test_the_scheduler_runs_every_task_in_dependency_order(tmp_path: Path) -> None:
    rig = make_context(tmp_path, workers=2)
    rig.tasks.add("ar-1")
    rig.tasks.add("ar-2", after=["ar-1"])
    rig.tasks.add("ar-3")
    tally = schedule(rig).run()
    assert tally.claimed == 3
    assert tally.errors == []
    done = [t for a, t in rig.tasks.history if a == "done"]
    assert sorted(done) == ["ar-1", "ar-2", "ar-3"]
    assert done.index("ar-1") < done.index("ar-2")
    assert all(ws.finished for ws in rig.workspaces)
    assert "enter isollm/ar-2" in rig.workspaces[0].log + rig.workspaces[1].log


def test_ctrl_c_once_finishes_the_running_task_and_claims_no_more(tmp_path: Path) -> None:
    rig = make_context(tmp_path)
    scheduler = schedule(rig)
    rig.plays.append(Play(meanwhile=scheduler.stop))
    rig.tasks.add("ar-1")
    rig.tasks.add("ar-2")
    tally = scheduler.run()
    assert tally.claimed == 1
    assert rig.tasks.status("ar-1") is Status.DONE
    assert rig.tasks.status("ar-2") is Status.OPEN
    assert any(p.kind is Kind.STOPPING for p in rig.progress)


def test_ctrl_c_once_gives_back_a_task_waiting_for_its_retry(tmp_path: Path) -> None:
    rig = make_context(tmp_path, backoff_seconds=30.0)
    scheduler = schedule(rig)
    rig.plays.append(Play(exit=1, meanwhile=scheduler.stop))
    rig.tasks.add("ar-1")
    scheduler.run()
    assert rig.tasks.status("ar-1") is Status.OPEN
    assert view(rig).tasks["ar-1"].reason == "the run was stopped before the next attempt"


def test_ctrl_c_twice_stops_the_agent_and_gives_the_task_back(tmp_path: Path) -> None:
    rig = make_context(tmp_path)
    scheduler = schedule(rig)
    rig.plays.append(Play(until_aborted=True, meanwhile=scheduler.abort))
    rig.tasks.add("ar-1")
    scheduler.run()
    assert rig.tasks.status("ar-1") is Status.OPEN
    seen = view(rig).tasks["ar-1"]
    assert (seen.phase, seen.reason) == (Phase.RELEASED, "the run was interrupted")
    assert "task.released" in rig.types("ar-1")


def test_an_isollm_error_a_worker_cannot_put_on_a_task_fails_the_run(tmp_path: Path) -> None:
    rig = make_context(tmp_path)
    rig.tasks.add("ar-1")
    rig.tasks.claim_error = IsollmError("the task server is gone")
    tally = schedule(rig).run()
    assert tally.errors == ["w1: the task server is gone"]
    assert rig.ctx.aborting.is_set()
    assert all(ws.finished for ws in rig.workspaces)


def test_a_foreign_exception_outside_an_attempt_fails_the_run_never_the_thread(
    tmp_path: Path,
) -> None:
    """Issue #12: an exception that is not isollm's own used to kill the worker's thread
    and leave the run `completed`; now it is the run's error (a crash to log)."""
    rig = make_context(tmp_path)
    rig.tasks.add("ar-1")
    rig.tasks.claim_error = RuntimeError("a bug")
    scheduler = schedule(rig)
    scheduler._loop(scheduler.workers[0])  # does not raise
    assert scheduler.tally.errors == ["w1: unexpected RuntimeError: a bug"]
    assert [str(e) for e in scheduler.tally.crashes] == ["a bug"]
    assert rig.ctx.aborting.is_set()
    assert rig.workspaces[0].finished  # the sandbox is still cleaned up


def test_an_exception_inside_an_attempt_fails_that_attempt_and_is_recorded(
    tmp_path: Path,
) -> None:
    def nul_title() -> None:
        raise ValueError("embedded null byte")

    rig = make_context(tmp_path, plays=[Play(meanwhile=nul_title), Play()])
    rig.tasks.add("ar-1")
    tally = schedule(rig).run()
    assert tally.errors == []
    assert tally.crashes == []
    assert rig.tasks.status("ar-1") is Status.DONE  # retried per the policy, then done
    failed = [e for e in rig.events() if e["type"] == "task.failed" and e.get("task") == "ar-1"]
    assert "ValueError: embedded null byte" in failed[0]["reason"]
    log = rig.ctx.paths.log("ar-1", 1).read_text()
    assert "Traceback" in log
    assert "embedded null byte" in log


def test_an_error_after_the_attempt_gives_the_task_back_and_fails_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("isollm.runner.receipts.write_receipt", disk_full)
    rig = make_context(tmp_path, max_attempts=1, plays=[Play(exit=1)])
    rig.tasks.add("ar-1")
    rig.tasks.add("ar-2")
    tally = schedule(rig).run()
    assert tally.errors
    assert "the disk is full (No space left on device)" in tally.errors[0]
    assert tally.crashes == []  # a full disk is not a bug: no crash log
    assert rig.tasks.status("ar-1") is Status.OPEN  # given back, not stranded in progress
    assert rig.tasks.status("ar-2") is Status.OPEN  # never claimed: the run stopped


def test_a_broken_progress_display_never_stops_the_work(tmp_path: Path) -> None:
    rig = make_context(tmp_path)
    calls = 0

    def closed_pipe(_: object) -> None:
        nonlocal calls
        calls += 1
        raise BrokenPipeError(32, "Broken pipe")

    rig.ctx.observer = Shown(closed_pipe)
    rig.tasks.add("ar-1")
    rig.tasks.add("ar-2")
    tally = schedule(rig).run()
    assert tally.errors == []
    assert rig.tasks.status("ar-1") is rig.tasks.status("ar-2") is Status.DONE
    assert calls == 1  # the display stopped at the first error
    assert view(rig).tasks["ar-2"].phase is Phase.DONE  # the ledger has every step


def test_ctrl_c_messages_say_what_happens(tmp_path: Path) -> None:
    rig = make_context(tmp_path)
    scheduler = schedule(rig)
    scheduler.stop()
    scheduler.abort()
    scheduler.abort()  # a third press adds nothing
    said = [p.detail for p in rig.progress if p.kind is Kind.STOPPING]
    assert said == [
        "finishing running tasks, Ctrl-C again to stop them now",
        "stopping running agents now; their work is salvaged",
    ]


class Outage:
    """Calls of ``name`` on the fake task client fail as unreachable ``times`` times."""

    def __init__(self, rig: Rig, name: str, times: int) -> None:
        self.real = getattr(rig.tasks, name)
        self.left = times
        setattr(rig.tasks, name, self)

    def __call__(self, *args: object, **kw: object) -> object:
        if self.left:
            self.left -= 1
            raise ServerUnavailableError("cannot reach the task server: refused")
        return self.real(*args, **kw)


def test_a_task_server_away_for_a_while_is_waited_for(tmp_path: Path) -> None:
    rig = make_context(tmp_path)
    rig.tasks.add("ar-1")
    Outage(rig, "claim_next", 2)
    Outage(rig, "done", 2)
    tally = schedule(rig).run()
    assert tally.errors == []
    assert rig.tasks.status("ar-1") is Status.DONE
    warnings = [p.detail for p in rig.progress if p.kind is Kind.WARNING]
    assert len(warnings) == 2  # once per call that had to wait, not once per try
    assert all(w.startswith("task server unreachable, retrying") for w in warnings)
    assert not any(p.kind is Kind.STOPPING for p in rig.progress)  # nothing was stopped


def test_a_task_server_gone_too_long_before_done_says_so(tmp_path: Path) -> None:
    rig = make_context(tmp_path, server_patience=0.6)
    rig.tasks.add("ar-1")
    Outage(rig, "done", 100)
    Outage(rig, "release", 100)
    execute(rig)
    failed = [e for e in rig.events() if e["type"] == "task.failed" and e.get("task") == "ar-1"]
    assert "pushed to the hub" in failed[-1]["reason"]
    assert "not marked done" in failed[-1]["reason"]
    assert rig.hub.heads["isollm/ar-1"]  # the delivered branch is still on the hub


# --- results: nothing dropped silently (issue #12 item 3) --------------------------------
def _receipt(rig: Rig, task_id: str = "ar-1") -> receipts.Receipt:
    return [r for r in receipts.load_receipts(rig.ctx.paths).receipts if r.task_id == task_id][-1]


def _shown(rig: Rig) -> RunSummary:
    return summarize(RUN_ID, view(rig), receipts.load_receipts(rig.ctx.paths).receipts)


def _done_details(rig: Rig) -> list[str]:
    return [p.detail for p in rig.progress if p.kind is Kind.DONE]


def _two_done_parents(rig: Rig, conflicting: tuple[str, ...]) -> None:
    for parent in ("ar-1", "ar-2"):
        rig.tasks.add(parent).status = Status.DONE
        rig.hub.heads[f"isollm/{parent}"] = sha(parent)
    rig.hub.conflicts["isollm/ar-2"] = conflicting
    rig.tasks.add("ar-3", after=["ar-1", "ar-2"])


def test_a_dependency_that_does_not_merge_fails_the_attempt_naming_it(tmp_path: Path) -> None:
    rig = make_context(tmp_path)
    _two_done_parents(rig, ("src/x.py", "README"))
    w, ws = worker(rig)
    claim = rig.tasks.claim_next(w.agent_id, 300)
    assert claim is not None
    w.execute(claim, 1, [])
    reason = view(rig).tasks["ar-3"].failures[0].reason or ""
    assert "dependency ar-2 (isollm/ar-2) does not merge" in reason
    assert "src/x.py, README" in reason
    assert not any(line.startswith("agent") for line in ws.log)  # no agent run is wasted
    assert rig.tasks.status("ar-3") is Status.BLOCKED
    assert _shown(rig).totals.done == 0


def test_on_conflict_partial_goes_on_and_says_partial_everywhere(tmp_path: Path) -> None:
    rig = make_context(tmp_path, on_conflict="partial")
    _two_done_parents(rig, ("src/x.py",))
    w, _ = worker(rig)
    claim = rig.tasks.claim_next(w.agent_id, 300)
    assert claim is not None
    w.execute(claim, 1, [])
    receipt = _receipt(rig, "ar-3")
    assert (receipt.outcome, receipt.result, receipt.flagged) == ("done", "partial", True)
    assert any("ar-2" in n and "src/x.py" in n for n in receipt.notes)
    done = [e for e in rig.events() if e["type"] == "task.done"][-1]
    assert done["result"] == "partial"
    assert _done_details(rig)[-1].startswith("partial: 1 file(s) changed; dependency ar-2")
    shown = _shown(rig)
    assert [t.status for t in shown.tasks if t.task_id == "ar-3"] == ["partial"]
    assert (shown.totals.partial, shown.totals.flagged) == (1, 1)


def test_a_task_that_changes_nothing_is_done_no_changes(tmp_path: Path) -> None:
    rig = make_context(tmp_path, plays=[Play(files=())])
    rig.tasks.add("ar-1")
    execute(rig)
    assert (_receipt(rig).result, _receipt(rig).flagged) == ("no changes", False)
    assert _done_details(rig) == ["no changes"]
    shown = _shown(rig)
    assert shown.tasks[0].status == "done (no changes)"
    assert (shown.totals.done, shown.totals.no_changes, shown.totals.flagged) == (1, 1, 0)
    assert done_counts(shown.totals) == "1 done (1 no changes)"


def test_runner_empty_fail_fails_a_task_that_changes_nothing(tmp_path: Path) -> None:
    rig = make_context(tmp_path, plays=[Play(files=())] * 3, empty="fail")
    rig.tasks.add("ar-1")
    execute(rig)
    assert rig.tasks.status("ar-1") is Status.BLOCKED
    assert "changed nothing" in (view(rig).tasks["ar-1"].failures[0].reason or "")


def test_every_review_round_is_counted_in_tokens_and_cost(tmp_path: Path) -> None:
    plays = [
        Play(output="cost=0.0011"),
        Play(output="cost=0.0012\nVERDICT: CHANGES add a test", files=()),
        Play(output="cost=0.0013"),
        Play(output="cost=0.0014\nVERDICT: APPROVE", files=()),
    ]
    rig = make_context(tmp_path, plays=plays, review=True, max_review_rounds=2)
    rig.tasks.add("ar-1")
    execute(rig)
    receipt = _receipt(rig)
    assert (receipt.tokens_in, receipt.tokens_out) == (40, 20)  # four runs of 10 + 5
    assert receipt.cost_usd == pytest.approx(0.005)
    assert receipt.result == "done"
    shown = _shown(rig)
    assert shown.totals.tokens == 60
    assert money(shown.totals.cost_usd or 0) == "$0.0050"


def test_a_task_never_approved_is_delivered_unapproved(tmp_path: Path) -> None:
    plays = [Play(), Play(output="VERDICT: CHANGES more tests", files=())] * 2
    rig = make_context(tmp_path, plays=plays, review=True, max_review_rounds=2)
    rig.tasks.add("ar-1")
    execute(rig)
    assert rig.tasks.status("ar-1") is Status.DONE  # delivered ...
    receipt = _receipt(rig)
    assert (receipt.result, receipt.flagged) == ("unapproved", True)  # ... but flagged
    assert "did not approve it in 2 round(s): more tests" in receipt.notes[0]
    assert _done_details(rig)[0].startswith("unapproved: ")
    assert _shown(rig).tasks[0].status == "unapproved"
    assert _shown(rig).totals.flagged == 1


def test_review_not_required_flags_nothing(tmp_path: Path) -> None:
    plays = [Play(), Play(output="VERDICT: CHANGES more", files=())]
    rig = make_context(
        tmp_path, plays=plays, review=True, max_review_rounds=1, review_required=False
    )
    rig.tasks.add("ar-1")
    execute(rig)
    assert (_receipt(rig).result, _receipt(rig).flagged) == ("unapproved", False)
    assert _shown(rig).totals.flagged == 0


def test_a_retry_reports_where_the_earlier_attempts_work_was_saved(tmp_path: Path) -> None:
    rig = make_context(tmp_path, plays=[Play(exit=1, files=("half.py",)), Play(files=())])
    rig.tasks.add("ar-1")
    assert execute(rig) == 2
    ref = "refs/isollm/salvage/w1/1"
    receipt = _receipt(rig)
    assert receipt.result == "no changes"
    assert any(f"git fetch {rig.hub.path} {ref}" in n for n in receipt.notes)
    assert ref in _done_details(rig)[0]
    assert any(ref in n for n in _shown(rig).tasks[0].notes)


def test_costs_are_shown_precisely_enough_to_add_up() -> None:
    assert money(0.0042) == "$0.0042"
    assert [money(c) for c in (0.004, 0.006, 0.01)] == ["$0.0040", "$0.0060", "$0.0100"]
    assert money(123.456) == "$123.46"


# --- the agent's activity and stalls ------------------------------------------------------
def test_the_agents_activity_is_shown_as_its_workers(tmp_path: Path) -> None:
    rig = make_context(tmp_path, plays=[Play(output="running the tests\n")])
    rig.tasks.add("ar-1")
    execute(rig)
    shown = [(p.worker, p.task_id, p.detail) for p in rig.progress if p.kind is Kind.ACTIVITY]
    assert shown == [("w1", "ar-1", "running the tests")]


def test_a_silent_agent_is_flagged_and_left_running_by_default(tmp_path: Path) -> None:
    play = Play(output="thinking\n", silent=1.3)
    rig = make_context(tmp_path, plays=[play], stall_after=1.0)
    rig.tasks.add("ar-1")
    execute(rig)
    stalls = [e for e in rig.events() if e["type"] == "agent.stalled"]
    assert [(e["idle"], e["last"], e["action"]) for e in stalls] == [(1, "thinking", "flag")]
    assert Kind.STALLED in kinds(rig)
    assert view(rig).tasks["ar-1"].phase is Phase.DONE


def test_stall_action_stop_fails_the_attempt_and_the_policy_retries_it(tmp_path: Path) -> None:
    plays = [Play(output="API retry 1\n", silent=5), Play()]
    rig = make_context(tmp_path, plays=plays, stall_after=1.0, stall_action="stop")
    rig.tasks.add("ar-1")
    w, _ = worker(rig)
    claim = rig.tasks.claim_next(w.agent_id, 300)
    assert claim is not None
    w.execute(claim, 1, [])
    task = view(rig).tasks["ar-1"]
    assert [f.reason for f in task.failures] == ["the agent was stopped: no activity for 1 s"]
    assert (task.phase, task.attempt, task.stalls) == (Phase.DONE, 2, 1)


def test_an_attempt_failing_while_the_server_is_away_does_not_count(tmp_path: Path) -> None:
    rig = make_context(tmp_path, max_attempts=1)
    rig.tasks.add("ar-1")
    rig.plays += [Play(exit=1), Play()]
    # the server is away when the first attempt has failed, back at the next check
    rig.tasks.health = _Answers([False, True])  # type: ignore[method-assign]
    tally = schedule(rig).run()
    assert tally.errors == []
    assert rig.tasks.status("ar-1") is Status.DONE  # one attempt allowed, yet done on the 2nd
    warnings = [p.detail for p in rig.progress if p.kind is Kind.WARNING]
    assert any("does not count against the task" in w for w in warnings)


class _Answers:
    def __init__(self, answers: list[bool]) -> None:
        self.answers = answers

    def __call__(self) -> bool:
        return self.answers.pop(0) if self.answers else True
