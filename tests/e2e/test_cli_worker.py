"""`isollm worker ...` as a user runs it: the installed command, real git, real sandboxes."""

from __future__ import annotations

import dataclasses
import shlex
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from isollm import config as cfg
from isollm import fsutil
from isollm.git.hub import Hub
from isollm.sandbox import registry
from isollm.sandbox.workers import Project, ensure_hub, spec_for
from tests.conftest import git, skip_or_fail
from tests.e2e.cli import ISOLLM, as_json, isollm
from tests.integration.sandbox_support import unmount_under


def configure(root: Path, **sandbox: Any) -> None:
    loaded = cfg.load(root)
    new = dataclasses.replace(
        loaded.config, sandbox=dataclasses.replace(loaded.config.sandbox, **sandbox)
    )
    cfg.save(loaded.path, new)


@pytest.fixture
def project(git_repo: Path) -> Iterator[Path]:
    isollm(git_repo, "init")
    # Containers are machine-wide: a name of its own keeps parallel tests out of each
    # other's `worker list`.
    loaded = cfg.load(git_repo)
    unique = f"repo-{uuid.uuid4().hex[:8]}"
    cfg.save(loaded.path, dataclasses.replace(loaded.config, project=unique))
    (git_repo / ".gitignore").write_text(".isollm/\n.env\n")
    (git_repo / ".worktreeinclude").write_text(".env\n")
    (git_repo / ".env").write_text("TOKEN=local\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "isollm init")
    yield git_repo
    for name in registry.list_sandboxes(cfg.load(git_repo).config.project)[0]:
        name.destroy()
    unmount_under(fsutil.isollm_home())


def run_in(cwd: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    command = [ISOLLM, *args]
    return subprocess.run(
        command, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=120, check=False
    )


def test_add_list_exec_logs_remove(project: Path) -> None:
    info = as_json(project, "worker", "add")
    assert (info["name"], info["backend"], info["branch"]) == ("worker-1", "overlay", "main")
    assert info["status"] == "running"
    text = isollm(project, "worker", "add", "w2", "--branch", "isollm/ar-1").stdout
    assert "w2 is ready: overlay sandbox, branch isollm/ar-1" in text

    rows = as_json(project, "worker", "list")["workers"]
    assert [(r["name"], r["status"], r["branch"]) for r in rows] == [
        ("w2", "idle", "isollm/ar-1"),
        ("worker-1", "idle", "main"),
    ]
    table = isollm(project, "worker", "list").stdout.splitlines()
    assert table[0].split() == ["NAME", "BACKEND", "STATUS", "ADDRESS", "TASK", "BRANCH"]

    done = run_in(project, "worker", "exec", "worker-1", "--", "sh", "-c", "cat .env; exit 5")
    assert (done.returncode, done.stdout) == (5, "TOKEN=local\n")
    shell = run_in(project, "worker", "shell", "w2", stdin="git branch --show-current; exit 3\n")
    assert (shell.returncode, shell.stdout.strip().splitlines()[-1]) == (3, "isollm/ar-1")
    assert "built" in isollm(project, "worker", "logs", "worker-1").stdout

    assert "nothing was lost" in isollm(project, "worker", "remove", "worker-1").stdout
    assert [r["name"] for r in as_json(project, "worker", "list")["workers"]] == ["w2"]


def test_reset_and_remove_refuse_to_lose_work_unless_forced(project: Path) -> None:
    isollm(project, "worker", "add", "w1", "--branch", "isollm/ar-9")
    isollm(project, "worker", "exec", "w1", "--", "sh", "-c", "echo wip > wip.txt")
    refused = isollm(project, "worker", "reset", "w1", code=1)
    assert "1 uncommitted change(s): wip.txt" in refused.stderr
    assert "--force" in refused.stderr
    assert "Traceback" not in refused.stderr
    isollm(project, "worker", "exec", "w1", "--", "sh", "-c", "git add -A; git commit -qm wip")
    refused = isollm(project, "worker", "remove", "w1", code=1)
    assert "1 unpushed commit(s) on isollm/ar-9" in refused.stderr
    forced = isollm(project, "worker", "reset", "w1", "--force")
    assert "discarded (--force): 1 unpushed commit(s) on isollm/ar-9" in forced.stderr
    clean = isollm(project, "worker", "exec", "w1", "--", "sh", "-c", "git status --porcelain; ls")
    assert "wip.txt" not in clean.stdout

    isollm(
        project, "worker", "exec", "w1", "--", "sh", "-c", "echo x > y; git add y; git commit -qm y"
    )
    # the hub is read-only inside: work is saved only by a run's intake; dropped here
    isollm(project, "worker", "exec", "w1", "--", "git", "reset", "-q", "--hard", "HEAD~1")
    assert "nothing was lost" in isollm(project, "worker", "remove", "w1").stdout


def test_a_failing_setup_is_shown_and_leaves_no_worker(project: Path) -> None:
    configure(project, setup=["sh", "-c", "echo resolving; echo 'npm ERR! missing' >&2; exit 4"])
    failed = isollm(project, "worker", "add", "w1", code=1)
    assert "setup command failed" in failed.stderr
    assert "npm ERR! missing" in failed.stderr
    assert "resolving" in failed.stderr
    assert as_json(project, "worker", "list")["workers"] == []


def test_leftovers_of_a_crash_show_up_and_can_be_removed(project: Path) -> None:
    isollm(project, "worker", "add", "w1")
    p = Project.load(project)
    orphan = registry.create(spec_for(p, "w9", ensure_hub(p)), "overlay")  # no record: a crash
    p.state.save_worker(dataclasses.replace(p.state.load_worker("w1"), name="ghost"))

    rows = {r["name"]: r for r in as_json(project, "worker", "list")["workers"]}
    assert rows["w9"]["status"] == "idle"
    assert "adopted" in rows["w9"]["problem"]
    assert (rows["ghost"]["status"], rows["ghost"]["problem"]) == ("error", "its sandbox is gone")
    text = isollm(project, "worker", "list").stdout
    assert "└─ its sandbox is gone" in text

    isollm(project, "worker", "remove", "ghost")
    isollm(project, "worker", "remove", "w9")
    assert orphan.status().value == "missing"
    assert [r["name"] for r in as_json(project, "worker", "list")["workers"]] == ["w1"]


def test_unknown_workers_and_bad_names_are_user_errors(project: Path) -> None:
    missing = isollm(project, "worker", "exec", "nope", "--", "true", code=1)
    assert "no sandbox named 'nope'" in missing.stderr
    bad = isollm(project, "worker", "add", "no/slashes", code=1)
    assert "not a valid worker name" in bad.stderr
    assert "no workers yet" in isollm(project, "worker", "list").stdout


@pytest.mark.lxc
def test_lxc_workers_run_as_dev_in_a_container(project: Path) -> None:
    reason = registry.available("lxc")
    if reason:
        skip_or_fail(f"lxc backend unavailable on this machine: {reason}")
    configure(project, backend="lxc", network="none", pids=256, memory="512M")
    info = as_json(project, "worker", "add", "c1")
    assert (info["backend"], info["workspace"], info["address"]) == ("lxc", "/home/dev/project", "")
    done = run_in(project, "worker", "exec", "c1", "--", "sh", "-c", "id -un; cat .env; pwd")
    assert done.stdout.splitlines() == ["dev", "TOKEN=local", "/home/dev/project"]
    v2 = Path("/sys/fs/cgroup/cgroup.controllers").exists()
    memory = "memory.max" if v2 else "memory.limit_in_bytes"
    for key, value in (("pids.max", "256"), (memory, str(512 * 1024**2))):
        shown = subprocess.run(
            ["lxc-cgroup", "-n", info["id"], key], capture_output=True, text=True, check=True
        )
        assert shown.stdout.strip() == value
    assert as_json(project, "worker", "list")["workers"][0]["status"] == "idle"
    isollm(project, "worker", "remove", "c1")


def hub_ref(project: Path, ref: str) -> str:
    hub = Hub.for_project(cfg.load(project).config.project).path
    return git(hub, "rev-parse", "-q", "--verify", ref) if ref else ""


def exec_in(project: Path, name: str, script: str) -> str:
    return isollm(project, "worker", "exec", name, "--", "sh", "-c", script).stdout.strip()


def test_save_takes_a_manual_workers_commits_to_the_hub(project: Path) -> None:
    isollm(project, "worker", "add", "w1", "--branch", "isollm/ar-5")
    refused = isollm(project, "worker", "save", "w1", code=1)
    assert "nothing to save" in refused.stderr

    head = exec_in(
        project,
        "w1",
        "echo one > one.txt; git add one.txt; git commit -qm one; "
        "echo wip > wip.txt; git rev-parse HEAD",
    )
    saved = as_json(project, "worker", "save", "w1")
    assert saved["ref"].startswith("refs/isollm/salvage/w1/")
    assert (saved["commit"], saved["old"], saved["left_uncommitted"]) == (
        head,
        None,
        ["?? wip.txt"],
    )
    assert hub_ref(project, saved["ref"]) == head
    git(project, *shlex.split(saved["fetch"])[1:])  # the printed command works as shown
    assert git(project, "show", "FETCH_HEAD:one.txt") == "one"

    # --commit commits the leftovers inside first; --branch: the worker's own work branch
    text = isollm(project, "worker", "save", "w1", "--branch", "isollm/ar-5", "--commit", "wip")
    tip = hub_ref(project, "refs/heads/isollm/ar-5")
    assert f"saved {tip[:12]} to refs/heads/isollm/ar-5" in text.stdout
    assert "fetch it: git fetch" in text.stdout
    hub = Hub.for_project(cfg.load(project).config.project).path
    assert git(hub, "show", f"{tip}:wip.txt") == "wip"
    assert git(hub, "rev-parse", f"{tip}~1") == head
    # saved: nothing is lost any more
    assert "nothing was lost" in isollm(project, "worker", "reset", "w1").stdout


def test_save_rewrites_only_the_workers_own_branch_and_keeps_the_old_tip(project: Path) -> None:
    isollm(project, "worker", "add", "w1", "--branch", "isollm/ar-6")
    exec_in(project, "w1", "echo a > a; git add a; git commit -qm a")
    first = as_json(project, "worker", "save", "w1", "--branch", "isollm/ar-6")["commit"]
    exec_in(project, "w1", "echo b > a; git commit -qam b --amend")
    text = isollm(project, "worker", "save", "w1", "--branch", "isollm/ar-6").stdout
    assert "old tip is kept at refs/isollm/backup/heads/isollm/ar-6/" in text
    backup = text.split("kept at ")[1].split()[0]
    assert hub_ref(project, backup) == first

    # another worker may not write w1's branch, the base branch, or outside the prefix
    isollm(project, "worker", "add", "w2")
    exec_in(project, "w2", "git checkout -qb mine; echo c > c; git add c; git commit -qm c")
    for branch, why in (
        ("isollm/ar-6", "the hub already has it"),
        ("main", "it is the base branch"),
        ("elsewhere", "nor a new branch under 'isollm/'"),
    ):
        refused = isollm(project, "worker", "save", "w2", "--branch", branch, code=1)
        assert why in refused.stderr, refused.stderr
    assert hub_ref(project, "refs/heads/isollm/ar-6") != first  # untouched by w2
    assert git(project, "rev-parse", "main") == hub_ref(project, "refs/heads/main")
    new = as_json(project, "worker", "save", "w2", "--branch", "isollm/w2-save")
    assert new["ref"] == "refs/heads/isollm/w2-save"
    assert hub_ref(project, new["ref"]) == new["commit"]


def test_removing_unsaved_work_names_worker_save(project: Path) -> None:
    isollm(project, "worker", "add", "w1")
    exec_in(project, "w1", "echo x > x.txt")
    refused = isollm(project, "worker", "remove", "w1", code=1)
    assert "isollm worker save w1" in refused.stderr
