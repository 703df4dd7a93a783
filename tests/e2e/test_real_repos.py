"""isollm on repositories as users have them, not as tests make them.

One messy repository per test, driven through the README's path (init, task add, run,
run show, diff, merge, sync pull) with the installed command: a base branch that is not
main, odd file names (spaces, a newline, bytes that are not UTF-8), symlinks pointing
inside, outside and nowhere, an executable bit, a git-lfs pointer under a ``filter=lfs``
attribute, a submodule never initialized, a dirty work tree with untracked files; and a
user-level ``~/.gitconfig`` that would break isollm if it leaked into the hub or a
sandbox: an ``init.templateDir`` and a ``core.hooksPath`` full of failing hooks,
``commit.gpgSign`` with a gpg that fails, ``core.autocrlf``, a required lfs filter whose
program is not installed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.conftest import git
from tests.e2e.run_support import RunProject, run_project

pytestmark = pytest.mark.timeout(180)

HOOKS = ("pre-commit", "commit-msg", "post-commit", "pre-push", "post-checkout", "post-merge")


def hostile_gitconfig(home: Path, *, broken_lfs: bool = True) -> Path:
    """Write a ``~/.gitconfig`` whose hooks, templates and signing all fail loudly (and,
    with ``broken_lfs``, a required lfs filter that is not installed); the file every
    hook and the fake gpg append to when they run."""
    ran = home / "user-hooks-ran"
    script = f'#!/bin/sh\necho "$0 $PWD" >> "{ran}"\nexit 1\n'
    for folder in (home / "hooks", home / "template" / "hooks"):
        folder.mkdir(parents=True)
        for hook in HOOKS:
            (folder / hook).write_text(script)
            (folder / hook).chmod(0o755)
    gpg = home / "gpg"
    gpg.write_text(script)
    gpg.chmod(0o755)
    lfs = (
        '[filter "lfs"]\n\tclean = git-lfs-missing clean -- %f\n'
        "\tsmudge = git-lfs-missing smudge -- %f\n"
        "\tprocess = git-lfs-missing filter-process\n\trequired = true\n"
    )
    (home / ".gitconfig").write_text(
        "[init]\n\tdefaultBranch = main\n"
        f"\ttemplateDir = {home / 'template'}\n"
        f"[core]\n\thooksPath = {home / 'hooks'}\n\tautocrlf = true\n"
        "[user]\n\tsigningKey = 0xDEADBEEF\n"
        "[commit]\n\tgpgSign = true\n[tag]\n\tgpgSign = true\n"
        f"[gpg]\n\tprogram = {gpg}\n" + (lfs if broken_lfs else "")
    )
    return ran


LFS_POINTER = (
    "version https://git-lfs.github.com/spec/v1\n"
    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    "size 12345\n"
)


def make_messy(repo: Path) -> None:
    """Commit the odd things real repositories hold, on a base branch named trunk."""
    git(repo, "branch", "-m", "main", "trunk")
    (repo / ".gitattributes").write_text("*.bin filter=lfs diff=lfs merge=lfs -text\n")
    (repo / "model.bin").write_text(LFS_POINTER)
    # Older than the index: git status never hashes it again (the user's broken lfs
    # filter would then fail it, as it fails theirs).
    os.utime(repo / "model.bin", (time.time() - 3600,) * 2)
    (repo / "notes.txt").write_text("first line\n")
    (repo / "dir with space").mkdir()
    (repo / "dir with space" / "file name.txt").write_text("x\n")
    Path(os.fsdecode(bytes(repo) + b"/caf\xe9.txt")).write_text("latin-1 name\n")
    (repo / "new\nline.txt").write_text("newline in the name\n")
    (repo / "run.sh").write_text("#!/bin/sh\necho run\n")
    (repo / "run.sh").chmod(0o755)
    (repo / "link-in").symlink_to("README.md")
    (repo / "link-out").symlink_to("/etc/passwd")
    (repo / "link-dangling").symlink_to("nowhere")
    (repo / ".gitmodules").write_text('[submodule "vendor"]\n\tpath = vendor\n\turl = ../gone\n')
    git(repo, "add", "-A")
    head = git(repo, "rev-parse", "HEAD")  # a submodule commit nobody can fetch: never inited
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{head},vendor")
    (repo / "vendor").mkdir()  # as a clone without --recurse-submodules leaves it
    git(repo, "commit", "-q", "-m", "a repository as users have them")


# Appends a line to notes.txt, makes it executable, edits a file with spaces in its path
# and adds a new one; commits nothing (isollm commits what an agent leaves).
EDIT_FILES = (
    'echo "second line" >> notes.txt; chmod +x notes.txt; '
    'echo more >> "dir with space/file name.txt"; echo new > "new file.txt"'
)
CHANGED = ["dir with space/file name.txt", "new file.txt", "notes.txt"]


def changed_on_hub(p: RunProject, task_id: str) -> list[str]:
    return p.git_hub("diff", "--numstat", "trunk", p.branch(task_id)).splitlines()


def test_a_messy_repository_and_a_hostile_gitconfig(git_repo: Path, hermetic_env: Path) -> None:
    make_messy(git_repo)
    with run_project(git_repo) as p:
        p.use_agent(EDIT_FILES)
        task_id = p.add("Edit some files")
        (git_repo / "README.md").write_text("# sample, edited by hand\n")
        (git_repo / "scratch.txt").write_text("untracked\n")
        ran = hostile_gitconfig(hermetic_env)

        assert p.config.git.base_branch == "trunk"
        ran_run = p.isollm("run", "--plain")
        assert p.task(task_id).status == "done"
        # the user is told their edits are not what agents start from
        assert "uncommitted changes in your work tree (README.md, scratch.txt)" in " ".join(
            ran_run.stdout.split()
        )
        assert "Edit some files" in p.isollm("run", "show").stdout
        # line endings as committed (autocrlf never reached the checkout), the new mode
        assert changed_on_hub(p, task_id) == [
            "1\t0\tdir with space/file name.txt",
            "1\t0\tnew file.txt",
            "1\t0\tnotes.txt",
        ]
        tree = p.git_hub("ls-tree", p.branch(task_id), "notes.txt", "model.bin", "vendor")
        assert [line.split()[0] for line in tree.splitlines()] == ["100644", "100755", "160000"]
        assert p.hub_show(task_id, "model.bin") + "\n" == LFS_POINTER
        assert "notes.txt" in p.isollm("diff", task_id, "--stat").stdout
        assert not (p.hub / "hooks").exists() or not list((p.hub / "hooks").iterdir())

        p.isollm("merge", "--all")
        assert not ran.exists(), ran.read_text()  # no hook of the user's, no signing

        pulled = p.isollm("sync", "pull").stdout
        assert "uncommitted changes (in README.md); left alone" in pulled
        (git_repo / "README.md").write_text("# sample\n")  # the user's edit undone
        p.isollm("sync", "pull")
        assert git(git_repo, "rev-parse", "trunk") == p.git_hub("rev-parse", "trunk")
        assert (git_repo / "notes.txt").read_text() == "first line\nsecond line\n"
        assert (git_repo / "scratch.txt").read_text() == "untracked\n"


def test_a_linked_worktree_as_the_project_and_the_worktree_backend(
    git_repo: Path, hermetic_env: Path
) -> None:
    """The project root is a ``git worktree add`` checkout on branch develop; agents run
    in the worktree backend, which shares the user's git config: their hooks and commit
    signing must still stay out of the commits isollm makes there. (A broken lfs filter
    is not tried here: the user's own git would fail in that repository too.)"""
    make_messy(git_repo)
    linked = git_repo.parent / "linked tree"
    git(git_repo, "worktree", "add", "-q", "-b", "develop", str(linked))
    with run_project(linked) as p:
        p.configure(backend="worktree", workers=1)
        p.use_agent(EDIT_FILES)
        task_id = p.add("Edit some files")
        ran = hostile_gitconfig(hermetic_env, broken_lfs=False)

        p.isollm("run", "--plain")
        assert p.task(task_id).status == "done", p.isollm("run", "show").stdout
        assert not ran.exists(), ran.read_text()
        diff = p.git_hub("diff", "--name-only", "develop", p.branch(task_id)).splitlines()
        assert diff == CHANGED
        p.isollm("merge", "--all")
        p.isollm("sync", "pull")
        assert git(linked, "rev-parse", "develop") == p.git_hub("rev-parse", "develop")
