"""`isollm demo`, the README's main-job command, as a user runs it."""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path

from isollm.demo.sample import TASKS
from tests.e2e.cli import isollm


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_the_demo_runs_every_sample_task_to_a_commit_on_its_branch(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    result = isollm(tmp_path, "demo", str(target), "--plain")

    total = len(TASKS)
    assert f"{total} tasks: {total} done, 0 failed, 0 blocked" in result.stdout
    produced = re.findall(
        r"^(ar-[0-9a-f]+)  (.+)  \[(isollm/ar-[0-9a-f]+) @ ([0-9a-f]{10})\]$", result.stdout, re.M
    )
    assert sorted(title for _, title, _, _ in produced) == sorted(t.title for t in TASKS)
    hub = next((target / ".isollm-home").glob("*.git"))
    for task_id, _, branch, head in produced:
        assert branch == f"isollm/{task_id}"
        sha = git(hub, "rev-parse", branch).strip()
        assert sha.startswith(head)
        assert f"isollm task {task_id}" in git(hub, "log", "-1", "--format=%B", sha)
        assert git(target, "rev-parse", branch).strip() == sha  # pulled into the demo repo
    # a dependent task saw its dependency's file merged into its workspace
    branch_of = {title: branch for _, title, branch, _ in produced}
    files = git(hub, "ls-tree", "-r", "--name-only", branch_of["Test slugify()"]).split()
    assert {"textkit/slug.py", "tests/test_slug.py"} <= set(files)
    # the task server the demo started is stopped again
    config = (target / "isollm.yaml").read_text()
    port = re.search(r"^  port: (\d+)$", config, re.M)
    assert port is not None
    assert not port_in_use(int(port.group(1)))


def test_the_demo_refuses_a_directory_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine\n")
    result = isollm(tmp_path.parent, "demo", str(tmp_path), "--plain", code=1)
    assert "is not empty" in result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "keep.txt").read_text() == "mine\n"
