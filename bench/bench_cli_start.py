"""How long ``isollm`` takes to start, against ``python3 -c pass`` in the same run.

    python bench/bench_cli_start.py [--repeat 21] [--tasks 5]

Builds a small throwaway project (its own HOME and ISOLLM_HOME, a task server on a
free port, a few tasks), then times, round-robin so a busy machine slows every
command alike, the median wall time (and CPU time) of:

- ``python -c pass`` (the yardstick: the interpreter isollm runs on, alone; this
  script's own, as a ``python3`` found on PATH may be a shim, pyenv's costs ~100 ms);
- ``isollm --version`` and ``isollm --help`` (the start path every command pays);
- ``isollm status --brief`` with a saved snapshot fresh enough to be rendered as is
  (what the dashboard pane keeps: target at most 5x the yardstick, issue #13); the
  snapshot is refreshed by an untimed ``isollm status --json`` when it gets old;
- ``isollm task list`` (config, HTTP client and a request to the running server).

Bytecode is cached (in the throwaway directory, through ``PYTHONPYCACHEPREFIX``) as
an installed isollm's is; ``--no-bytecode`` keeps ``PYTHONDONTWRITEBYTECODE`` when the
environment sets it, so every run compiles isollm's modules again (the slow case).
Prints each median and its ratio to the yardstick's.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from benchlib import ISOLLM, arguments, new_project, private_home, run

YARDSTICK = "python -c pass"
COMMANDS: dict[str, list[str]] = {
    YARDSTICK: [sys.executable, "-c", "pass"],
    "isollm --version": [ISOLLM, "--version"],
    "isollm --help": [ISOLLM, "--help"],
    "isollm status --brief": [ISOLLM, "status", "--brief"],
    "isollm task list": [ISOLLM, "task", "list"],
}
SNAPSHOT_REFRESH_SECONDS = 3.0  # status.json is rendered by --brief while at most 5 s old


class Sample(NamedTuple):
    wall: float  # seconds
    cpu: float  # user + system seconds of the process: less moved by a busy machine


@contextmanager
def project(tasks: int, bytecode: bool) -> Iterator[tuple[Path, dict[str, str]]]:
    tmp = Path(tempfile.mkdtemp(prefix="isollm-bench-start-"))
    env = private_home(tmp)
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    root = tmp / "repo"
    started = False
    try:
        new_project(root, env)
        started = True
        for n in range(tasks):
            run([ISOLLM, "task", "add", f"task {n}"], root, env)
        yield root, env
    finally:
        if started:
            stop = [ISOLLM, "server", "stop"]
            subprocess.run(stop, cwd=root, env=env, capture_output=True, check=False)
        shutil.rmtree(tmp, ignore_errors=True)


def keep_snapshot_fresh(root: Path, env: dict[str, str]) -> None:
    """Collect (untimed) when the saved snapshot is missing or getting old."""
    path = root / ".isollm" / "status.json"
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        age = float("inf")
    if age > SNAPSHOT_REFRESH_SECONDS:
        run([ISOLLM, "status", "--json"], root, env)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def once(argv: Sequence[str], root: Path, env: dict[str, str]) -> Sample:
    cpu, started = children_cpu(), time.perf_counter()
    done = subprocess.run(argv, cwd=root, env=env, capture_output=True, check=False)
    sample = Sample(time.perf_counter() - started, children_cpu() - cpu)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stdout!r}{done.stderr!r}")
    return sample


def measure(root: Path, env: dict[str, str], repeat: int) -> dict[str, list[Sample]]:
    times: dict[str, list[Sample]] = {name: [] for name in COMMANDS}
    for argv in COMMANDS.values():  # warm the page cache and .pyc files, untimed
        keep_snapshot_fresh(root, env)
        once(argv, root, env)
    for _ in range(repeat):
        for name, argv in COMMANDS.items():
            if name == "isollm status --brief":
                keep_snapshot_fresh(root, env)
            times[name].append(once(argv, root, env))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=21)
    parser.add_argument("--tasks", type=int, default=5, help="tasks in the queue")
    parser.add_argument(
        "--no-bytecode", action="store_true", help="keep PYTHONDONTWRITEBYTECODE if set"
    )
    args = arguments(parser)
    with project(args.tasks, bytecode=not args.no_bytecode) as (root, env):
        times = measure(root, env, args.repeat)
        compiled = "PYTHONDONTWRITEBYTECODE" in env
    wall = {name: statistics.median(s.wall for s in samples) for name, samples in times.items()}
    cpu = {name: statistics.median(s.cpu for s in samples) for name, samples in times.items()}
    kind = "compiled on every run" if compiled else "bytecode cached"
    print(f"median of {args.repeat}, round-robin, same run, {kind}:")
    print(f"  {'':<24} {'wall':>9}  {'ratio':>5}   {'cpu':>8}  {'ratio':>5}")
    for name in COMMANDS:
        w, c = wall[name] * 1000, cpu[name] * 1000
        base_w, base_c = wall[YARDSTICK] * 1000, cpu[YARDSTICK] * 1000
        print(f"  {name:<24} {w:6.1f} ms  {w / base_w:4.1f}x  {c:5.1f} ms  {c / base_c:4.1f}x")
    brief = wall["isollm status --brief"] / wall[YARDSTICK]
    print("target status --brief <= 5x (wall): " + ("met" if brief <= 5 else "NOT met"))


if __name__ == "__main__":
    main()
