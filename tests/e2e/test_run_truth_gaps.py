"""What the run says is true (issue #12, the gaps left after the first pass), end to end:

- a run that ran to its end with a task blocked or delivered flagged is recorded
  ``needs-attention``, never ``completed``, and exits 1;
- ``isollm worker adopt`` of a killed run's sandbox refuses while the run can be resumed
  (unless forced), and a resumed run leaves an adopted sandbox alone;
- a disk that fills up mid-run (a real 8 MB tmpfs under the run directory, or a tmpfs
  as ``ISOLLM_HOME``, or one holding only the hub, too small for a task's work) stops the
  run with a plain "disk is full" error, nothing half-written, no task stranded or
  charged, and ``--resume`` finishes it once space is freed;
- ``worker exec/shell --agent A`` write A's settings files as a run does (no secret in
  them), besides giving it A's environment.

Real ``isollm`` commands with the ``command`` agent, a real hub, task server and sandboxes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from isollm.git import intake
from isollm.git.hub import HEADROOM, Hub, HubFullError, check_room
from isollm.runner import ledger, receipts, runstate
from isollm.runner.crashes import disk_full
from isollm.runner.layout import RunPaths
from isollm.sandbox import registry
from tests.conftest import git
from tests.e2e.cli import ISOLLM
from tests.e2e.run_support import (
    WRITE_TASK_FILE,
    RunProject,
    agents_running,
    events_of,
    run_project,
    story,
    wait_for,
)

pytestmark = pytest.mark.timeout(240)


# --- a run whose tasks need a person is not "completed" ------------------------------------

NEVER_APPROVES = """
case "$1" in
  "Review the change"*) echo "VERDICT: CHANGES not good enough" ;;
  *) printf "%s\\n" "$ISOLLM_TASK_TITLE" > "task-$ISOLLM_TASK_ID.txt" ;;
