"""``isollm run`` with a hostile ``command`` agent in real overlay sandboxes: it prints
its API key, plants ``AGENTS.md -> /dev/zero`` on a branch another task builds on, and
puts escape sequences in what the CLI shows. Each attack fails and nothing is lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from isollm import fsutil
from tests.e2e.run_support import WRITE_TASK_FILE, RunProject, task_file

pytestmark = pytest.mark.timeout(240)

KEY = "sk-ant-api03-" + "Qw7" * 20


def files_holding(root: Path, needle: bytes) -> list[str]:
    """Every regular file under ``root`` whose bytes hold ``needle`` (symlinks not followed)."""
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                if needle in path.read_bytes():
                    found.append(str(path))
            except OSError:
                continue
    return found


def test_a_key_the_agent_prints_is_in_no_file_or_record(project: RunProject) -> None:
    project.use_agent(
        'echo "using key $ANTHROPIC_API_KEY"; echo "auth failed for $ANTHROPIC_API_KEY"; exit 3',
        max_attempts=1,
    )
    project.configure(agent={"pass_env": ["ANTHROPIC_API_KEY"]})
    task_id = project.add("Leak the key")

    result = project.isollm("run", "--plain", env={"ANTHROPIC_API_KEY": KEY}, code=None)

    assert project.task(task_id).status == "blocked", result.stdout
    assert KEY not in result.stdout + result.stderr
    log = project.log_text(task_id)
    assert "using key [redacted]" in log, log
    history = project.history(task_id)
    reasons = " ".join(f"{h.old_value} {h.new_value}" for h in history)
    assert "auth failed for [redacted]" in reasons, history
    assert KEY not in reasons
    assert files_holding(project.root / ".isollm", KEY.encode()) == []
    assert files_holding(fsutil.isollm_home(), KEY.encode()) == []


def test_a_planted_agents_md_on_a_dependency_branch_is_not_read(project: RunProject) -> None:
    # the first task commits AGENTS.md -> /dev/zero; the second builds on its branch
    plant = (
        'if [ "$ISOLLM_TASK_TITLE" = plant ]; then rm -f AGENTS.md; ln -s /dev/zero AGENTS.md;'
        " git add -f AGENTS.md; git commit -qm plant; fi; " + WRITE_TASK_FILE
    )
    project.use_agent(plant, max_attempts=1)
    first = project.add("plant")
    second = project.add("build on it", after=[first])

    result = project.isollm("run", "--plain", "-n", "1")

    assert project.task(first).status == "done", result.stdout
    assert project.task(second).status == "done", result.stdout
    assert project.hub_show(second, task_file(second)) == "build on it"
    assert "ignored AGENTS.md" in result.stderr  # met, refused, and the run went on


EVIL = "evil\x1b]52;c;cHduZWQ=\x07\x1b[2J\x1b]8;;http://x.invalid\x07link\u202etxt [bold]b[/bold]"


def test_escape_sequences_from_the_queue_and_the_agent_reach_no_terminal(
    project: RunProject,
) -> None:
    project.use_agent(f"printf '%s\\n' '{EVIL}'; exit 3", max_attempts=1)
    task_id = project.add(EVIL)

    shown = [
        project.isollm("run", "--plain", code=None),
        project.isollm("task", "list"),
        project.isollm("task", "show", task_id),
        project.isollm("run", "show"),
    ]

    assert project.task(task_id).status == "blocked"
    for result in shown:
        text = result.stdout + result.stderr
        for bad in ("\x1b", "\x07", "\u202e"):
            assert bad not in text, (bad, text)
    assert "[bold]b[/bold]" in shown[1].stdout  # shown as typed, not as markup
    assert "\\x1b]52;c;" in shown[2].stdout
