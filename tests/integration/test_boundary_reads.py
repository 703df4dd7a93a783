"""What isollm reads from an agent, attacked from inside a real overlay sandbox: the
agent prints its key (whole and split across writes), floods its log, and plants
instruction files that are /dev/zero, a FIFO, a 2 GB sparse file or a symlink out."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from isollm import redaction
from isollm.agents import envvars
from isollm.runner import agentfiles
from isollm.runner.agentlog import LOG_LIMIT, TAIL_KEPT
from isollm.runner.attempt import AgentRun, Heartbeat, run_agent
from isollm.sandbox.base import Sandbox
from tests.integration.sandbox_support import Factory, factory_for

__all__ = ["factory_for"]

pytestmark = pytest.mark.timeout(120)

KEY = "sk-ant-api03-" + "Zx9" * 20


@pytest.fixture(autouse=True)
def fresh_registry() -> Iterator[None]:
    redaction.forget_all()
    yield
    redaction.forget_all()


@pytest.fixture
def sandbox(factory_for: Callable[[str], Factory]) -> Sandbox:
    return factory_for("overlay").make(work_branch="isollm/ar-1")


def agent(sb: Sandbox, script: str, log: Path, *, timeout: float = 60) -> AgentRun:
    """``script`` run by ``sh`` as the agent, with the key in its environment as the
    runner gives it (built by :func:`envvars.build`, which registers it)."""
    env = envvars.build(
        {"PATH": "/usr/bin:/bin", "ANTHROPIC_API_KEY": KEY}, passthrough=["ANTHROPIC_API_KEY"]
    )
    with Heartbeat(lambda: None, 3600) as beat:
        return run_agent(
            sb,
            ["sh", "-c", script],
            env=env,
            log_path=log,
            timeout=timeout,
            abort=threading.Event(),
            heartbeat=beat,
        )


# --- the agent prints the key ----------------------------------------------------------


def test_a_key_the_agent_prints_never_reaches_its_log(sandbox: Sandbox, tmp_path: Path) -> None:
    # whole, then split across two writes a moment apart (two reads of the pipe), then
    # after a megabyte of output so it lands at an arbitrary place in a chunk
    script = (
        'echo "my key is $ANTHROPIC_API_KEY"; k=$ANTHROPIC_API_KEY; '
        'printf "%s" "split ${k%"${k#??????????}"}"; sleep 0.3; printf "%s\\n" "${k#??????????}"; '
        'head -c 1048571 /dev/zero | tr "\\0" x; echo "$k"; printf "%s" "$k"'
    )
    log = tmp_path / "attempt.log"
    run = agent(sandbox, script, log)
    text = log.read_text()
    assert run.exit_code == 0
    assert KEY not in text
    assert KEY[:20] not in text
    assert text.count(redaction.MASK) == 4, text[:300]
    assert "my key is [redacted]" in text
    assert "split [redacted]" in text
    assert KEY not in run.output
    assert run.output.endswith(redaction.MASK)


# --- the agent floods its log ----------------------------------------------------------


def test_a_flood_of_output_is_capped_and_its_end_kept(sandbox: Sandbox, tmp_path: Path) -> None:
    script = f'head -c {LOG_LIMIT + (8 << 20)} /dev/zero | tr "\\0" y; echo; echo FINAL-REPORT'
    log = tmp_path / "attempt.log"
    run = agent(sandbox, script, log)
    size = log.stat().st_size
    assert run.exit_code == 0
    assert LOG_LIMIT < size <= LOG_LIMIT + TAIL_KEPT + 200
    tail = log.read_bytes()[-TAIL_KEPT - 200 :]
    assert b"[isollm: the log reached its limit" in tail
    assert tail.endswith(b"FINAL-REPORT\n")
    assert run.output.endswith("FINAL-REPORT\n")
    assert len(run.output) <= TAIL_KEPT


def test_an_endless_writer_is_stopped_with_a_bounded_log(sandbox: Sandbox, tmp_path: Path) -> None:
    log = tmp_path / "attempt.log"
    started = time.monotonic()
    run = agent(sandbox, "yes flood", log, timeout=4)
    assert run.timed_out
    assert run.exit_code is None
    assert time.monotonic() - started < 30
    assert log.stat().st_size <= LOG_LIMIT + TAIL_KEPT + 200


def test_output_of_a_process_left_behind_does_not_hold_the_run(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    # the agent exits, a child it started keeps the pipe open (and quiet)
    log = tmp_path / "attempt.log"
    started = time.monotonic()
    run = agent(sandbox, "(sleep 30 &) ; echo done", log)
    assert run.exit_code == 0
    assert "done" in run.output
    assert time.monotonic() - started < 15


# --- instruction files that are not files ----------------------------------------------

PLANTS = {
    "dev-zero": "ln -s /dev/zero AGENTS.md",
    "fifo": "mkfifo AGENTS.md",
    "sparse-2g": "truncate -s 2G AGENTS.md",
    "symlink-out": "ln -s /etc/passwd AGENTS.md",
    "symlinked-dir": "mkdir -p real && echo hi > real/AGENTS.md && ln -s real docs",
}


@pytest.mark.parametrize("plant", sorted(PLANTS))
def test_a_planted_instruction_file_is_refused_not_read(sandbox: Sandbox, plant: str) -> None:
    assert sandbox.exec(["sh", "-c", PLANTS[plant]]).ok
    rel = "docs/AGENTS.md" if plant == "symlinked-dir" else "AGENTS.md"
    started = time.monotonic()
    assert agentfiles.read_text(sandbox, rel) is None
    assert time.monotonic() - started < 5  # no blocking on a FIFO, no reading of 2 GB


@pytest.mark.parametrize("plant", ["dev-zero", "fifo", "sparse-2g"])
def test_the_sandbox_side_reader_refuses_them_too(sandbox: Sandbox, plant: str) -> None:
    assert sandbox.exec(["sh", "-c", PLANTS[plant]]).ok
    started = time.monotonic()
    assert agentfiles._read_inside(sandbox, "AGENTS.md", 1 << 20) is None
    assert time.monotonic() - started < 10


def test_a_regular_instruction_file_is_read(sandbox: Sandbox) -> None:
    assert sandbox.exec(["sh", "-c", "printf '# ours\\n' > AGENTS.md"]).ok
    assert agentfiles.read_text(sandbox, "AGENTS.md") == "# ours\n"
    assert agentfiles._read_inside(sandbox, "AGENTS.md", 1 << 20) == b"# ours\n"
    assert agentfiles.read_text(sandbox, "CLAUDE.md") is None
    assert agentfiles._read_inside(sandbox, "CLAUDE.md", 1 << 20) is None
