"""fsutil.read_bounded: a regular file inside a root, no symlink followed, at most so
many bytes; anything else refused without reading it (and without blocking)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from isollm import fsutil
from isollm.agents import WorkerContext, install
from isollm.agents.instructions import BEGIN


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "ws" / "docs").mkdir(parents=True)
    (tmp_path / "ws" / "docs" / "AGENTS.md").write_text("# ours\n")
    (tmp_path / "outside.txt").write_text("host secret\n")
    return tmp_path / "ws"


def test_a_small_regular_file_is_read(root: Path) -> None:
    assert fsutil.read_bounded(root, "docs/AGENTS.md") == b"# ours\n"
    assert fsutil.read_bounded(root, "missing.md") is None
    assert fsutil.read_bounded(root, "nodir/missing.md") is None


@pytest.mark.parametrize(
    "plant",
    [
        lambda r: (r / "AGENTS.md").symlink_to("/dev/zero"),
        lambda r: (r / "AGENTS.md").symlink_to(r.parent / "outside.txt"),
        lambda r: (r / "AGENTS.md").symlink_to("docs/AGENTS.md"),  # even inside: no symlinks
        lambda r: os.mkfifo(r / "AGENTS.md"),
        lambda r: os.truncate(os.open(r / "AGENTS.md", os.O_CREAT | os.O_WRONLY), 2 << 30),
        lambda r: (r / "AGENTS.md").mkdir(),
    ],
    ids=["dev-zero", "outside", "inside-link", "fifo", "sparse-2g", "directory"],
)
def test_anything_but_a_small_regular_file_is_refused(root: Path, plant: object) -> None:
    plant(root)  # type: ignore[operator]
    with pytest.raises(fsutil.UnsafeFileError):
        fsutil.read_bounded(root, "AGENTS.md")


def test_a_symlinked_directory_on_the_way_is_refused(root: Path) -> None:
    (root / "link").symlink_to(root.parent)
    with pytest.raises(fsutil.UnsafeFileError):
        fsutil.read_bounded(root, "link/outside.txt")


@pytest.mark.parametrize("rel", ["../outside.txt", "/etc/passwd", ""])
def test_paths_leaving_the_root_are_refused(root: Path, rel: str) -> None:
    with pytest.raises(fsutil.UnsafeFileError):
        fsutil.read_bounded(root, rel)


def test_the_limit_is_a_limit(root: Path) -> None:
    (root / "big").write_bytes(b"x" * 101)
    assert fsutil.read_bounded(root, "big", limit=101) == b"x" * 101
    with pytest.raises(fsutil.UnsafeFileError, match="more than the 100"):
        fsutil.read_bounded(root, "big", limit=100)
    assert fsutil.read_bounded(root, "big", limit=100, head=True) == b"x" * 100
    (root / "link").symlink_to(root / "big")
    with pytest.raises(fsutil.UnsafeFileError):
        fsutil.read_bounded(root, "link", limit=100, head=True)


def test_read_tail_reads_only_the_end(root: Path) -> None:
    (root / "log").write_bytes(b"a" * 1000 + b"END")
    assert fsutil.read_tail(root / "log", 5) == b"aaEND"
    assert fsutil.read_tail(root / "nothing", 5) == b""
    (root / "link").symlink_to("/dev/zero")
    with pytest.raises(OSError, match="symbolic links"):  # ELOOP: never follows a symlink
        fsutil.read_tail(root / "link", 5)


@pytest.mark.parametrize("target", ["/dev/zero", "/etc/passwd"])
def test_installing_over_a_planted_instruction_link_replaces_it_unread(
    git_repo: Path, target: str
) -> None:
    (git_repo / "AGENTS.md").symlink_to(target)
    path = install(git_repo, "AGENTS.md", WorkerContext(project="p", worker="w1"))
    assert not path.is_symlink()
    text = path.read_text()
    assert text.startswith(BEGIN)
    assert "root:" not in text
