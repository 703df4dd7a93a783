"""The hub's object files never become a sandbox's: a checkout cloned from the hub
copies its objects (no hard links) before it is given to the sandbox uid, so an agent
that rewrites the object files of its own clone changes nothing in the hub."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from isollm.git.hub import RECLAIMED
from isollm.sandbox.workspace import _clone_checkout
from tests.conftest import git
from tests.integration.sandbox_support import Factory, factory_for

__all__ = ["factory_for"]

SANDBOX_UID = 2_100_000_123


def object_files(hub: Path) -> list[Path]:
    return [p for p in (hub / "objects").rglob("*") if p.is_file()]


@pytest.mark.skipif(os.geteuid() != 0, reason="giving files to another uid needs root")
def test_a_checkout_given_to_a_sandbox_uid_shares_no_object_file_with_the_hub(
    factory_for: Callable[[str], Factory], tmp_path: Path
) -> None:
    factory = factory_for("overlay")
    hub = factory.hub.path
    commit = git(hub, "rev-parse", "main")
    _clone_checkout(hub, tmp_path / "checkout", commit, ("a", "a@example.invalid"), SANDBOX_UID)
    for path in object_files(hub):
        info = path.stat()
        assert info.st_uid == os.geteuid(), f"{path} was given away"
        assert info.st_nlink == 1, f"{path} is shared with a checkout"


def test_an_agent_rewriting_its_objects_leaves_the_hub_intact(
    factory_for: Callable[[str], Factory],
) -> None:
    factory = factory_for("overlay")
    hub = factory.hub.path
    before = {p: p.read_bytes() for p in object_files(hub)}
    sb = factory.make()
    sb.create()
    # The attack: make every object file of the workspace writable and overwrite it.
    result = sb.exec(
        [
            "sh",
            "-c",
            'find "$(git rev-parse --git-common-dir)/objects" -type f | while read -r f; do '
            'chmod u+w "$f" 2>/dev/null; printf garbage > "$f" 2>/dev/null; done; true',
        ],
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert {p: p.read_bytes() for p in object_files(hub)} == before
    for path in object_files(hub):
        assert path.stat().st_uid == os.geteuid()
    git(hub, "fsck", "--strict", "--no-progress")


@pytest.mark.skipif(os.geteuid() != 0, reason="giving files to another uid needs root")
def test_object_files_an_older_isollm_gave_away_are_taken_back_once(
    factory_for: Callable[[str], Factory],
) -> None:
    hub = factory_for("overlay").hub
    given = object_files(hub.path)
    for path in given:  # what a hard-linked, chowned checkout of an older isollm did
        os.chown(path, SANDBOX_UID, SANDBOX_UID)
    (hub.path / RECLAIMED).unlink(missing_ok=True)
    hub.check()
    assert {p.stat().st_uid for p in given} == {os.geteuid()}
    assert (hub.path / RECLAIMED).exists()
    os.chown(given[0], SANDBOX_UID, SANDBOX_UID)
    hub.check()  # once reclaimed, a check is one lstat: it does not walk again
    assert given[0].stat().st_uid == SANDBOX_UID
