"""An attempt lost to a task server outage never counts against its task, not even after
the run failed for the outage and was resumed (issue #12: the retry budget was charged
again on resume, because the ledger recorded a plain failure).

Worker and Scheduler over the in-memory fakes (tests/fakes.py); the ledger, its replay,
the policy and the receipts are real.
"""

from __future__ import annotations

from pathlib import Path

from isollm.runner.ledger import replay
from isollm.runner.scheduler import Scheduler
from isollm.runner.view import RunView
from isollm.tasks.client.retry import UNREACHABLE
from isollm.tasks.store.model import Status
from tests.fakes import Play, Rig, make_context


def never_healthy(rig: Rig) -> None:
    rig.tasks.health = lambda: False  # type: ignore[method-assign]


def replayed(rig: Rig) -> RunView:
    rig.ctx.ledger.sync()
    return replay(rig.ctx.paths.ledger).view


def test_a_failure_while_the_server_is_away_is_recorded_excused(tmp_path: Path) -> None:
    rig = make_context(tmp_path, max_attempts=2, server_patience=0.3)
    rig.tasks.add("ar-1")
    rig.plays.append(Play(exit=1))
    never_healthy(rig)

    tally = Scheduler(rig.ctx, RunView(), rig.workspace).run()

    assert tally.errors, "the run fails once the server stays away past its patience"
    [failed] = [e for e in rig.events() if e["type"] == "task.failed"]
    assert failed["excused"] == UNREACHABLE
    task = replayed(rig).tasks["ar-1"]
    assert task.failures == ()  # the replayed view does not count it
    assert rig.tasks.status("ar-1") is Status.OPEN  # given back


def test_resume_after_an_outage_does_not_charge_the_lost_attempt(tmp_path: Path) -> None:
    # one attempt is allowed: the one lost to the outage must not use it up
    rig = make_context(tmp_path, max_attempts=1, server_patience=0.3)
    rig.tasks.add("ar-1")
    rig.plays.append(Play(exit=1))
    real_health = rig.tasks.health
    never_healthy(rig)
    assert Scheduler(rig.ctx, RunView(), rig.workspace).run().errors

    rig.tasks.health = real_health  # type: ignore[method-assign]
    rig.ctx.stopping.clear()  # the failed run was aborted; its resume starts afresh
    rig.ctx.aborting.clear()
    rig.plays.append(Play())  # the resumed run's attempt succeeds
    resumed = Scheduler(rig.ctx, replayed(rig), rig.workspace)
    assert resumed.run().errors == []

    assert rig.tasks.status("ar-1") is Status.DONE  # not blocked as "failed 1 attempt(s)"
    task = replayed(rig).tasks["ar-1"]
    assert (task.attempt, task.failures) == (2, ())


def test_a_plain_failure_still_counts_after_resume(tmp_path: Path) -> None:
    """The control: with the server up, the failure is charged, and resume blocks."""
    rig = make_context(tmp_path, max_attempts=1)
    rig.tasks.add("ar-1")
    rig.plays.append(Play(exit=1))
    assert Scheduler(rig.ctx, RunView(), rig.workspace).run().errors == []
    assert rig.tasks.status("ar-1") is Status.BLOCKED
    [failed] = [e for e in rig.events() if e["type"] == "task.failed"]
    assert "excused" not in failed
    assert [f.attempt for f in replayed(rig).tasks["ar-1"].failures] == [1]
