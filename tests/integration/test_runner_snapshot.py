"""Snapshots of a real git repository."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from isollm.errors import RunError, StateError
from isollm.runner import snapshot
from tests.conftest import git


@pytest.fixture
def repo(git_repo: Path) -> Path:
    (git_repo / "src").mkdir()
    (git_repo / "src" / "app.py").write_text("print('hi')\n")
    (git_repo / "tab\there.txt").write_text("odd name\n")
    (git_repo / "line\nbreak é.txt").write_text("odder name\n")
    run = git_repo / "run.sh"
    run.write_text("#!/bin/sh\n")
    run.chmod(0o755)
    os.symlink("src/app.py", git_repo / "link")
    (git_repo / "untracked.txt").write_text("not in the snapshot\n")
    git(git_repo, "add", "src", "tab\there.txt", "line\nbreak é.txt", "run.sh", "link")
    git(git_repo, "commit", "-q", "-m", "files")
    return git_repo


def test_the_manifest_lists_every_tracked_file_at_the_base_commit(repo: Path) -> None:
    snap = snapshot.capture(repo, "main")

    assert snap.base_branch == "main"
    assert snap.commit == git(repo, "rev-parse", "main")
    assert snap.tree == git(repo, "rev-parse", "main^{tree}")
    tracked = git(repo, "ls-files", "-z").rstrip("\0").split("\0")
    assert [f.path for f in snap.files] == sorted(tracked)
    modes = {f.path: f.mode for f in snap.files}
    assert (modes["run.sh"], modes["link"], modes["README.md"]) == ("100755", "120000", "100644")
    blob = {f.path: f.object for f in snap.files}["src/app.py"]
    assert blob == git(repo, "rev-parse", "main:src/app.py")


def test_the_same_content_gives_the_same_id(repo: Path) -> None:
    first = snapshot.capture(repo, "main")
    git(repo, "commit", "-q", "--allow-empty", "-m", "no change to files")
    second = snapshot.capture(repo, "main")
    assert second.commit != first.commit
    assert second.id == first.id


def test_the_manifest_is_written_atomically_and_reads_back(repo: Path, tmp_path: Path) -> None:
    snap = snapshot.capture(repo, "main")
    path = tmp_path / "run" / "snapshot.json"

    snapshot.write(path, snap)

    assert snapshot.load(path) == snap
    assert json.loads(path.read_text())["format"] == snapshot.FORMAT
    assert [p.name for p in path.parent.iterdir()] == ["snapshot.json"]


def test_a_moved_base_is_noticed(repo: Path) -> None:
    snap = snapshot.capture(repo, "main")
    assert snapshot.base_unchanged(repo, snap)
    git(repo, "commit", "-q", "--allow-empty", "-m", "moved on")
    assert not snapshot.base_unchanged(repo, snap)


def test_a_missing_base_branch_is_a_clear_error(repo: Path) -> None:
    with pytest.raises(RunError, match="'nope' is not a commit") as caught:
        snapshot.capture(repo, "nope")
    assert "git.base_branch" in str(caught.value)


def test_an_option_lookalike_branch_is_not_an_option(repo: Path) -> None:
    with pytest.raises(RunError, match="is not a commit"):
        snapshot.capture(repo, "--output=/tmp/x")


def test_a_damaged_manifest_is_a_state_error(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.json"
    path.write_text('{"id": "snap-1", "files": "nope"}')
    with pytest.raises(StateError, match="is missing") as caught:
        snapshot.load(path)
    assert "files: expected a list" in str(caught.value)
