"""Preflight: ``isollm doctor`` and the same checks at the start of ``isollm run``.

A setup problem (a missing key, a failing ``sandbox.setup``, an agent the sandbox cannot
run, an unreachable model) stops the run before its first claim: the tasks stay open
with no claim in their history, no run is recorded, and the fix is printed.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from isollm import config as cfg
from tests.conftest import git
from tests.e2e.run_support import WRITE_TASK_FILE, RunProject, run_project, story
from tests.integration.tasks_support import free_port

pytestmark = pytest.mark.timeout(180)

NO_KEYS = {
    "ANTHROPIC_API_KEY": "",
    "ANTHROPIC_AUTH_TOKEN": "",
    "CLAUDE_CODE_OAUTH_TOKEN": "",
    "AWS_ACCESS_KEY_ID": "",
    "AWS_SECRET_ACCESS_KEY": "",
    "AWS_SESSION_TOKEN": "",
}


@pytest.fixture
def project(git_repo: Path) -> Iterator[RunProject]:
    with run_project(git_repo) as p:
        p.use_agent(WRITE_TASK_FILE)
        yield p


def sandbox_section(p: RunProject, **changes: Any) -> None:
    loaded = cfg.load(p.root)
    c = loaded.config
    cfg.save(loaded.path, dataclasses.replace(c, sandbox=dataclasses.replace(c.sandbox, **changes)))
    git(p.root, "commit", "-q", "-m", "configure the sandbox", "--", "isollm.yaml")


def assert_nothing_claimed(p: RunProject, ids: list[str], told: str) -> None:
    for task_id in ids:
        assert p.task(task_id).status == "open", told
        assert p.actions(task_id, "claim") == [], told
    assert p.runs() == [], "a run was recorded: " + told


def run_stops(p: RunProject, fix: str, env: dict[str, str] | None = None) -> str:
    ids = [p.add("First task"), p.add("Second task")]
    result = p.isollm("run", "--plain", code=1, env=env)
    told = story(result)
    assert "preflight failed, so no task was claimed" in result.stderr, told
    assert fix in result.stderr, told
    assert "No task was ready" not in result.stdout, told
    assert_nothing_claimed(p, ids, told)
    return told


def test_a_missing_key_stops_the_run_before_any_claim(project: RunProject) -> None:
    project.configure(agent={"name": "claude", "binary": "/bin/true", "base_url": ""})
    told = run_stops(project, "export ANTHROPIC_API_KEY", env=NO_KEYS)
    assert "claude: credentials" in told


def test_a_failing_setup_stops_the_run_before_any_claim(project: RunProject) -> None:
    sandbox_section(project, setup=["sh", "-c", "echo no such toolchain >&2; exit 3"])
    told = run_stops(project, "fix sandbox.setup in isollm.yaml")
    assert "no such toolchain" in told


def test_an_agent_the_sandbox_cannot_see_stops_the_run(project: RunProject, tmp_path: Path) -> None:
    """On the host's PATH (so `require` passes) but where the sandbox hides it and
    nothing is ever exposed: isollm's own home (tokens, hubs, other sandboxes)."""
    hidden = Path(os.environ["ISOLLM_HOME"]) / "bin" / "my-agent"
    hidden.parent.mkdir(parents=True)
    hidden.write_text("#!/bin/sh\necho done\n")
    hidden.chmod(0o755)
    project.configure(agent={"command": [str(hidden), "{prompt}"]})
    told = run_stops(project, "add its directory to sandbox.expose")
    assert "command: runs" in told


def test_a_missing_agent_binary_stops_the_run(project: RunProject) -> None:
    project.configure(agent={"command": ["/nonexistent/agent", "{prompt}"]})
    ids = [project.add("A task")]
    result = project.isollm("run", "--plain", code=1)
    assert "not on PATH" in result.stderr, story(result)
    assert_nothing_claimed(project, ids, story(result))


def test_an_unreachable_model_stops_the_run(project: RunProject) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    project.configure(agent={"base_url": closed})
    told = run_stops(project, "the model server must be running")
    assert f"{closed}: cannot connect" in told


def test_no_preflight_skips_the_checks(project: RunProject) -> None:
    sandbox_section(project, setup=["sh", "-c", "exit 3"])
    task_id = project.add("A task")
    result = project.isollm("run", "--plain", "--no-preflight", code=1)
    assert "preflight failed" not in result.stderr, story(result)
    assert project.actions(task_id, "claim"), story(result)  # the old way: attempts burnt


def test_doctor_is_all_green_on_a_demo_like_project(project: RunProject) -> None:
    sandbox_section(project, network="none")
    result = project.isollm("doctor")
    assert "all checks passed" in result.stdout, story(result)
    doc = json.loads(project.isollm("doctor", "--json").stdout)
    assert doc["kind"] == "doctor"
    assert doc["data"]["ok"] is True
    statuses = {c["name"]: c["status"] for c in doc["data"]["checks"]}
    assert statuses["sandbox (overlay)"] == "ok"
    assert statuses["command: runs"] == "ok"
    assert statuses["command: model API"] == "skip"  # offline command agent
    assert project.runs() == []


def test_doctor_names_the_fix_and_exits_1(project: RunProject) -> None:
    project.configure(agent={"name": "claude", "binary": "/bin/true"})
    result = project.isollm("doctor", "--json", code=1, env={**NO_KEYS, "ANTHROPIC_BASE_URL": ""})
    checks = {c["name"]: c for c in json.loads(result.stdout)["data"]["checks"]}
    assert checks["claude: credentials"]["status"] == "fail"
    assert "ANTHROPIC_API_KEY" in checks["claude: credentials"]["fix"]


def test_doctor_never_shows_a_key(project: RunProject) -> None:
    secret = "sk-preflight-" + "x" * 24
    project.configure(agent={"name": "claude", "binary": "/bin/true"})
    result = project.isollm("doctor", "--json", code=None, env={"ANTHROPIC_API_KEY": secret})
    assert secret not in result.stdout + result.stderr
    checks = {c["name"]: c for c in json.loads(result.stdout)["data"]["checks"]}
    assert checks["claude: credentials"]["status"] == "ok"


def test_unblock_all_and_by_reason(project: RunProject) -> None:
    a, b, c = (project.add(t) for t in ("A", "B", "C"))
    project.client.block(a, "setup failed: no compiler")
    project.client.block(b, "setup failed: no compiler")
    project.client.block(c, "the agent gave up")

    by_reason = project.isollm("task", "unblock", "--reason", "SETUP FAILED")
    assert "Unblocked 2 tasks" in by_reason.stdout
    assert [project.task(t).status for t in (a, b, c)] == ["open", "open", "blocked"]

    project.client.block(a, "again")
    done = json.loads(project.isollm("task", "unblock", "--all", "--json").stdout)
    assert sorted(t["id"] for t in done["data"]) == sorted([a, c])
    assert [project.task(t).status for t in (a, b, c)] == ["open", "open", "open"]
    project.isollm("task", "unblock", code=2)  # nothing to unblock named
    project.isollm("task", "unblock", a, "--all", code=2)
