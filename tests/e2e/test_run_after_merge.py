"""``isollm run`` and ``isollm merge`` together.

After a merge moved the hub's base past yours, the hub's base holds all of yours and the
landed work: the run starts its tasks from it and says how to bring it home, instead of
refusing to push an older base. An agent's change to isollm's own files is told by the
run and by ``diff``, and refused by ``merge`` until the user allows it.
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


def test_an_agent_rewriting_isollm_yaml_is_told_and_never_landed(project: RunProject) -> None:
    """The run says so, `diff` warns, `merge` refuses (exit 1) and the base keeps your
    config; `--allow-isollm-files` lands it once you agree."""
    project.use_agent('printf "sandbox:\\n  backend: worktree\\n" >> isollm.yaml')
    task = project.add("tidy the config")
    ran = project.isollm("run", "--plain")
    assert f"{task} changes isollm's own files (isollm.yaml)" in ran.stdout, story(ran)
    assert "warning: it changes isollm's own files" in project.isollm("diff", task).stdout
    before = project.git_hub("rev-parse", "main")
    refused = project.isollm("merge", task, "--no-test", code=1)
    assert f"refused        {task}" in refused.stdout, story(refused)
    assert project.git_hub("rev-parse", "main") == before
    project.isollm("merge", task, "--no-test", "--allow-isollm-files")
    assert "backend: worktree" in project.git_hub("show", "main:isollm.yaml")
