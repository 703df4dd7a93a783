"""``isollm init``: project files, names, .gitignore, and the errors it gives."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isollm.config import CONFIG_FILE, Config, load, parse
from isollm.config.rules import MAX_PROJECT_NAME_LEN, MIN_PROJECT_NAME_LEN, VALID_PROJECT_NAME
from isollm.errors import IsollmError
from isollm.project import derive_project_name, ensure_gitignore, init_project
from tests.conftest import git


def test_init_in_a_new_repository(git_repo: Path) -> None:
    result = init_project(git_repo)
    assert result.root == git_repo
    assert result.config_path == git_repo / CONFIG_FILE
    assert (result.project, result.gitignore_updated, result.overwritten) == ("repo", True, False)
    loaded = load(git_repo)
    assert loaded.config == Config(project="repo")
    assert (loaded.report.errors, loaded.report.warnings) == ([], [])
    assert stat.S_IMODE((git_repo / ".isollm").stat().st_mode) == 0o700
    assert (git_repo / ".gitignore").read_text() == ".isollm/\n"


def test_init_from_a_subdirectory_writes_to_the_repository_root(git_repo: Path) -> None:
    sub = git_repo / "src" / "pkg"
    sub.mkdir(parents=True)
    assert init_project(sub).config_path == git_repo / CONFIG_FILE
    assert not (sub / CONFIG_FILE).exists()


def test_init_refuses_to_overwrite_without_force(git_repo: Path) -> None:
    init_project(git_repo)
    (git_repo / CONFIG_FILE).write_text("project: mine\n")
    with pytest.raises(IsollmError, match="already exists") as info:
        init_project(git_repo)
    assert "--force" in str(info.value)
    assert (git_repo / CONFIG_FILE).read_text() == "project: mine\n"
    result = init_project(git_repo, force=True)
    assert result.overwritten
    assert load(git_repo).config == Config(project="repo")


def test_init_adds_the_gitignore_entry_once(git_repo: Path) -> None:
    init_project(git_repo)
    init_project(git_repo, force=True)
    assert (git_repo / ".gitignore").read_text().count(".isollm") == 1
    assert git(git_repo, "check-ignore", ".isollm/session.json") == ".isollm/session.json"


@pytest.mark.parametrize("line", [".isollm", ".isollm/", "/.isollm/", "  .isollm/  ", ".isollm\r"])
def test_an_existing_entry_is_recognised(tmp_path: Path, line: str) -> None:
    (tmp_path / ".gitignore").write_text(f"node_modules/\n{line}\n")
    assert not ensure_gitignore(tmp_path)


def test_gitignore_without_a_final_newline_and_in_another_encoding(tmp_path: Path) -> None:
    path = tmp_path / ".gitignore"
    path.write_bytes(b"caf\xe9/\n*.log")
    path.chmod(0o664)
    assert ensure_gitignore(tmp_path)
    assert path.read_bytes() == b"caf\xe9/\n*.log\n.isollm/\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o664


def test_init_outside_a_git_repository(tmp_path: Path) -> None:
    with pytest.raises(IsollmError, match="not inside a git repository") as info:
        init_project(tmp_path)
    assert "git init" in str(info.value)
    assert not (tmp_path / CONFIG_FILE).exists()


def test_init_in_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(IsollmError, match="is not a directory"):
        init_project(tmp_path / "nope")


def test_init_when_the_state_dir_cannot_be_made(git_repo: Path) -> None:
    (git_repo / ".isollm").write_text("a file in the way")
    with pytest.raises(IsollmError, match="cannot set up"):
        init_project(git_repo)


@pytest.mark.parametrize(
    ("folder", "name"),
    [
        ("my-app", "my-app"),
        ("My App_2", "my-app-2"),
        ("2048-game", "game"),
        ("__x__", "project-x"),
        ("123", "project"),
        ("ünïcødé", "unicde"),
        ("Über Projekt", "uber-projekt"),
        ("a" * 80, "a" * 64),
        ("a" * 63 + "-b", "a" * 63),
    ],
)
def test_derive_project_name(folder: str, name: str) -> None:
    assert derive_project_name(folder) == name


@given(st.text(max_size=100))
def test_derived_names_always_pass_validation(folder: str) -> None:
    name = derive_project_name(folder)
    assert VALID_PROJECT_NAME.fullmatch(name)
    assert MIN_PROJECT_NAME_LEN <= len(name) <= MAX_PROJECT_NAME_LEN
    assert parse({"project": name})[1].errors == []


# -- the base branch ----------------------------------------------------------------------


def _base_branch(repo: Path) -> str:
    return load(repo).valid().git.base_branch


def test_init_writes_the_checked_out_branch_as_base(tmp_path: Path) -> None:
    repo = tmp_path / "legacy"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "master")
    result = init_project(repo)  # an unborn branch counts: it is where work will go
    assert (result.base.name, result.base.source) == ("master", "the current branch")
    assert _base_branch(repo) == "master"


def test_a_detached_clone_uses_the_remote_default_branch(git_repo: Path, tmp_path: Path) -> None:
    git(git_repo, "branch", "-m", "main", "trunk")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(git_repo), str(clone))
    git(clone, "checkout", "-q", "--detach")
    git(clone, "config", "init.defaultBranch", "ignored")
    result = init_project(clone)
    assert result.base.name == "trunk"
    assert "remote origin" in result.base.source
    assert _base_branch(clone) == "trunk"


def test_detached_without_a_remote_uses_init_default_branch_then_main(
    git_repo: Path, hermetic_env: Path
) -> None:
    git(git_repo, "checkout", "-q", "--detach")
    git(git_repo, "branch", "develop")  # init.defaultBranch counts when the branch exists
    git(git_repo, "config", "init.defaultBranch", "develop")
    assert init_project(git_repo).base.name == "develop"
    git(git_repo, "config", "--unset", "init.defaultBranch")
    (hermetic_env / ".gitconfig").write_text("")
    result = init_project(git_repo, force=True)
    assert (result.base.name, _base_branch(git_repo)) == ("main", "main")
