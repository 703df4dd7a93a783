"""``isollm run`` after ``isollm merge`` moved the hub's base past yours.

The hub's base then holds all of yours and the landed work: the run starts its tasks from
the hub's base and says how to bring it home, instead of refusing to push an older base.
"""

from __future__ import annotations

import pytest

from tests.e2e.run_support import WRITE_TASK_FILE, RunProject, story, task_file

pytestmark = pytest.mark.timeout(180)


def test_a_run_after_a_merge_starts_from_the_hubs_newer_base(project: RunProject) -> None:
    project.use_agent(WRITE_TASK_FILE)
    first = project.add("first")
    project.isollm("run", "--plain")
    project.isollm("merge", "--all", "--no-test")
    landed = project.git_hub("rev-parse", "main")
    assert project.git_hub("show", f"main:{task_file(first)}") == "first"

    second = project.add("second")
    result = project.isollm("run", "--plain")
    told = story(result)
    assert "the hub's main is ahead of yours" in result.stdout + result.stderr, told
    assert "`isollm sync pull`" in result.stdout + result.stderr, told
    assert project.task(second).status == "done", told
    # Started from the merged base: the first task's work is on the second's branch.
    assert project.hub_show(second, task_file(first)) == "first"
    assert project.git_hub("rev-parse", "main") == landed  # the hub's base left alone

    # An explicit push still refuses to take the landed work off the hub.
    refused = project.isollm("sync", "push", code=None)
    assert refused.returncode != 0
    assert "pushing would drop them" in refused.stderr
