"""``isollm run`` orchestration cost: many tasks whose agent does nothing.

    python bench/bench_run.py [--tasks 1000] [--workers 16] [--backend overlay]

A small repository, its own task server (a free port) and ISOLLM_HOME; ``--tasks``
tasks whose agent is ``command: [true]``; ``isollm run -n WORKERS`` with no stagger
and ``max_concurrent_starts`` = WORKERS, in a subprocess as a user runs it. Reported:

- throughput: tasks/s over the whole command, and over the ledger's first claim to
  its last done;
- per-task orchestration overhead from the ledger's timestamps, p50 and p99: claim to
  agent start (the task's branch checked out in the sandbox refreshed before the claim,
  the instruction file, the start gate) and agent exit to done (commit and push to the
  hub, done on the server; the receipt follows); for that
  run, and for a second one of ``--alone-tasks`` tasks with one worker (no contention:
  with N workers busy on C cores a task waits its turn for a CPU at every step);
- CPU time per task of ``isollm run`` with the children it waited for (sandboxes,
  agents, git) and of the task server, and how busy the machine's CPUs were (every
  process: on a shared machine that includes other people's work);
- replay speed of that run's ledger (``ledger.replay``) against ``json.loads`` of the
  same lines.

Baselines measured in the same run: a bare claim-next + done loop against the same
server (the queue's floor), one ``git worktree add`` + ``remove`` of the same
repository, and one command run in an overlay sandbox (``true`` in bubblewrap).
Targets on 2 cores: >= 20 tasks/s, overhead p50 < 100 ms, replay >= 500,000 events/s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, get_args

from benchlib import (
    IDENTITY,
    ISOLLM,
    arguments,
    cpu_seconds,
    free_port,
    median_seconds,
    percentile,
    run,
)

from isollm.config.model import SandboxBackendName

TARGET_TASKS_PER_S = 20.0
TARGET_P50_MS = 100.0
TARGET_REPLAY = 500_000


def make_project(root: Path, port: int, workers: int, backend: SandboxBackendName) -> None:
    """A repository with a few files and an isollm.yaml for the bench, committed."""
    import dataclasses

    from isollm import config as cfg

    root.mkdir()
    run(["git", "init", "-q", "-b", "main"], root)
    for i in range(20):
        (root / f"mod{i:02d}.py").write_text(f"VALUE = {i}\n" * 50)
    (root / ".gitignore").write_text(".isollm/\n")
    run([ISOLLM, "init"], root)
    loaded = cfg.load(root)
    c = loaded.config
    c = dataclasses.replace(
        c,
        workers=workers,
        airyra=dataclasses.replace(c.airyra, port=port),
        sandbox=dataclasses.replace(c.sandbox, backend=backend),
        agent=dataclasses.replace(c.agent, name="command", command=["true"], timeout=60),
        runner=dataclasses.replace(
            c.runner, stagger_seconds=0.0, max_concurrent_starts=workers, backoff_seconds=0.1
        ),
    )
    cfg.save(loaded.path, c)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-q", "-m", "bench project"], root)


def add_tasks(client: Any, count: int, prefix: str) -> None:
    from isollm.tasks.store.model import ImportItem, NewTask

    for start in range(0, count, 500):
        items = [
            ImportItem(NewTask(f"{prefix} {n}")) for n in range(start, min(count, start + 500))
        ]
        client.import_tasks(items)


# --- the ledger's story ---------------------------------------------------------------


@dataclass
class Figures:
    tasks_done: int
    span_s: float
    to_start_ms: list[float]
    to_done_ms: list[float]


def stamp(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["ts"]).timestamp()


def figures(events: list[dict[str, Any]]) -> Figures:
    """Per attempt: claimed -> agent.started, agent.finished -> task.done."""
    seen: dict[tuple[str, int], dict[str, float]] = defaultdict(dict)
    for e in events:
        if "task" in e and e["type"] in (
            "task.claimed",
            "agent.started",
            "agent.finished",
            "task.done",
        ):
            seen[e["task"], e.get("attempt") or 0].setdefault(e["type"], stamp(e))
    to_start, to_done = [], []
    for s in seen.values():
        if "task.claimed" in s and "agent.started" in s:
            to_start.append((s["agent.started"] - s["task.claimed"]) * 1000)
        if "agent.finished" in s and "task.done" in s:
            to_done.append((s["task.done"] - s["agent.finished"]) * 1000)
    claims = [s["task.claimed"] for s in seen.values() if "task.claimed" in s]
    dones = [s["task.done"] for s in seen.values() if "task.done" in s]
    span = max(dones) - min(claims) if dones else 0.0
    return Figures(len(dones), span, to_start, to_done)


# --- baselines ------------------------------------------------------------------------


def machine_cpu() -> float:
    """CPU-seconds every process and the kernel spent so far (``/proc/stat``)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    busy = sum(fields) - fields[3] - fields[4]  # all but idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