esac
"""


def test_a_run_with_only_an_unapproved_task_left_needs_attention(project: RunProject) -> None:
    project.use_agent(NEVER_APPROVES, review=True, max_review_rounds=1)
    project.add("Reviewed")

    result = project.isollm("run", "--plain", code=1)

    assert "run finished - needs-attention" in result.stdout
    assert "delivered but not a success" in result.stderr
    shown = project.json("run", "show")
    assert shown["status"] == "needs-attention"
    assert shown["totals"]["flagged"] == 1
    [finished] = events_of(project.ledger(), "run.finished")
    assert finished["status"] == "needs-attention"
    assert "needs-attention" in project.isollm("run", "list").stdout
    refused = project.isollm("run", "--resume", code=None)
    assert refused.returncode != 0
    assert "is needs-attention and cannot be resumed" in refused.stderr


def test_a_run_with_a_blocked_task_needs_attention(project: RunProject) -> None:
    project.use_agent(
        f'case "$ISOLLM_TASK_TITLE" in Broken*) exit 3;; esac; {WRITE_TASK_FILE}', max_attempts=1
    )
    project.add("Fine")
    broken = project.add("Broken")

    result = project.isollm("run", "--plain", "-n", "1", code=1)

    assert project.task(broken).status == "blocked"
    assert "run finished - needs-attention" in result.stdout
    assert project.json("run", "show")["status"] == "needs-attention"


def test_a_run_whose_tasks_all_succeed_is_completed(project: RunProject) -> None:
    project.use_agent(WRITE_TASK_FILE)
    project.add("Fine")
    result = project.isollm("run", "--plain")
    assert "run finished - completed" in result.stdout
    assert project.json("run", "show")["status"] == "completed"


# --- adopting a killed run's sandbox, and resuming that run ---------------------------------


def agent_started(project: RunProject) -> bool:
    ledgers = [run / "events.ndjson" for run in project.runs()]
    return any(ledger.exists() for ledger in ledgers) and bool(
        events_of(project.ledger(), "agent.started")
    )


def killed_mid_task(project: RunProject) -> tuple[str, str]:
    """A run killed (SIGKILL) while its agent works on a task: (run id, task id)."""
    project.use_agent(f"sleep 8; {WRITE_TASK_FILE}")
    task_id = project.add("Slow")
    runner = project.start("run", "--plain", "-n", "1")
    wait_for(lambda: agent_started(project), 60, "the agent")
    runner.kill()
    runner.communicate(timeout=60)
    wait_for(lambda: not agents_running([task_id]), 60, "the agent to end with its runner")
    return project.runs()[-1].name, task_id


def sandbox_names(project: RunProject) -> list[str]:
    sandboxes, _ = registry.list_sandboxes(project.config.project)
    return sorted(s.name for s in sandboxes)


def test_adopt_refuses_a_resumable_runs_sandbox_and_resume_leaves_an_adopted_one_alone(
    project: RunProject,
) -> None:
    run_id, task_id = killed_mid_task(project)
    name = f"run-{run_id}-w1"
    assert name in sandbox_names(project)

    refused = project.isollm("worker", "adopt", name, code=1)
    assert f"belongs to run {run_id}, which can still be resumed" in refused.stderr
    assert "--force" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (project.root / ".isollm" / "workers" / f"{name}.json").exists()

    project.isollm("worker", "adopt", "--force", name)
    project.isollm("worker", "exec", name, "--", "sh", "-c", "echo mine > mine.txt")

    project.use_agent(WRITE_TASK_FILE)  # quick now
    resumed = project.isollm("run", "--plain", "--resume", run_id)

    assert f"sandbox {name} was adopted as a worker" in resumed.stdout
    assert project.task(task_id).status == "done"
    mine = project.isollm("worker", "exec", name, "--", "cat", "mine.txt")
    assert mine.stdout == "mine\n"  # the adopted worker and its files are as they were
    assert sandbox_names(project) == [name]  # the run's own new sandbox is gone
    [row] = project.json("worker", "list")["workers"]
    assert (row["name"], row["problem"]) == (name, "")


# --- a full disk ----------------------------------------------------------------------------


@contextlib.contextmanager
def small_disk(path: Path, size: str = "8m") -> Iterator[Path]:
    """A real tmpfs of ``size`` mounted at ``path`` (root only), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (the CI runs as root)")
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until ``disk`` is full; the file (remove it to free the space)."""
    filler = disk / "filler"
    chunk = b"x" * 65536
    with contextlib.suppress(OSError), filler.open("wb", buffering=0) as f:
        while True:
            f.write(chunk)
    return filler


def assert_nothing_half_written(root: Path, run_id: str) -> None:
    paths = RunPaths.of(root, run_id)
    temps = [p.name for p in paths.dir.rglob("*") if p.name.startswith(".")]
    assert temps == []  # no temp file of an atomic write left behind
    assert runstate.load_run(root, run_id).status == "running"  # stale: resumable
    assert ledger.replay(paths.ledger).damage is None  # no torn line
    assert receipts.load_receipts(paths).problems == []


def assert_said_plainly(message: str, output: str) -> None:
    """``message`` is in ``output``, with no traceback and no crash log (not a bug)."""
    assert message in output, output
    assert "Traceback" not in output
    assert "crash log" not in output


@contextlib.contextmanager
def filled_mid_run(project: RunProject, disk: Path, timeout: float) -> Iterator[tuple[str, str]]:
    """A run of three tasks whose ``disk`` fills up while its agent works, ended saying
    plainly that the disk is full, no task stranded: (the run's id, its stderr); then
    ``--resume`` after the space is freed finishes every task."""
    project.use_agent(f"sleep 2; {WRITE_TASK_FILE}")
    ids = [project.add(f"task {n}") for n in range(3)]
    runner = project.start("run", "--plain", "-n", "1")
    wait_for(lambda: agent_started(project), 60, "the agent")
    filler = fill(disk)

    out, err = runner.communicate(timeout=timeout)

    run_id = project.runs()[-1].name
    assert runner.returncode == 1, out + err
    assert_said_plainly("the disk is full", err)
    assert {project.task(t).status for t in ids} <= {"done", "open"}  # none stranded
    yield run_id, err

    filler.unlink()
    resumed = project.isollm("run", "--plain", "--resume", run_id)
    assert "run finished - completed" in resumed.stdout
    assert {project.task(t).status for t in ids} == {"done"}


def test_a_disk_filling_up_mid_run_stops_it_plainly_and_resume_finishes(
    project: RunProject,
) -> None:
    runs = project.root / ".isollm" / "runs"
    with small_disk(runs), filled_mid_run(project, runs, 120) as (run_id, err):
        assert f"isollm run --resume {run_id}" in err
        assert_nothing_half_written(project.root, run_id)


def test_a_full_isollm_home_mid_run_ends_it_failed_with_no_task_stranded(git_repo: Path) -> None:
    home = Path(os.environ["ISOLLM_HOME"])  # the hub, the sandboxes, the task server's data
    with (
        small_disk(home, "256m"),
        run_project(git_repo) as project,
        filled_mid_run(project, home, 180),
    ):
        assert project.json("run", "show")["status"] in ("failed", "running")


# Work too big for the hub's disk (random bytes: a bundle of about that size).
BIG_WORK = f'head -c 3000000 /dev/urandom > "big-$ISOLLM_TASK_ID.bin"; {WRITE_TASK_FILE}'


def test_a_hub_without_room_for_a_tasks_work_stops_the_run_charging_no_task(
    project: RunProject,
) -> None:
    """The hub's git fails to take the work in: told apart from a refused delivery by the
    room left on the hub's disk (never by what git printed), so the run stops as for any
    full disk, the attempt is not the task's failure, and ``--resume`` delivers it."""
    project.use_agent(BIG_WORK)
    project.isollm("sync", "push")  # the hub, moved onto a disk of its own next
    hub = project.hub
    kept = hub.rename(hub.with_name(f"{hub.name}.kept"))
    with small_disk(hub, "1m"):
        shutil.copytree(kept, hub, dirs_exist_ok=True)
        task = project.add("Too big for the hub")

        result = project.isollm("run", "--plain", "-n", "1", code=1)

        run_id = project.runs()[-1].name
        said = result.stdout + result.stderr
        assert_said_plainly(f"the disk is full (No space left on device writing {hub})", said)
        assert f"isollm run --resume {run_id}" in said
        assert events_of(project.ledger(), "task.failed") == []  # no attempt charged
        assert project.task(task).status == "open"

        subprocess.run(["mount", "-o", "remount,size=64m", str(hub)], check=True)
        resumed = project.isollm("run", "--plain", "--resume", run_id)
        assert "run finished - completed" in resumed.stdout, story(resumed)
        assert project.task(task).status == "done"


GRANT = intake.task_grant("isollm/", "t1", "main", None)


def bundle_of(tmp_path: Path, size: int) -> Path:
    """A bundle of one commit holding ``size`` random bytes (about as big)."""
    repo = tmp_path / "work"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "blob.bin").write_bytes(os.urandom(size))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "work")
    git(repo, "bundle", "create", "-q", str(tmp_path / "work.bundle"), "HEAD")
    return tmp_path / "work.bundle"


