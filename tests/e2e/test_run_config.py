"""``isollm run`` builds its sandboxes from the same config mapping as ``isollm worker``:
``sandbox.*`` settings reach the run's sandboxes (here ``setup_timeout``, which the run's
own copy of the mapping once left out)."""

from __future__ import annotations

import dataclasses
import time

import pytest

from isollm import config as cfg
from tests.conftest import git
from tests.e2e.run_support import WRITE_TASK_FILE, RunProject

pytestmark = pytest.mark.timeout(240)

SETUP_SLEEP = 120  # seconds; the run must stop it long before


def slow_setup(project: RunProject) -> str:
    """A setup command that outlives ``setup_timeout``; the id of a task to run."""
    project.use_agent(WRITE_TASK_FILE, max_attempts=1)
    loaded = cfg.load(project.root)
    sandbox = dataclasses.replace(
        loaded.config.sandbox, setup=["sleep", str(SETUP_SLEEP)], setup_timeout=2
    )
    cfg.save(loaded.path, dataclasses.replace(loaded.config, sandbox=sandbox))
    git(project.root, "commit", "-q", "-m", "slow setup", "--", "isollm.yaml")
    return project.add("Never reached")


@pytest.mark.parametrize(
    ("flags", "status"),
    [
        ((), "open"),  # preflight runs setup once and stops the run before any claim
        (("--no-preflight",), "blocked"),  # the run's own sandboxes stop it, per attempt
    ],
)
def test_run_stops_a_setup_command_at_setup_timeout(
    project: RunProject, flags: tuple[str, ...], status: str
) -> None:
    task_id = slow_setup(project)

    started = time.monotonic()
    result = project.isollm("run", "--plain", *flags, code=None, timeout=SETUP_SLEEP - 10)
    took = time.monotonic() - started

    story = f"{result.stdout}\n{result.stderr}"
    assert result.returncode == 1, story
    assert took < SETUP_SLEEP / 2, story
    assert "the setup command failed in sandbox" in story, story
    assert f"command failed (timed out): sleep {SETUP_SLEEP}" in story, story
    assert project.task(task_id).status == status, story