def bare_claim_loop(url: str, count: int) -> float:
    """Seconds per task of claim-next + done, one client, on a project of its own."""
    from isollm.tasks.client.http import TaskClient
    from isollm.tasks.server.control import host_token

    token = host_token()  # adds the tasks, then claims and finishes them as "bench"
    with TaskClient(url, "bench-baseline", agent="bench", token=token) as client:
        add_tasks(client, count, "baseline")
        start = time.perf_counter()
        while (claim := client.claim_next("bench", 300)) is not None:
            client.done(claim.task.id, "bench", claim.fence)
        return (time.perf_counter() - start) / count


def worktree_add_remove(repo: Path, repeat: int) -> float:
    counter = iter(range(repeat))

    def once() -> None:
        path = repo.parent / f"wt{next(counter)}"
        run(["git", "worktree", "add", "-q", "--detach", str(path), "main"], repo)
        run(["git", "worktree", "remove", "--force", str(path)], repo)

    return median_seconds(once, repeat)


def sandbox_exec(repo: Path, repeat: int, backend: str) -> float:
    """One command (``true``) run in a sandbox of the run's backend."""
    from isollm.git.hub import Hub
    from isollm.sandbox import registry
    from isollm.sandbox.base import SandboxSpec

    hub = Hub.for_project("bench-exec").ensure()
    run(["git", "push", "-q", str(hub.path), "main"], repo)
    sb = registry.create(SandboxSpec(name="x1", project="bench-exec", hub=hub.path), backend)
    try:
        return median_seconds(lambda: sb.exec(["true"]).check(), repeat)
    finally:
        sb.destroy()


def replay_rates(path: Path, repeat: int) -> tuple[float, float, int]:
    """events/s of ``ledger.replay`` and of ``json.loads`` per line, and the event count."""
    from isollm.runner import ledger

    n = len(path.read_bytes().splitlines())

    def stdlib() -> None:
        for line in path.read_bytes().splitlines():
            json.loads(line)

    ours = n / median_seconds(lambda: ledger.replay(path), repeat * 3)
    base = n / median_seconds(stdlib, repeat * 3)
    return ours, base, n


# --- the run --------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--backend", default="overlay", choices=get_args(SandboxBackendName))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--alone-tasks", type=int, default=100, help="tasks of the uncontended 1-worker run"
    )
    args = arguments(parser)
    with tempfile.TemporaryDirectory(prefix="isollm-bench-run-", dir="/var/tmp") as tmp:
        os.environ.update(IDENTITY, ISOLLM_HOME=f"{tmp}/home", GIT_CONFIG_NOSYSTEM="1")
        port = free_port()
        try:
            bench(Path(tmp), port, args)
        finally:
            from isollm.tasks.server import control as service

            service.stop(port)


@dataclass
class Measured:
    workers: int
    tasks: int
    wall: float
    busy: float  # machine CPU-seconds during the run
    own: float  # CPU-seconds of the command and the children it waited for
    server: float  # CPU-seconds of the task server
    load: float  # load average before it
    ledger: Path
    figures: Figures


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure_run(root: Path, client: Any, tasks: int, workers: int, server: int) -> Measured:
    """Queue ``tasks`` tasks, run ``isollm run -n workers`` over them, read its ledger;
    ``server`` is the task server's pid."""
    add_tasks(client, tasks, f"bench task ({workers} workers)")
    load = os.getloadavg()[0]
    cpu_before, own_before, server_before = machine_cpu(), children_cpu(), cpu_seconds(server)
    start = time.perf_counter()
    run([ISOLLM, "run", "--plain", "-n", str(workers)], root)
    wall = time.perf_counter() - start
    busy = machine_cpu() - cpu_before
    own, server_cpu = children_cpu() - own_before, cpu_seconds(server) - server_before
    ledger_path = max((root / ".isollm" / "runs").iterdir()) / "events.ndjson"
    events = [json.loads(line) for line in ledger_path.read_bytes().splitlines()]
    f = figures(events)
    if f.tasks_done != tasks:
        raise SystemExit(f"only {f.tasks_done} of {tasks} tasks were done: see {ledger_path}")
    return Measured(workers, tasks, wall, busy, own, server_cpu, load, ledger_path, f)


