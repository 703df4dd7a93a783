"""Bounded output: a command an agent can make noisy cannot grow the host's memory.

The attack: a sandboxed command the host runs and reads (``git status`` in a workspace
of a million files, ``git diff`` of a huge agent commit, a setup script) prints without
end. The host keeps at most the cap per stream (the head and the tail), says it
truncated, and its memory stays bounded. Host git on the hub (trusted) is read whole.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from isollm import proc
from isollm.git.facade import Git
from isollm.sandbox.base import MAX_OUTPUT
from tests.integration.sandbox_support import Factory, factory_for

__all__ = ["factory_for"]

Make = Callable[[str], Factory]
GIB = 1 << 30

# Run in a fresh interpreter, so the peak RSS it reports is this exec's alone.
MEASURE = """
import json, resource, sys
from isollm.sandbox import registry

def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

sb = registry.open_sandbox(sys.argv[1], sys.argv[2])
before = peak()
script = 'head -c "$1" /dev/zero | tr "\\\\0" x; echo END; echo oops >&2'
result = sb.exec(["sh", "-c", script, "sh", sys.argv[3]], timeout=600)
json.dump({
    "grew": peak() - before,
    "ok": result.ok,
    "truncated": result.truncated,
    "dropped": list(result.dropped),
    "stdout_len": len(result.stdout),
    "head": result.stdout[:5],
    "tail": result.stdout[-4:],
    "stderr": result.stderr,
    "marker": "bytes left out by isollm" in result.stdout,
}, sys.stdout)
"""


@pytest.fixture
def overlay(factory_for: Make) -> Factory:
    return factory_for("overlay")


def test_a_sandboxed_command_printing_1_gib_is_kept_within_the_cap(overlay: Factory) -> None:
    sb = overlay.make("noisy")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, overlay.project, sb.name, str(GIB)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=True,
    )
    seen = json.loads(done.stdout)
    assert seen["ok"]
    assert seen["truncated"]
    assert seen["marker"]
    assert seen["dropped"][0] == GIB + len("END\n") - MAX_OUTPUT
    assert seen["dropped"][1] == 0
    assert seen["stderr"] == "oops\n"
    assert MAX_OUTPUT <= seen["stdout_len"] < MAX_OUTPUT + 100
    assert (seen["head"], seen["tail"]) == ("xxxxx", "END\n")  # the head and the tail
    # The host process grew by a few copies of the cap at most, not by the gigabyte.
    assert seen["grew"] < 8 * MAX_OUTPUT, seen


def test_the_cap_is_per_call_and_keeps_head_and_tail(overlay: Factory) -> None:
    sb = overlay.make("small")
    script = "echo BEGIN; seq 1 200000; echo END >&2; seq 1 100000 >&2; echo LAST >&2"
    result = sb.exec(["sh", "-c", script], max_output=4096, timeout=120)
    assert result.ok
    assert result.truncated
    assert result.stdout.startswith("BEGIN\n1\n2\n")
    assert result.stdout.endswith("199999\n200000\n")
    assert result.stderr.startswith("END\n1\n")
    assert result.stderr.endswith("100000\nLAST\n")
    assert all(n > 0 for n in result.dropped)
    assert len(result.stdout.encode()) < 4096 + 100
    small = sb.exec(["sh", "-c", "echo hi; echo there >&2"])
    assert (small.stdout, small.stderr, small.truncated) == ("hi\n", "there\n", False)


def test_a_timed_out_flood_is_killed_and_still_bounded(overlay: Factory) -> None:
    sb = overlay.make("flood")
    result = sb.exec(["sh", "-c", "yes flood"], timeout=2, max_output=1 << 20)
    assert result.timed_out
    assert not result.ok
    assert result.truncated
    assert len(result.stdout) < (1 << 20) + 100


def test_host_commands_are_capped_by_default_and_trusted_git_is_read_whole(
    tmp_path: Path,
) -> None:
    flood = proc.run(["sh", "-c", "seq 1 300000"], max_output=1 << 16)
    assert flood.truncated
    assert flood.stdout.endswith("300000\n")
    assert len(flood.stdout) < (1 << 16) + 100
    whole = proc.run(["sh", "-c", "seq 1 300000"], max_output=None)
    assert not whole.truncated
    assert whole.stdout.count("\n") == 300000

    # host git on a repository the host owns is trusted: read whole, even over the cap
    repo = tmp_path / "repo"
    repo.mkdir()
    git = Git(repo)
    git.run("init", "-q", "-b", "main")
    big = "y" * (MAX_OUTPUT + 4096)
    blob = git.run("hash-object", "-w", "--stdin", input=big).stdout.strip()
    shown = git.run("cat-file", "blob", blob)
    assert not shown.truncated
    assert shown.stdout == big


def test_input_larger_than_a_pipe_is_fed_without_deadlock() -> None:
    data = b"z" * (5 << 20)
    echoed = proc.run(["cat"], input=data, max_output=None)
    assert len(echoed.stdout) == len(data)
    gone = proc.run(["sh", "-c", "exec 0<&-; echo closed"], input=data)  # reader left
    assert gone.stdout == "closed\n"
