"""Issue #12 items 1 and 5 end to end: a run ends in a true state, whatever its output
does, however long its prompts, and the task server may go away and come back."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from isollm.sandbox import registry
from isollm.tasks.server import control as service
from isollm.tasks.store.errors import ValidationFailedError
from tests.e2e.cli import ISOLLM
from tests.e2e.run_support import (
    WRITE_TASK_FILE,
    RunProject,
    events_of,
    story,
    task_file,
    wait_for,
)

pytestmark = pytest.mark.timeout(240)


def test_a_closed_stdout_pipe_never_strands_a_task(project: RunProject) -> None:
    """`isollm run --plain | head -1`: the display stops, the work does not."""
    project.use_agent(f"sleep 0.3; {WRITE_TASK_FILE}")
    ids = [project.add(f"task {n}") for n in range(3)]
    runner = subprocess.Popen(
        [ISOLLM, "run", "--plain", "-n", "2"],
        cwd=project.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    project.started.append(runner)
    assert runner.stdout is not None
    assert runner.stderr is not None
    runner.stdout.readline()
    runner.stdout.close()  # what `head -1` does after its line
    err = runner.stderr.read()
    code = runner.wait(timeout=120)
    assert code == 0, err
    assert "Traceback" not in err
    assert {project.task(t).status for t in ids} == {"done"}
    assert project.json("run", "show")["status"] == "completed"
    sandboxes, _ = registry.list_sandboxes(project.config.project)
    assert not [s for s in sandboxes if s.name.startswith("run-")]  # none left behind


# Copies the prompt file (or, for a short prompt, the prompt) into the task's file.
COPY_PROMPT = (
    'if [ -n "$ISOLLM_PROMPT_FILE" ]; then cat "$ISOLLM_PROMPT_FILE"; else printf "%s" "$1"; fi'
    ' > "task-$ISOLLM_TASK_ID.txt"'
)


def test_a_200_kb_non_ascii_description_reaches_the_agent(project: RunProject) -> None:
    project.use_agent(COPY_PROMPT)
    description = "Ü漢字のテスト、" * 10_000  # 80,000 characters, 220 KB of UTF-8
    assert len(description.encode()) > 200 * 1024
    task_id = project.add("long description", description=description)
    result = project.isollm("run", "--plain", "-n", "1")
    assert project.task(task_id).status == "done", story(result)
    delivered = project.hub_show(task_id, task_file(task_id))
    assert description in delivered


def test_a_nul_byte_is_refused_when_the_task_is_created(project: RunProject) -> None:
    with pytest.raises(ValidationFailedError, match="NUL"):
        project.client.add_task("a\x00title")
    with pytest.raises(ValidationFailedError, match="NUL"):
        project.client.add_task("fine", description="a\x00description")


def test_the_task_server_killed_mid_run_agents_go_on_and_the_run_completes(
    project: RunProject,
) -> None:
    project.use_agent(f"sleep 4; {WRITE_TASK_FILE}")
    ids = [project.add(f"task {n}") for n in range(3)]
    runner = project.start("run", "--plain", "-n", "2")
    wait_for(lambda: len(events_of(ledger(project), "agent.started")) >= 2, 60, "two agents")

    service.stop(project.port)  # the server goes away while both agents run
    time.sleep(6)  # both agents finish meanwhile: their done must wait
    assert runner.poll() is None  # the run waits, it did not give up
    started = events_of(ledger(project), "agent.finished")
    assert len(started) >= 2  # the agents were not stopped
    project.isollm("server", "start")

    out, err = runner.communicate(timeout=120)
    assert runner.returncode == 0, out + err
    assert "task server unreachable, retrying" in out
    assert "finishing running tasks" not in out
    assert {project.task(t).status for t in ids} == {"done"}
    assert project.json("run", "show")["status"] == "completed"


def test_ctrl_c_messages_match_what_happens(project: RunProject) -> None:
    project.use_agent(f"sleep 30; {WRITE_TASK_FILE}")
    project.add("slow task")
    runner = project.start("run", "--plain", "-n", "1")
    wait_for(lambda: bool(events_of(ledger(project), "agent.started")), 60, "the agent")
    runner.send_signal(signal.SIGINT)
    time.sleep(0.5)
    runner.send_signal(signal.SIGINT)
    out, _ = runner.communicate(timeout=60)
    assert "finishing running tasks, Ctrl-C again to stop them now" in out
    assert "stopping running agents now; their work is salvaged" in out


def ledger(project: RunProject) -> list[dict[str, object]]:
    runs = project.runs()
    if not runs or not (runs[-1] / "events.ndjson").exists():
        return []
    return project.ledger()
