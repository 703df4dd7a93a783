"""A SIGKILL campaign on `isollm merge`: killed at random moments, rerun each time.

Whatever moment the kill lands on (building, testing in the sandbox, moving the target,
writing the journal), the target branch on the hub only ever moves to a tested merge
(never to one holding the branch that breaks the test), every move is a compare-and-set
from the value before it, and each task lands exactly once.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import re
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from isollm import fsutil
from isollm.land import testing
from isollm.sandbox import registry
from isollm.tasks.server import control as service
from tests.conftest import skip_or_fail
from tests.integration.land_support import ISOLLM, CliProject, cli_project
from tests.integration.sandbox_support import unmount_under

KILLS = 10
SEED = 14


@pytest.fixture
def project(git_repo: Path, tmp_path: Path) -> Iterator[CliProject]:
    reason = registry.available("overlay")
    if reason:
        skip_or_fail(f"overlay backend unavailable: {reason}")
    made = cli_project(git_repo, tmp_path)
    yield made
    service.stop(made.port)
    name = made.config().project
    with contextlib.suppress(Exception):
        testing.remove_leftover(name)
    for cls in registry.BACKENDS.values():
        with contextlib.suppress(Exception):
            for leftover in cls.leftovers(name):
                cls.remove_leftover(name, leftover)
    unmount_under(fsutil.isollm_home())


def merge_all(root: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [ISOLLM, "merge", "--all"], cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


@pytest.mark.slow
def test_killed_merges_only_ever_land_tested_merges_once(project: CliProject) -> None:
    rng = random.Random(SEED)
    good = [project.deliver("Task 0", {"f0.txt": "0\n"})]
    broken = project.deliver("Break it", {"README.md": "BROKEN\n"})
    kills, started = 0, time.monotonic()
    while kills < KILLS:
        good.append(project.deliver(f"Task {len(good)}", {f"f{len(good)}.txt": "x\n"}))
        job = merge_all(project.root)
        time.sleep(rng.uniform(0.3, 2.5))
        if job.poll() is None:
            job.kill()
            kills += 1
        job.wait()
        assert time.monotonic() - started < 50, f"only {kills} kills in 50 s"
    final = merge_all(project.root)
    assert final.wait(timeout=120) == 1  # the broken branch never lands: exit 1

    history = project.hub_git("reflog", "show", "--format=%H %P", "refs/heads/main").splitlines()
    moves = [line.split() for line in reversed(history)]
    for before, after in itertools.pairwise(moves):
        assert after[1] == before[0], "the target moved other than from its previous commit"
    subprocess.run(["git", "fetch", "-q", "origin"], cwd=project.work, check=True)
    for sha, *_ in moves:
        clean = subprocess.run(
            ["git", "grep", "-q", "BROKEN", sha, "--", "README.md"], cwd=project.work, check=False
        ).returncode
        assert clean == 1, f"main held an untested merge {sha}"
    bodies = project.hub_git("log", "--first-parent", "--format=%B", "main")
    landed = Counter(re.findall(r"^Isollm-Task: (\S+)$", bodies, re.MULTILINE))
    assert landed == dict.fromkeys(good, 1)
    assert broken not in landed