def test_a_delivery_into_a_hub_without_room_is_a_full_disk(tmp_path: Path) -> None:
    """The intake alone: the same delivery is a full disk, then fine once there is room."""
    bundle = bundle_of(tmp_path, 3_000_000)
    with small_disk(tmp_path / "disk", "1m") as disk:
        hub = Hub(disk / "hub.git").ensure()
        with pytest.raises(HubFullError) as full:
            intake.deliver_bundle(hub, bundle, GRANT, agent="w1")
        assert str(hub.path) in full.value.message
        found = disk_full(full.value)
        assert found is not None
        assert found.filename == str(hub.path)
        assert git(hub.path, "for-each-ref") == ""  # nothing half-delivered

        subprocess.run(["mount", "-o", "remount,size=16m", str(disk)], check=True)
        delivered = intake.deliver_bundle(hub, bundle, GRANT, agent="w1")
    assert delivered.ref == "refs/heads/isollm/t1"


def test_room_is_what_the_host_sees_on_the_hubs_disk(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "4m") as disk:
        check_room(disk, 1_000_000, "a small write")  # room enough: nothing raised
        with pytest.raises(HubFullError):
            check_room(disk, 4 * HEADROOM, "more than the disk holds")


# --- an agent by hand in a worker gets its settings files ----------------------------------

FAKE_CLAUDE = """#!/bin/sh
echo "config=$CLAUDE_CONFIG_DIR home=$HOME"
cat "$CLAUDE_CONFIG_DIR/.claude.json"
"""


def fake_claude(project: RunProject) -> tuple[dict[str, str], str]:
    """A ``claude`` CLI on PATH that prints its settings; (environment, the API key)."""
    bin_dir = Path.home() / ".local" / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    cli = bin_dir / "claude"
    cli.write_text(FAKE_CLAUDE)
    cli.chmod(0o755)
    key = "sk-ant-test-" + os.urandom(6).hex()
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", "ANTHROPIC_API_KEY": key}, key


@pytest.mark.parametrize("backend", ["overlay", "worktree"])
def test_worker_exec_and_shell_with_an_agent_write_its_settings(
    project: RunProject, backend: str
) -> None:
    project.configure(backend=backend)
    env, key = fake_claude(project)
    project.isollm("worker", "add", "w1")
    workspace = project.json("worker", "list")["workers"][0]["workspace"]

    done = project.isollm(
        "worker",
        "exec",
        "--agent",
        "claude",
        "w1",
        "--",
        "sh",
        "-c",
        '"$ISOLLM_AGENT_BIN"',
        env=env,
    )
    assert '"hasCompletedOnboarding": true' in done.stdout, done.stdout
    assert f'"{workspace}"' in done.stdout  # the workspace is trusted, as in a run
    assert "environment and settings are set" in done.stderr
    home = done.stdout.split("home=", 1)[1].split()[0]
    assert Path(home) != Path.home()  # never your own home, even without isolation
    shell = subprocess.run(
        [ISOLLM, "worker", "shell", "--agent", "claude", "w1"],
        cwd=project.root,
        input='"$ISOLLM_AGENT_BIN"\n',
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
        check=False,
    )
    assert '"hasCompletedOnboarding": true' in shell.stdout, shell
    for root in (Path.home(), project.root / ".isollm"):  # no secret in any file written
        for path in root.rglob("*"):
            # settings are small: skip the big ones (a sandbox's disk image)
            if path.is_file() and not path.is_symlink() and path.stat().st_size < 1 << 20:
                with contextlib.suppress(OSError):
                    assert key.encode() not in path.read_bytes(), path
