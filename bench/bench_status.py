"""What ``isollm status`` costs with 20 workers.

    python bench/bench_status.py [--workers 20] [--repeat 15] [--fake]

Builds a throwaway project (its own HOME and ISOLLM_HOME) with a task server, 40
tasks of which one is claimed per worker, and N workers: real sandboxes of the
configured backend (overlay), or with ``--fake`` worker records only (their sandboxes
then read as missing: cheaper than real ones, so say which was measured). Then, in the
same run, the median wall time of:

- ``python -c pass`` with isollm's own interpreter (the yardstick; a ``python3``
  on PATH may be a slow shim);
- ``isollm status --brief`` while the dashboard (``isollm status --watch 2``) runs and
  keeps the saved snapshot fresh: the case ``--brief`` is made for (target: at most
  5x the yardstick);
- ``isollm status --brief`` with no fresh snapshot (it collects itself);
- ``isollm status --json``: a full collect (p50 and p90; a first CPU % is measured
  over at least 0.25 s, overlapping the other reads).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from benchlib import ISOLLM, arguments, new_project, percentile, private_home, run


def timed(argv: Sequence[str], cwd: Path, env: dict[str, str], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return times


@contextlib.contextmanager
def project(workers: int, fake: bool) -> Iterator[tuple[Path, dict[str, str]]]:
    tmp = Path(tempfile.mkdtemp(prefix="isollm-bench-status-"))
    env = private_home(tmp)
    root = tmp / "repo"
    try:
        new_project(root, env)
        fill(root, env, workers, fake)
        yield root, env
    finally:
        cleanup(root, env, tmp)


def fill(root: Path, env: dict[str, str], workers: int, fake: bool) -> None:
    script = f"""
import sys
from isollm import config as cfg
from isollm.sandbox.workers import Project, add_worker
from isollm.state import FileState, WorkerState, WorkerStatus
from isollm.tasks.server.control import ensure_server
loaded = cfg.load_valid()
with ensure_server(loaded.config, loaded.root) as client:
    tasks = [client.add_task(f"task {{n}}") for n in range(40)]
    for n in range(1, {workers} + 1):
        client.claim(tasks[n].id, agent=f"worker-{{n}}")
state = FileState.for_project(loaded.root)
for n in range(1, {workers} + 1):
    if {fake}:
        state.save_worker(WorkerState(f"worker-{{n}}", status=WorkerStatus.IDLE))
    else:
        add_worker(Project.load(loaded.root), f"worker-{{n}}")
"""
    run([sys.executable, "-c", script], root, env)


def cleanup(root: Path, env: dict[str, str], tmp: Path) -> None:
    if not (root / "isollm.yaml").is_file():
        shutil.rmtree(tmp, ignore_errors=True)
        return
    script = """
from isollm import config as cfg
from isollm.sandbox import registry

project = cfg.load_valid().config.project
for sandbox in registry.list_sandboxes(project)[0]:
    sandbox.destroy()
"""
    subprocess.run([sys.executable, "-c", script], cwd=root, env=env, check=False)
    subprocess.run([ISOLLM, "server", "stop"], cwd=root, env=env, capture_output=True, check=False)
    shutil.rmtree(tmp, ignore_errors=True)


def median_ms(times: list[float]) -> float:
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--fake", action="store_true", help="worker records, no sandboxes")
    args = arguments(parser)
    started = time.perf_counter()
    with project(args.workers, args.fake) as (root, env):
        made = time.perf_counter() - started
        kind = "worker records only (--fake)" if args.fake else "real sandboxes"
        print(f"{args.workers} workers, {kind}; project built in {made:.1f}s")
        json_times = timed([ISOLLM, "status", "--json"], root, env, args.repeat)
        saved = (root / ".isollm" / "status.json", root / ".isollm" / "status-brief.txt")
        cold = []
        for _ in range(args.repeat):
            for path in saved:
                path.unlink(missing_ok=True)
            cold += timed([ISOLLM, "status", "--brief"], root, env, 1)
        dashboard = subprocess.Popen(
            [ISOLLM, "status", "--watch", "2"],
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(4)
            yardstick = timed([sys.executable, "-c", "pass"], root, env, args.repeat)
            brief = timed([ISOLLM, "status", "--brief"], root, env, args.repeat)
            yardstick += timed([sys.executable, "-c", "pass"], root, env, args.repeat)
        finally:
            dashboard.send_signal(signal.SIGINT)
            dashboard.wait(30)
    base = median_ms(yardstick)
    ratio = median_ms(brief) / base
    print(f"python -c pass             median {base:7.1f} ms")
    print(f"status --brief (dashboard)  median {median_ms(brief):7.1f} ms  = {ratio:.1f}x")
    print(f"status --brief (collects)   median {median_ms(cold):7.1f} ms")
    p90 = percentile(json_times, 90) * 1000  # quantiles() needs two samples
    print(f"status --json              p50 {median_ms(json_times):7.1f} ms  p90 {p90:7.1f} ms")
    print("target --brief <= 5x: " + ("met" if ratio <= 5 else "NOT met"))


if __name__ == "__main__":
    main()
