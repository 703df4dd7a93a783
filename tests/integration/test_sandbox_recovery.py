"""Sandboxes created at the same time, and operations killed halfway, recover."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from isollm.sandbox.base import Sandbox
from tests.conftest import git
from tests.integration.sandbox_support import Factory, factory_for

Make = Callable[[str], Factory]

__all__ = ["factory_for"]

CONCURRENT = 8


def test_concurrent_worktree_creates_all_succeed(factory_for: Make) -> None:
    factory: Factory = factory_for("worktree")
    factory.make("first")  # the shared clone exists; half the branches come from the hub
    for i in range(0, CONCURRENT, 2):
        git(factory.repo, "push", "-q", str(factory.hub.path), f"main:isollm/c{i}")

    def create(i: int) -> Sandbox:
        return factory.make(f"c{i}", work_branch=f"isollm/c{i}")

    with ThreadPoolExecutor(CONCURRENT) as pool:
        made = list(pool.map(create, range(CONCURRENT)))  # re-raises any failure

    for i, sb in enumerate(made):
        head = git(Path(sb.workspace), "symbolic-ref", "--short", "HEAD")
        assert head == f"isollm/c{i}"
        assert (Path(sb.workspace) / "README.md").is_file()
    with ThreadPoolExecutor(CONCURRENT) as pool:
        list(pool.map(lambda sb: sb.destroy(), made))
    clone = Path(made[0].record.directory).parent / ".worktrees.git"
    listed = git(clone, "worktree", "list", "--porcelain")
    assert listed.count("worktree ") == 2  # the bare clone itself and "first"
