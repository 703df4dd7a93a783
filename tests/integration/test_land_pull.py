"""Bringing landed work home: a Ctrl-C never stops the work tree's fast-forward halfway.

``isollm sync pull`` fast-forwards your checked-out base with ``git merge --ff-only``;
stopped midway, git would leave a half-updated work tree and its index lock behind. The
interrupt is held back until the merge is over, then raised (exit 130 as always).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from isollm.cli.sync import render_pull
from isollm.git import pull
from isollm.git.facade import Git
from isollm.git.hub import Hub
from isollm.git.sync import push_base
from tests.conftest import git


def interrupted_step(steps: list[str]) -> None:
    with pull.interrupt_deferred():
        os.kill(os.getpid(), signal.SIGINT)
        steps.append("finished after the interrupt")


def test_a_ctrl_c_waits_for_the_step_then_stops() -> None:
    steps: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        interrupted_step(steps)
    assert steps == ["finished after the interrupt"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_interrupt_during_the_fast_forward_leaves_the_work_tree_whole(
    git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = Hub(tmp_path / "hub.git")
    push_base(git_repo, hub, "main")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(hub.path), str(other))
    for n in range(20):
        (other / f"f{n}.txt").write_text(f"{n}\n")
    git(other, "add", "-A")
    git(other, "commit", "-q", "-m", "landed work")
    git(other, "push", "-q", "origin", "main")
    real_run = Git.run

    def interrupted_midway(self: Git, *args: str, **kw: Any) -> Any:
        if args[:1] == ("merge",):
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while git merges
        return real_run(self, *args, **kw)

    monkeypatch.setattr(Git, "run", interrupted_midway)
    with pytest.raises(KeyboardInterrupt):
        pull.pull_base(git_repo, hub, "main")
    assert git(git_repo, "rev-parse", "main") == git(other, "rev-parse", "HEAD")
    assert git(git_repo, "status", "--porcelain") == ""
    assert not (git_repo / ".git" / "index.lock").exists()


def test_a_dirty_base_names_the_files_in_the_way(git_repo: Path, tmp_path: Path) -> None:
    """After `isollm init` in a repository that has a .gitignore, it is .gitignore."""
    hub = Hub(tmp_path / "hub.git")
    push_base(git_repo, hub, "main")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(hub.path), str(other))
    (other / "landed.txt").write_text("landed\n")
    git(other, "add", "-A")
    git(other, "commit", "-q", "-m", "landed work")
    git(other, "push", "-q", "origin", "main")
    (git_repo / "README.md").write_text("my edit\n")
    pulled = pull.pull_base(git_repo, hub, "main")
    assert pulled is not None
    assert pulled.outcome is pull.PullOutcome.DIRTY
    assert pulled.uncommitted == ("README.md",)
    assert pulled.to_json()["uncommitted"] == ["README.md"]
    line = render_pull(pull.PullResult(hub.path, (), (), pulled))[0]
    assert "uncommitted changes (in README.md); left alone" in line