def bench(tmp: Path, port: int, args: argparse.Namespace) -> None:
    from isollm import config as cfg
    from isollm.tasks.server.control import ensure_server, read_state

    root = tmp / "repo"
    make_project(root, port, args.workers, args.backend)
    run([ISOLLM, "server", "start"], root)
    client = ensure_server(cfg.load(root).config, root)
    print(f"agent `true`, {args.backend} sandboxes, {os.cpu_count()} cores")
    state = read_state(port)
    if state is None:
        raise SystemExit(f"no task server state for port {port}")
    main_run = measure_run(root, client, args.tasks, args.workers, state.pid)
    alone = measure_run(root, client, args.alone_tasks, 1, state.pid)
    claim_s = bare_claim_loop(client.base_url, min(args.tasks, 500))
    worktree_s = worktree_add_remove(root, args.repeat)
    exec_s = sandbox_exec(root, args.repeat * 4, args.backend)
    replay = replay_rates(main_run.ledger, args.repeat)
    client.close()
    report(args, (main_run, alone), (claim_s, worktree_s, exec_s), replay)


def report(
    args: argparse.Namespace,
    runs: tuple[Measured, Measured],
    baselines: tuple[float, float, float],
    replay: tuple[float, float, int],
) -> None:
    claim_s, worktree_s, exec_s = baselines
    main_run = runs[0]
    f = main_run.figures
    print(f"\nthroughput, {main_run.tasks} tasks, {main_run.workers} workers")
    rate = main_run.tasks / main_run.wall
    line(
        f"whole command ({main_run.wall:.1f} s)", f"{rate:8.1f} tasks/s", rate >= TARGET_TASKS_PER_S
    )
    line(
        f"first claim to last done ({f.span_s:.1f} s)", f"{main_run.tasks / f.span_s:8.1f} tasks/s"
    )
    line("baseline: bare claim-next + done loop", f"{1 / claim_s:8.1f} tasks/s (one client)")
    print("\nper-task orchestration overhead (ledger timestamps): p50, p99")
    for measured in runs:
        report_overhead(measured)
    line("baseline: bare claim-next + done", f"{claim_s * 1000:7.1f} ms per task")
    line("baseline: git worktree add + remove", f"{worktree_s * 1000:7.1f} ms")
    line(f"baseline: one command in a sandbox ({args.backend})", f"{exec_s * 1000:7.1f} ms")
    report_replay(main_run, replay)
    print("\nCPU per task: isollm run and the children it waited for, the task server;")
    print("the machine (every process, kernel included: on a shared machine, others' too)")
    for measured in runs:
        report_machine(measured)


def report_overhead(run: Measured) -> None:
    segments = (
        ("claim -> agent start", run.figures.to_start_ms),
        ("agent exit -> done", run.figures.to_done_ms),
    )
    for name, values in segments:
        p50, p99 = percentile(values, 50), percentile(values, 99)
        line(
            f"{name}, {run.workers} worker(s)", f"{p50:7.1f} ms {p99:7.1f} ms", p50 < TARGET_P50_MS
        )


def report_replay(run: Measured, replay: tuple[float, float, int]) -> None:
    ours, base, n = replay
    print(f"\nledger replay of the {run.workers}-worker run ({n:,} events)")
    line(
        "ledger.replay",
        f"{ours:12,.0f} events/s ({ours / base:.2f}x json.loads)",
        ours >= TARGET_REPLAY,
    )
    line("baseline: json.loads per line", f"{base:12,.0f} events/s")


def report_machine(run: Measured) -> None:
    cores = os.cpu_count() or 1
    busy = run.busy / (run.wall * cores)
    own, server = run.own / run.tasks * 1000, run.server / run.tasks * 1000
    machine = run.busy / run.tasks * 1000
    line(
        f"{run.workers} worker(s), load {run.load:.1f} before",
        f"run {own:.0f} ms + server {server:.0f} ms; machine {machine:.0f} ms, {busy:.0%} busy",
    )


def line(name: str, figure: str, ok: bool | None = None) -> None:
    mark = "" if ok is None else ("  ok" if ok else "  MISSES the target")
    print(f"  {name:44} {figure}{mark}")


if __name__ == "__main__":
    main()
