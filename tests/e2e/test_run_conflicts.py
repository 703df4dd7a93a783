"""``isollm run`` warns when a task it pushes touches files another running task holds.

Two workers, real overlay sandboxes, the ``command`` agent: the slow task's agent holds a
lock on ``shared.txt`` (taken for it through the host's token while it runs); the quick
task writes ``shared.txt`` and is pushed while the slow one still runs, and the run's
output says so, naming the other task.
"""

from __future__ import annotations

import pytest

from tests.e2e.run_support import RunProject, wait_for

pytestmark = pytest.mark.timeout(240)

SCRIPT = (
    'case "$ISOLLM_TASK_TITLE" in '
    "slow*) sleep 15; echo slow > slow.txt;; "
    "*) sleep 8; echo quick > shared.txt;; esac"
)


def test_a_push_touching_files_another_running_task_holds_is_warned(
    project: RunProject,
) -> None:
    project.configure(workers=2, backend="overlay")
    project.use_agent(SCRIPT)
    slow = project.add("slow task")
    quick = project.add("quick task")
    run = project.start("run", "--plain")
    wait_for(
        lambda: (
            project.task(slow).claimed_by is not None and project.task(quick).claimed_by is not None
        ),
        60,
        "both tasks claimed",
    )
    holder = project.task(slow).claimed_by
    assert holder is not None
    project.client.lock(["shared.txt"], agent=holder)
    out, err = run.communicate(timeout=180)
    assert run.returncode == 0, out + err
    warning = f"task {quick} touches files that running task {slow} ({holder}) also touches"
    assert f"{warning}: shared.txt" in out + err
    assert project.task(slow).status == "done"
    assert project.client.locks() == []  # gone with the slow task's claim
