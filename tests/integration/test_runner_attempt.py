"""An attempt's last steps in a real overlay sandbox: commit what the agent left, deliver
it to the hub through the host's intake."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from isollm.errors import IsollmError
from isollm.git import intake
from isollm.runner.attempt import deliver
from tests.integration.sandbox_support import Factory, factory_for, hub_git

__all__ = ["factory_for"]


def grant(task: str) -> intake.Grant:
    return intake.task_grant("isollm/", task, "main", None)


def test_deliver_commits_leftovers_and_delivers_the_branch(
    factory_for: Callable[[str], Factory],
) -> None:
    factory = factory_for("overlay")
    base = hub_git(factory, "rev-parse", "main")
    sb = factory.make(work_branch="isollm/ar-40")
    assert sb.exec(["sh", "-c", "echo left > left.txt"]).ok
    got = deliver(
        sb, factory.hub, grant("ar-40"), haves=(base,), message="Leftovers\n\nisollm task ar-40"
    )
    head = got.new
    assert (got.ref, got.old) == ("refs/heads/isollm/ar-40", None)
    assert hub_git(factory, "rev-parse", "isollm/ar-40") == head
    assert hub_git(factory, "show", "isollm/ar-40:left.txt") == "left"
    assert hub_git(factory, "log", "-1", "--format=%s", "isollm/ar-40") == "Leftovers"
    # a clean tree: nothing new to commit, the same head delivered again
    again = deliver(sb, factory.hub, grant("ar-40"), haves=(base,), message="again")
    assert (again.new, again.old, again.changed) == (head, head, False)


def test_an_unchanged_workspace_delivers_the_base(factory_for: Callable[[str], Factory]) -> None:
    factory = factory_for("overlay")
    base = hub_git(factory, "rev-parse", "main")
    sb = factory.make(work_branch="isollm/ar-43")
    got = deliver(sb, factory.hub, grant("ar-43"), haves=(base,), message="nothing")
    assert got.new == base == hub_git(factory, "rev-parse", "isollm/ar-43")


def test_a_failed_commit_is_reported_and_nothing_is_delivered(
    factory_for: Callable[[str], Factory],
) -> None:
    factory = factory_for("overlay")
    sb = factory.make(work_branch="isollm/ar-42")
    assert sb.exec(["sh", "-c", "echo work > work.txt && touch .git/index.lock"]).ok
    with pytest.raises(IsollmError, match="making a bundle of the work"):
        deliver(sb, factory.hub, grant("ar-42"), haves=(), message="Work")
    assert "isollm/ar-42" not in hub_git(factory, "branch", "--list", "isollm/ar-42")
