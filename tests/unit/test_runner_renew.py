"""One renewal of a sandbox (isollm.sandbox.renew) behind `isollm worker reset`,
Sandbox.reset/refresh and the runner's sandbox between two tasks: a change to it
reaches every caller."""

from __future__ import annotations

from pathlib import Path

import pytest

from isollm.runner.sandboxes import WorkerSandbox
from isollm.sandbox import renew
from isollm.sandbox.base import Sandbox
from tests.fakes import make_context


class Spied:
    """Just enough of a sandbox for the renewal: what was called, in order."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.spec = type("Spec", (), {"work_branch": "isollm/ar-1"})()

    def rebuild(self) -> None:
        self.calls.append("rebuild")

    def check_out(self, branch: str, then: object = None) -> str:
        self.calls.append(f"check_out {branch}")
        return "info"


@pytest.fixture
def cleaned(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    seen: list[object] = []
    real = renew.clean

    def spy(sb: Sandbox) -> None:
        seen.append(sb)
        real(sb)

    monkeypatch.setattr(renew, "clean", spy)
    return seen


def test_reset_is_a_clean_then_the_current_branch() -> None:
    sb = Spied()
    assert renew.reset(sb, None) == "info"  # type: ignore[arg-type]
    assert sb.calls == ["rebuild", "check_out isollm/ar-1"]
    renew.reset(sb, "isollm/ar-2")  # type: ignore[arg-type]
    assert sb.calls[-1] == "check_out isollm/ar-2"


def test_sandbox_reset_and_refresh_are_the_renewal(cleaned: list[object]) -> None:
    sb = Spied()
    Sandbox.reset(sb, "isollm/ar-3")  # type: ignore[arg-type]
    Sandbox.refresh(sb)  # type: ignore[arg-type]
    assert cleaned == [sb, sb]
    assert sb.calls == ["rebuild", "check_out isollm/ar-3", "rebuild"]


def test_the_runner_renews_its_sandbox_the_same_way(tmp_path: Path, cleaned: list[object]) -> None:
    rig = make_context(tmp_path)
    ws = WorkerSandbox(rig.ctx, "run-w1")
    sb = Spied()
    ws._sb = sb  # type: ignore[assignment]
    ws._maybe_dirty = False  # nothing to salvage
    ws.ready()
    ws.enter("isollm/ar-4")
    assert cleaned == [sb]
    assert sb.calls == ["rebuild", "check_out isollm/ar-4"]
