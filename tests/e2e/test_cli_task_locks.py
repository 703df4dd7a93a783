"""``isollm task locks`` and ``isollm task context`` as a user runs them: a real server,
an agent locking files and publishing on the board with the real ``airyra`` program."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from isollm import config as cfg
from tests.e2e.test_cli_task import data, project, run

__all__ = ["project"]


def airyra(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "isollm.tasks.agent_cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_task_locks_and_context_show_what_agents_hold_until_the_claim_ends(
    project: Path,
) -> None:
    loaded = cfg.load(project).config
    assert "No file locks" in run(project, "task", "locks").stdout
    task_id = data(run(project, "task", "add", "Users API", "--json"))["id"]
    env = {
        **os.environ,
        "AIRYRA_PROJECT": loaded.project,
        "AIRYRA_PORT": str(loaded.airyra.port),
        "AIRYRA_AGENT": "worker-1",
        "AIRYRA_STATE_DIR": str(project / ".airyra"),
        "AIRYRA_TOKEN": run(project, "server", "token", "worker-1").stdout.strip(),
    }
    assert airyra(env, "claim", task_id).returncode == 0
    locked = airyra(env, "lock", "src/users/*", "README.md")
    assert locked.returncode == 0, locked.stderr
    published = airyra(
        env,
        "context",
        "set",
        "--file",
        "README.md",
        "--status",
        "working",
        "-m",
        "users API \x1b]52;c;aGk=\x07",
    )
    assert published.returncode == 0, published.stderr
    text = run(project, "task", "locks").stdout
    assert f"  README.md  worker-1  {task_id}  since " in text
    assert "  src/users/*  worker-1" in text
    held = data(run(project, "task", "locks", "--json"))["locks"]
    assert [(lock["path"], lock["glob"]) for lock in held] == [
        ("README.md", False),
        ("src/users/*", True),
    ]
    board = run(project, "task", "context").stdout
    assert f"worker-1  {task_id}  working  README.md" in board
    assert "\x1b" not in board
    assert "\\x1b]52" in board  # the agent's text shown, escaped
    entries = data(run(project, "task", "context", "--json"))["entries"]
    assert entries[0]["message"].startswith("users API \x1b]52")
    run(project, "task", "release", task_id)
    assert data(run(project, "task", "locks", "--json"))["locks"] == []
    assert data(run(project, "task", "context", "--json"))["entries"] == []
