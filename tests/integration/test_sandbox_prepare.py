"""Which files `.worktreeinclude` brings into new sandboxes (real git)."""

from __future__ import annotations

from pathlib import Path

from isollm.sandbox.prepare import worktree_includes
from tests.conftest import git


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_only_ignored_untracked_files_matching_the_patterns(git_repo: Path) -> None:
    write(git_repo, {".gitignore": ".env*\nsecrets/\n*.log\n", "tracked.env.example": "x"})
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "ignore rules")
    write(
        git_repo,
        {
            ".worktreeinclude": "# copied into sandboxes\n.env\n.env.local\nsecrets/\nnotes.txt\n",
            ".env": "A=1",
            ".env.local": "B=2",
            ".env.other": "not listed",
            "secrets/key.pem": "k",
            "secrets/deep/token": "t",
            "notes.txt": "listed but not ignored: it belongs in git, not copied",
            "debug.log": "ignored but not listed",
        },
    )
    assert worktree_includes(git_repo) == (
        ".env",
        ".env.local",
        "secrets/deep/token",
        "secrets/key.pem",
    )


def test_no_include_file_means_nothing(git_repo: Path) -> None:
    write(git_repo, {".gitignore": ".env\n", ".env": "A=1"})
    assert worktree_includes(git_repo) == ()


def test_an_include_file_matching_nothing(git_repo: Path) -> None:
    write(git_repo, {".worktreeinclude": ".env\n"})
    assert worktree_includes(git_repo) == ()
