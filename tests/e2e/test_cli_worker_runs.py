"""Workers and runs stay apart (issue #12 item 6): ``worker list`` never takes a run's
sandboxes as workers, and ``worker exec/shell --agent A`` give an agent what a run gives it.
Real overlay sandboxes, the installed command, a run state as a run writes it."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from isollm import fsutil
from isollm.runner import runstate
from isollm.sandbox import registry
from isollm.sandbox.base import Sandbox
from isollm.sandbox.workers import Project, ensure_hub, spec_for
from tests.e2e.cli import as_json, isollm
from tests.e2e.test_cli_worker import project, run_in

__all__ = ["project"]

pytestmark = pytest.mark.timeout(300)


def run_sandbox(root: Path, *, alive: bool) -> tuple[str, Sandbox]:
    """A run (alive: this test process runs it; dead: its process is gone) and its
    first worker's sandbox, named as the runner names it."""
    state = runstate.create_run(root, workers=1, agent="command", config_digest="sha256:x")
    if not alive:  # the recorded process was another one that has since gone
        state = dataclasses.replace(state, pid_start=-1)
        runstate.save_run(root, state)
    p = Project.load(root)
    name = f"run-{state.id}-w1"
    return state.id, registry.create(spec_for(p, name, ensure_hub(p)), "overlay")


def rows(root: Path) -> dict[str, dict[str, str]]:
    return {r["name"]: r for r in as_json(root, "worker", "list")["workers"]}


def test_a_running_runs_sandboxes_are_never_adopted_and_leave_no_record(project: Path) -> None:
    isollm(project, "worker", "add", "w1")
    run_id, sb = run_sandbox(project, alive=True)
    state = Project.load(project).state

    row = rows(project)[sb.name]
    assert (row["status"], row["run"], row["problem"]) == (
        "in use",
        run_id,
        f"in use by run {run_id}",
    )
    assert not state.worker_path(sb.name).exists()  # nothing saved about it
    assert f"└─ in use by run {run_id}" in isollm(project, "worker", "list").stdout
    for command in (["remove", sb.name], ["reset", sb.name], ["adopt", sb.name]):
        refused = isollm(project, "worker", *command, code=1)
        assert f"belongs to run {run_id}, which is running" in refused.stderr
    assert sb.status().value == "running"

    sb.destroy()  # the run ends and removes its sandbox
    assert list(rows(project)) == ["w1"]  # no "its sandbox is gone" left behind
    assert not state.worker_path(sb.name).exists()


def test_a_dead_runs_leftover_is_shown_then_adopted_or_removed(project: Path) -> None:
    run_id, sb = run_sandbox(project, alive=False)
    _, other = run_sandbox(project, alive=False)
    state = Project.load(project).state

    row = rows(project)[sb.name]
    assert (row["status"], row["run"]) == ("leftover", run_id)
    assert f"isollm worker adopt {sb.name}" in row["problem"]
    assert not state.worker_path(sb.name).exists()

    isollm(project, "worker", "adopt", "--force", sb.name)  # the run could be resumed
    adopted = rows(project)[sb.name]
    assert (adopted["status"], adopted["run"], adopted["problem"]) == ("idle", "", "")
    done = run_in(project, "worker", "exec", sb.name, "--", "git", "status", "--short")
    assert done.returncode == 0, done

    assert "nothing was lost" in isollm(project, "worker", "remove", other.name).stdout
    assert "nothing was lost" in isollm(project, "worker", "remove", sb.name).stdout
    assert rows(project) == {}


def test_a_record_left_by_an_old_adoption_is_dropped_once_the_run_is_gone(
    project: Path,
) -> None:
    _, sb = run_sandbox(project, alive=False)
    isollm(project, "worker", "adopt", "--force", sb.name)
    sb.destroy()  # e.g. the run was resumed and cleaned up after itself
    assert rows(project) == {}
    assert not Project.load(project).state.worker_path(sb.name).exists()


FAKE_CLAUDE = """#!/bin/sh
echo "fake claude key=$ANTHROPIC_API_KEY sandbox=$IS_SANDBOX"
"""


def test_exec_and_shell_with_an_agent_get_its_key_and_install(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = Path.home()  # a private home of this test: hidden inside the sandbox
    bin_dir = home / ".local" / "bin"
    bin_dir.mkdir(parents=True)
    cli = bin_dir / "claude"
    cli.write_text(FAKE_CLAUDE)
    cli.chmod(0o755)
    (home / ".local" / "secret.txt").write_text("not for agents\n")
    key = "sk-ant-test-" + os.urandom(6).hex()
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("ANTHROPIC_API_KEY", key)
    isollm(project, "worker", "add", "w1")
    script = '"$ISOLLM_AGENT_BIN"; cat "$1" || echo hidden'
    secret = str(home / ".local" / "secret.txt")

    plain = run_in(project, "worker", "exec", "w1", "--", "sh", "-c", script, "sh", secret)
    assert key not in plain.stdout
    assert "hidden" in plain.stdout  # no agent: nothing of the home is shown
    bare = run_in(project, "worker", "exec", "w1", "--", "sh", "-c", f"{cli} || echo missing")
    assert "missing" in bare.stdout

    done = run_in(
        project, "worker", "exec", "--agent", "claude", "w1", "--", "sh", "-c", script, "sh", secret
    )
    assert done.returncode == 0, done
    assert f"fake claude key={key} sandbox=1" in done.stdout
    assert "hidden" in done.stdout  # exactly the install, nothing around it
    assert f"run it as {cli}" in done.stderr
    shell = run_in(
        project, "worker", "shell", "--agent", "claude", "w1", stdin='"$ISOLLM_AGENT_BIN"\n'
    )
    assert f"fake claude key={key}" in shell.stdout

    # the key went to the process only: nothing on disk holds it
    for root in (fsutil.isollm_home(), project / ".isollm"):
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                try:
                    assert key.encode() not in path.read_bytes(), path
                except OSError:
                    continue

    missing = isollm(project, "worker", "exec", "--agent", "codex", "w1", "--", "true", code=1)
    assert "codex" in missing.stderr
