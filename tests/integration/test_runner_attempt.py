"""An attempt's last steps in a real overlay sandbox: commit what the agent left, push it."""

from __future__ import annotations

import stat
from collections.abc import Callable

import pytest

from isollm.errors import IsollmError
from isollm.runner.attempt import commit_and_push
from tests.integration.sandbox_support import Factory, factory_for, hub_git

__all__ = ["factory_for"]


def test_commit_and_push_commits_leftovers_and_pushes_the_branch(
    factory_for: Callable[[str], Factory],
) -> None:
    factory = factory_for("overlay")
    sb = factory.make(work_branch="isollm/ar-40")
    assert sb.exec(["sh", "-c", "echo left > left.txt"]).ok
    head = commit_and_push(sb, "Leftovers\n\nisollm task ar-40", "isollm/ar-40")
    assert hub_git(factory, "rev-parse", "isollm/ar-40") == head
    assert hub_git(factory, "show", "isollm/ar-40:left.txt") == "left"
    assert hub_git(factory, "log", "-1", "--format=%s", "isollm/ar-40") == "Leftovers"
    # a clean tree: nothing new to commit, the same head pushed again
    assert commit_and_push(sb, "again", "isollm/ar-40") == head


def test_a_refused_push_is_reported_as_a_push_failure(
    factory_for: Callable[[str], Factory],
) -> None:
    factory = factory_for("overlay")
    sb = factory.make(work_branch="isollm/ar-41")
    hook = factory.hub.path / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'hub says no' >&2\nexit 1\n")
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    assert sb.exec(["sh", "-c", "echo work > work.txt"]).ok
    with pytest.raises(IsollmError, match="pushing isollm/ar-41 to the hub failed") as caught:
        commit_and_push(sb, "Work", "isollm/ar-41")
    assert "hub says no" in str(caught.value)
    assert sb.exec(["git", "log", "-1", "--format=%s"]).stdout.strip() == "Work"  # kept


def test_a_failed_commit_is_reported_as_a_commit_failure(
    factory_for: Callable[[str], Factory],
) -> None:
    factory = factory_for("overlay")
    sb = factory.make(work_branch="isollm/ar-42")
    assert sb.exec(["sh", "-c", "echo work > work.txt && touch .git/index.lock"]).ok
    with pytest.raises(IsollmError, match="committing the agent's work failed"):
        commit_and_push(sb, "Work", "isollm/ar-42")
    assert "isollm/ar-42" not in hub_git(factory, "branch", "--list", "isollm/ar-42")
