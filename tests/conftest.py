"""Hermetic tests: no test touches the real $HOME, git identity is pinned."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import settings

# No per-example deadline: CI machines are shared and slow moments are not bugs.
settings.register_profile("isollm", deadline=None)
settings.load_profile("isollm")

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "isollm test",
    "GIT_AUTHOR_EMAIL": "test@isollm.invalid",
    "GIT_COMMITTER_NAME": "isollm test",
    "GIT_COMMITTER_EMAIL": "test@isollm.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


@pytest.fixture(autouse=True)
def hermetic_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private HOME and ISOLLM_HOME per test; no editor, no stray GIT_* variables."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("ISOLLM_HOME", str(home / ".isollm"))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    for key in list(os.environ):
        if key.startswith("GIT_") and key not in GIT_IDENTITY and key != "GIT_CONFIG_GLOBAL":
            monkeypatch.delenv(key)
    for key, value in GIT_IDENTITY.items():
        monkeypatch.setenv(key, value)
    for key in (
        "VISUAL",
        "EDITOR",
        "AIRYRA_HOST",
        "AIRYRA_PORT",
        "AIRYRA_PROJECT",
        "AIRYRA_AGENT",
        "AIRYRA_TOKEN",
    ):
        monkeypatch.delenv(key, raising=False)
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
    return home


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """A git repository on branch main with one commit."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("# sample\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-q", "-m", "initial commit")
    return repo


def skip_or_fail(reason: str) -> None:
    """Skip a test whose backend this machine lacks, but fail in CI (CI=true), where
    `.ci/run` installs every backend and a silent skip would hide a broken install."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI installs it: see ./dev setup)")
    pytest.skip(reason)
