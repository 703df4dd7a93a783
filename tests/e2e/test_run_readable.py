"""Readable results (issue #12 item 9): titles in ``run show``, ``run log`` as text (and
``--follow``), ``task edit`` and ``task delete``, ``run --dry-run`` and ``run --task``.
Real ``isollm run`` with the ``command`` agent, real hub, task server and sandboxes."""

from __future__ import annotations

import json

import pytest

from tests.conftest import git
from tests.e2e.run_support import WRITE_TASK_FILE, RunProject, wait_for

pytestmark = pytest.mark.timeout(240)

CLAUDE_LINES = [
    {"type": "system", "subtype": "init", "model": "fake-model"},
    {
        "type": "assistant",
        "message": {
            "content": [
                {"type": "text", "text": "I will list the files."},
                {"type": "tool_use", "name": "Bash", "input": {"command": "ls -la"}},
            ]
        },
    },
    {"type": "user", "message": {"content": [{"type": "tool_result", "content": "a.txt\x1b[31m"}]}},
    {"type": "result", "subtype": "success", "result": "All done.", "total_cost_usd": 0.0123},
]


def test_run_show_has_titles_and_run_log_renders_text(project: RunProject) -> None:
    project.use_agent(WRITE_TASK_FILE + '; echo "plain line \033[2J from $ISOLLM_TASK_ID"')
    task_id = project.add("Write the greeting file")
    project.isollm("run", "--plain")

    shown = project.isollm("run", "show").stdout
    assert "title" in shown.splitlines()[4] or "Write the greeting file" in shown
    assert "Write the greeting file" in shown

    log = project.isollm("run", "log", task_id)
    assert f"plain line \\x1b[2J from {task_id}" in log.stdout  # raw, terminal-safe
    assert "\x1b" not in log.stdout
    assert "attempt 1 (command)" in log.stderr
    missing = project.isollm("run", "log", task_id, "--attempt", "3", code=1)
    assert "has no attempt 3" in missing.stderr
    assert "no attempt log" in project.isollm("run", "log", "ar-nope", code=1).stderr


def test_run_log_renders_a_claude_stream_json_log(project: RunProject) -> None:
    lines = "\n".join(json.dumps(e) for e in CLAUDE_LINES) + "\n"
    (project.root / "stream.ndjson").write_text(lines)
    git(project.root, "add", "stream.ndjson")
    git(project.root, "commit", "-q", "-m", "a recorded Claude stream")
    # the command agent prints a Claude stream; the log is read as Claude's
    project.use_agent("cat stream.ndjson; " + WRITE_TASK_FILE)
    task_id = project.add("Stream")
    project.isollm("run", "--plain")
    for receipt in (project.runs()[-1] / "receipts").glob("*.json"):
        data = json.loads(receipt.read_text())
        data["agent"] = "claude"
        receipt.write_text(json.dumps(data))

    out = project.isollm("run", "log", task_id).stdout.splitlines()
    assert "· started (fake-model)" in out
    assert "I will list the files." in out
    assert "→ Bash(ls -la)" in out
    assert "  ← a.txt\\x1b[31m" in out
    assert "· result: success, $0.0123" in out
    assert "All done." in out
    raw = project.isollm("run", "log", task_id, "--raw").stdout
    assert '"type": "system"' in raw


def test_run_log_follow_tails_a_running_attempt_until_it_ends(project: RunProject) -> None:
    project.use_agent("echo first; sleep 4; echo second; " + WRITE_TASK_FILE)
    task_id = project.add("Slow")
    runner = project.start("run", "--plain")
    wait_for(lambda: any(project.root.glob(".isollm/runs/*/logs/*.log")), 60, "a log")
    wait_for(lambda: "first" in project.isollm("run", "log", task_id).stdout, 60, "first")
    follower = project.start("run", "log", "--follow", task_id)
    out, _ = follower.communicate(timeout=120)
    assert follower.returncode == 0
    assert out.splitlines()[:2] == ["first", "second"]  # written after it started
    assert runner.poll() is not None or project.isollm("run", "show").returncode == 0
    runner.communicate(timeout=120)


def test_task_edit_and_delete(project: RunProject) -> None:
    task_id = project.add("Old title")
    project.isollm("task", "edit", task_id, "--title", "New title", "-p", "high", "-d", "More")
    task = project.task(task_id)
    assert (task.title, task.description, task.priority) == ("New title", "More", 1)
    assert "nothing to change" in project.isollm("task", "edit", task_id, code=2).stderr

    refused = project.isollm("task", "delete", task_id, code=1)  # no terminal: not confirmed
    assert project.task(task_id).title == "New title"
    assert "without a confirmation" in refused.stderr
    assert "--yes" in refused.stderr
    project.client.claim(task_id, "someone")
    busy = project.isollm("task", "delete", task_id, "--yes", code=1)
    assert "is in progress" in busy.stderr
    assert "--force" in busy.stderr
    gone = project.isollm("task", "delete", task_id, "--yes", "--force")
    assert f"its branch isollm/{task_id} on the hub, if any, is kept" in gone.stdout
    assert project.isollm("task", "show", task_id, code=1).returncode == 1


def test_dry_run_claims_nothing_and_task_selects(project: RunProject) -> None:
    project.use_agent(WRITE_TASK_FILE)
    first = project.add("First")
    second = project.add("Second")
    after = project.add("After first", after=[first])

    plan = project.json("run", "--dry-run")
    assert [t["id"] for t in plan["ready"]] == [first, second]
    assert [t["id"] for t in plan["waiting"]] == [after]
    assert (plan["agent"], plan["backend"]) == ("command", "overlay")
    text = project.isollm("run", "--dry-run").stdout
    assert "nothing claimed, no sandbox started" in text
    assert all(project.task(t).status == "open" for t in (first, second, after))
    assert project.runs() == []
    assert (
        "no task ar-nope" in project.isollm("run", "--dry-run", "--task", "ar-nope", code=1).stderr
    )

    project.isollm("run", "--plain", "--task", second)
    assert project.task(second).status == "done"
    assert project.task(first).status == "open"
    assert project.task(after).status == "open"
