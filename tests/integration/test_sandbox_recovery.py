"""Sandboxes created at the same time, and operations killed halfway, recover."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from isollm.sandbox import meta, registry
from isollm.sandbox.base import Sandbox, SandboxExistsError, SandboxNotFoundError
from isollm.sandbox.overlay import OverlaySandbox
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


def test_overlay_start_repairs_a_reset_killed_before_build(factory_for: Make) -> None:
    factory = factory_for("overlay")
    sb = factory.make()
    assert isinstance(sb, OverlaySandbox)
    sb.ws.discard()  # what rebuild() did before the kill
    shutil.rmtree(sb.home, ignore_errors=True)  # a disk image took it with the workspace

    again = registry.open_sandbox(factory.project, "w1")
    again.start()
    result = again.exec(["sh", "-c", "cat README.md; echo $HOME; touch ~/kept"])
    assert result.ok, result.describe()
    assert result.stdout.splitlines() == ["# sample", "/home/dev"]
    assert again.work_state().clean


def test_overlay_ensure_workspace_recreates_a_missing_home(factory_for: Make) -> None:
    factory = factory_for("overlay")
    sb = factory.make()
    assert isinstance(sb, OverlaySandbox)
    shutil.rmtree(sb.home)
    again = registry.open_sandbox(factory.project, "w1")
    again.ensure_workspace()
    assert again.exec(["true"]).ok
    assert sb.home.is_dir()


def test_missing_identity_files_are_written_again(factory_for: Make) -> None:
    factory = factory_for("overlay")
    first = factory.make()
    second = factory.make("w2")
    assert isinstance(first, OverlaySandbox)
    (first.etc / "passwd").unlink()  # a create killed before writing them
    result = second.exec(["id", "-un"])
    assert result.ok, result.describe()
    assert result.stdout.strip() == "dev"
    assert (first.etc / "passwd").is_file()


def test_a_name_left_by_an_interrupted_destroy_can_be_used_again(factory_for: Make) -> None:
    factory = factory_for("overlay")
    sb = factory.make()
    sb.stop()
    (sb.record.directory / meta.RECORD_FILE).unlink()  # killed after the record went
    with pytest.raises(SandboxNotFoundError):
        registry.open_sandbox(factory.project, "w1")

    again = factory.make()
    assert again.exec(["cat", "README.md"]).stdout == "# sample\n"
    assert registry.open_sandbox(factory.project, "w1").record.created_at


def test_a_directory_with_a_live_mount_is_not_claimed(factory_for: Make) -> None:
    factory = factory_for("overlay")
    sb = factory.make()
    (sb.record.directory / meta.RECORD_FILE).unlink()
    with pytest.raises(SandboxExistsError):
        factory.make()
    assert isinstance(sb, OverlaySandbox)
    assert sb.ws.upper.is_dir()


class Killed(BaseException):
    """Stands for a SIGKILL in the middle of an operation."""


def test_a_destroy_killed_midway_keeps_the_record(
    factory_for: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    factory = factory_for("overlay")
    sb = factory.make()
    assert isinstance(sb, OverlaySandbox)
    real_rmtree = shutil.rmtree

    def dies_at_home(path: str | Path, *args: Any, **kwargs: Any) -> None:
        if Path(path) in (sb.home, sb.ws.merged):  # the home, or with a disk image, merged
            raise Killed
        real_rmtree(path, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(shutil, "rmtree", dies_at_home)
        with pytest.raises(Killed):
            sb.destroy()

    again = registry.open_sandbox(factory.project, "w1")  # the record is still there
    again.destroy()
    assert not sb.record.directory.exists()
    assert factory.make().exec(["true"]).ok
