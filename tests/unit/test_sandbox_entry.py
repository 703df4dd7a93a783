"""The overlay entry (``enter.py``): its plan on the command line, and what it costs to start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from isollm.sandbox import enter
from isollm.sandbox.bwrap import ENTER, STAGE, EntryPlan


def parsed(plan: EntryPlan) -> enter.Plan:
    argv = plan.argv("python")
    assert argv[:4] == ["python", "-I", "-S", str(ENTER)]
    return enter.Plan(argv[4:])


def test_the_plan_round_trips_through_plain_arguments() -> None:
    odd = Path("/data/a dir/with -- and, commas")
    bwrap = ["/usr/bin/bwrap", "--bind", str(odd), "/x", "--", "sh", "-c", "echo -"]
    plan = parsed(
        EntryPlan(
            bwrap,
            [2],
            uid=2000,
            gid=2001,
            overlay=(odd / "l", odd / "u", odd / "w", odd / "m"),
            detach=Path("/root/.isollm"),
        )
    )
    assert plan.bwrap == bwrap
    assert (plan.user, plan.sources, plan.stage, plan.detach) == (
        (2000, 2001),
        [2],
        STAGE,
        "/root/.isollm",
    )
    assert plan.overlay == [str(odd / p) for p in "luwm"]


def test_absent_values_are_none() -> None:
    plan = parsed(EntryPlan(["/bin/true"], []))
    assert (plan.user, plan.overlay, plan.detach, plan.sources) == (None, None, None, [])


@pytest.mark.parametrize(
    "args",
    [[], ["1", "2", "/tmp", "-", "-", "-", "-", "-", "-", "bwrap"], ["x"] * 9 + ["--", "bwrap"]],
)
def test_a_malformed_plan_is_refused_before_anything_runs(args: list[str]) -> None:
    assert enter.main(args) == enter.EXIT_SETUP


def test_the_entry_imports_nothing_slow() -> None:
    """Every sandboxed command pays for each import: json and typing cost ~20 ms."""
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-X", "importtime", str(ENTER)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == enter.EXIT_SETUP
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "ctypes" in imported  # the check sees imports at all
    assert not imported & {"json", "typing", "re", "enum", "ctypes.util", "__future__"}
