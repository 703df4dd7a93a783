"""``isollm run`` with real agent CLIs (Claude Code, Codex CLI) against the fake model.

Each task's agent, inside its overlay sandbox, writes ``hello.txt`` and, through its
own shell tool, ``task-<id>.txt`` holding the task id (from ``$ISOLLM_TASK_ID``, so
the worker's environment reached the agent's commands). isollm commits, pushes and
marks the task done. The model key travels by environment only: it must not appear
in anything the run wrote.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from isollm import fsutil
from tests.e2e.run_support import RunProject, story, task_file
from tests.e2e.test_agents_real_cli import KEY_VARIABLES, SECRET, cli_path
from tests.fakemodel import FakeModelServer, RunCommand, Script, WriteFile
from tests.fakemodel.script import texts

pytestmark = [pytest.mark.agents, pytest.mark.timeout(300)]

HELLO = "hello from the agent\n"
SCRIPT = Script(
    actions=(
        WriteFile("hello.txt", HELLO),
        RunCommand('printf "%s\\n" "$ISOLLM_TASK_ID" > "task-$ISOLLM_TASK_ID.txt"'),
    )
)
TITLES = ["Greet the user", "Record the task id", "Say hello again"]


def agent_settings(name: str, server: FakeModelServer) -> dict[str, object]:
    binary = str(cli_path(name))
    if name == "claude":
        return {"name": name, "binary": binary, "base_url": server.url, "timeout": 120}
    return {
        "name": name,
        "binary": binary,
        "base_url": f"{server.url}/v1",
        "model": "fake-model",
        "timeout": 120,
    }


def files_holding(root: Path, secret: str) -> list[Path]:
    files = [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]
    return [f for f in files if secret.encode() in f.read_bytes()]


@pytest.mark.parametrize("name", ["claude", "codex"])
def test_run_with_a_real_agent_cli(project: RunProject, name: str) -> None:
    ids = [project.add(title, description="Keep it short.") for title in TITLES]
    with FakeModelServer(SCRIPT) as server:
        project.configure(workers=3, agent=agent_settings(name, server))
        result = project.isollm("run", "--plain", env={KEY_VARIABLES[name]: SECRET})
        requests = [r for r in server.requests if r.method == "POST"]
    told = story(result)

    for task_id in ids:
        assert project.task(task_id).status == "done", told
        assert project.hub_show(task_id, "hello.txt") + "\n" == HELLO, told
        assert project.hub_show(task_id, task_file(task_id)) == task_id, told
        assert len(project.hub_log(task_id)) == 1, told
    receipts = {r["task_id"]: r for r in project.receipts()}
    assert sorted(receipts) == sorted(ids)
    for receipt in receipts.values():
        assert receipt["outcome"] == "done", receipt
        assert receipt["agent"] == name
        assert sorted(receipt["files_changed"]) == sorted(
            ["hello.txt", task_file(receipt["task_id"])]
        )
        assert receipt["tokens_in"] >= SCRIPT.usage_in, receipt
        assert receipt["tokens_out"] >= SCRIPT.usage_out, receipt
    sent = "\n".join(texts(r.body) for r in requests)
    for task_id, title in zip(ids, TITLES, strict=True):
        assert f"Task {task_id}: {title}" in sent, "the task's prompt never reached the model"
    assert all(SECRET in str(r.headers.values()) or SECRET in r.path for r in requests)
    committed = project.git_hub("ls-tree", "-r", "--name-only", project.branch(ids[0]))
    assert "CLAUDE.md" not in committed.split()
    assert "AGENTS.md" not in committed.split()
    leaks = files_holding(project.root / ".isollm", SECRET)
    leaks += files_holding(fsutil.isollm_home(), SECRET)
    assert not leaks, f"the API key was written to {leaks}"
    assert SECRET not in result.stdout + result.stderr
