"""The merge queue against a plain ``git merge`` loop: 50 clean task branches.

    python bench/bench_merge.py [--branches 50] [--files 200] [--repeat 3]

Each repeat builds a hub whose base has ``--files`` files and ``--branches`` task
branches, each adding one file of its own (all merge cleanly). Measured on the same
branches, in the same run:

- ``isollm merge --all --no-test`` (its core, :func:`isollm.land.merge.merge`: the
  integrator lock, the journal, merge-tree + commit-tree, a compare-and-set per branch;
  no test, the task queue empty so every branch is a candidate);
- a plain loop in a non-bare clone: ``git merge --no-edit`` of each branch (a checkout
  updated each time).

Prints the median wall time and branches per second of each, and the ratio.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from benchlib import arguments

from isollm.git.hub import Hub
from isollm.land.candidates import TaskFacts
from isollm.land.merge import MergeRequest, Queue, Status, merge

PREFIX = "isollm/"
GIT = shutil.which("git") or "git"


class EmptyQueue:
    """No task is in the queue: every task branch is a candidate, ordered by its commit."""

    def facts(self, task_id: str) -> TaskFacts | None:
        return None

    def add_fix_task(self, title: str, description: str) -> str:
        raise AssertionError("no branch fails in this benchmark")

    def unfinished(self, title: str) -> str | None:
        return None


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@invalid"}
    env |= {"GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@invalid"}
    return subprocess.run(
        [GIT, *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def make_hub(root: Path, branches: int, files: int) -> Hub:
    hub = Hub(root / "home" / "bench.git").ensure()
    work = root / "work"
    git(root, "init", "-q", "-b", "main", str(work))
    for n in range(files):
        (work / f"file{n:04d}.txt").write_text(f"line {n}\n" * 20)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "base")
    for n in range(branches):
        git(work, "checkout", "-q", "-B", f"{PREFIX}t{n:03d}", "main")
        (work / f"task{n:03d}.txt").write_text(f"task {n}\n")
        git(work, "add", "-A")
        git(work, "commit", "-q", "-m", f"task {n}")
    git(work, "push", "-q", str(hub.path), "main", *[f"{PREFIX}t{n:03d}" for n in range(branches)])
    return hub


def isollm_merge(hub: Hub, branches: int) -> float:
    queue = Queue(hub, hub.git(), "main", PREFIX, EmptyQueue(), None)
    started = time.perf_counter()
    report = merge(queue, MergeRequest())
    took = time.perf_counter() - started
    landed = [o for o in report.outcomes if o.status is Status.LANDED]
    assert len(landed) == branches, report.outcomes
    return took


def plain_loop(hub: Hub, root: Path, branches: int) -> float:
    clone = root / "clone"
    git(root, "clone", "-q", "--branch", "main", str(hub.path), str(clone))
    names = [f"origin/{PREFIX}t{n:03d}" for n in range(branches)]
    started = time.perf_counter()
    for name in names:
        git(clone, "merge", "-q", "--no-edit", name)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--branches", type=int, default=50)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = arguments(parser)
    ours, plain = [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            os.environ["ISOLLM_HOME"] = str(root / "home")
            hub = make_hub(root, args.branches, args.files)
            plain.append(plain_loop(hub, root, args.branches))
            ours.append(isollm_merge(hub, args.branches))
    a, b = statistics.median(ours), statistics.median(plain)
    n = args.branches
    print(f"{n} clean branches, {args.files} files in the base, median of {args.repeat}:")
    print(f"  isollm merge --all --no-test  {a:7.3f} s  {n / a:7.1f} branches/s")
    print(f"  git merge loop in a clone     {b:7.3f} s  {n / b:7.1f} branches/s")
    print(f"  ratio (isollm / git loop, branches/s): {b / a:.2f}x")


if __name__ == "__main__":
    main()
