"""The runner's gates, StepGate (its own CPU-bound steps) and StartGate (agent starts),
and the hub upkeep that keeps pushes fast."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from isollm.git.facade import Git
from isollm.git.hub import Hub
from isollm.runner.context import HubUpkeep, StartGate, StepGate, Steps

WAIT = 5.0


def _in_thread(action: Callable[[], object]) -> threading.Thread:
    thread = threading.Thread(target=action, daemon=True)
    thread.start()
    return thread


def _settle() -> None:
    time.sleep(0.2)  # long enough for a started thread to block in acquire


class TestStepGate:
    def test_at_most_slots_holders_at_once(self) -> None:
        gate, abort = StepGate(2), threading.Event()
        assert gate.acquire(finishing=True, abort=abort)
        assert gate.acquire(finishing=True, abort=abort)
        third = threading.Event()
        waiter = _in_thread(lambda: gate.acquire(finishing=True, abort=abort) and third.set())
        _settle()
        assert not third.is_set()
        gate.release()
        waiter.join(WAIT)
        assert third.is_set()

    def test_a_finishing_worker_goes_before_one_about_to_claim(self) -> None:
        gate, abort, order = StepGate(1), threading.Event(), []
        assert gate.acquire(finishing=False, abort=abort)
        starter = _in_thread(
            lambda: gate.acquire(finishing=False, abort=abort) and order.append("start")
        )
        _settle()
        finisher = _in_thread(
            lambda: gate.acquire(finishing=True, abort=abort) and order.append("finish")
        )
        _settle()
        gate.release()
        finisher.join(WAIT)
        gate.release()
        starter.join(WAIT)
        assert order == ["finish", "start"]

    def test_one_slot_of_three_is_kept_for_finishing(self) -> None:
        gate, abort = StepGate(3), threading.Event()
        assert gate.acquire(finishing=False, abort=abort)
        assert gate.acquire(finishing=False, abort=abort)
        claimed = threading.Event()
        starter = _in_thread(lambda: gate.acquire(finishing=False, abort=abort) and claimed.set())
        _settle()
        assert not claimed.is_set()  # the last slot is not for a new claim
        assert gate.acquire(finishing=True, abort=abort)  # but a finish gets it at once
        abort.set()
        starter.join(WAIT)
        assert not claimed.is_set()

    def test_abort_ends_the_wait_without_a_slot(self) -> None:
        gate, abort = StepGate(1), threading.Event()
        assert gate.acquire(finishing=False, abort=abort)
        results: list[bool] = []
        waiter = _in_thread(lambda: results.append(gate.acquire(finishing=True, abort=abort)))
        _settle()
        abort.set()
        waiter.join(WAIT)
        assert results == [False]

    def test_steps_give_back_only_what_they_took(self) -> None:
        gate, abort = StepGate(1), threading.Event()
        steps = Steps(gate, abort)
        steps.take()
        steps.take()  # already held: no second slot
        steps.give_back()
        steps.give_back()  # nothing held: nothing released
        assert gate.acquire(finishing=False, abort=abort)
        abort.set()
        assert not gate.acquire(finishing=False, abort=abort)  # still exactly one slot


class TestStartGate:
    def test_starts_are_spaced_by_the_gap(self) -> None:
        gate, abort = StartGate(0.2, 4), threading.Event()
        started = time.monotonic()
        for _ in range(3):
            assert gate.enter(abort)
        assert time.monotonic() - started >= 0.39


class TestHubUpkeep:
    def test_loose_refs_are_packed_after_every_n_pushes(
        self, tmp_path: Path, git_repo: Path
    ) -> None:
        hub = Hub(tmp_path / "hub.git")
        Git.init_bare(hub.path)
        upkeep = HubUpkeep(hub, every=3)
        for n in range(1, 4):
            Git(git_repo).run("push", "-q", str(hub.path), f"HEAD:refs/heads/isollm/ar-{n}")
            upkeep.pushed()
        assert list((hub.path / "refs" / "heads").rglob("ar-*")) == []
        packed = (hub.path / "packed-refs").read_text()
        assert all(f"refs/heads/isollm/ar-{n}" in packed for n in (1, 2, 3))
        assert hub.head_of("isollm/ar-2") == Git(git_repo).out("rev-parse", "HEAD").strip()
