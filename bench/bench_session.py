"""``isollm up`` / ``down`` wall time: a session of N workers with real tmux.

    python bench/bench_session.py [--workers 8] [--repeat 3]

A small repository with its own ISOLLM_HOME, task server (a free port) and project
name; the agent is the ``command`` agent running a script that prints a line and waits
(an agent at its prompt). Timed, as a user runs them (the installed command in a
subprocess), each ``--repeat`` times, medians printed:

- cold ``up -n N --detach --mux tmux``: the workers' sandboxes created, to every worker
  pane showing its agent's first line (all panes running); then ``down --yes --destroy``;
- warm ``up``: the workers exist (stopped by the previous ``down --yes``) and are
  restarted; then ``down --yes`` (salvage check, claims released, panes and sandboxes
  stopped).

Baseline measured in the same run: ``tmux -L NAME new-session -d`` then ``kill-server``
(what any tmux session costs), and ``python -S -c pass``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from benchlib import IDENTITY, ISOLLM, arguments, free_port, run

TMUX = shutil.which("tmux") or "/usr/bin/tmux"
AGENT = 'echo "agent ready"; exec sleep 600\n'


def make_project(root: Path, project: str, port: int) -> None:
    root.mkdir()
    run(["git", "init", "-q", "-b", "main"], root)
    for i in range(20):
        (root / f"mod{i:02d}.py").write_text(f"VALUE = {i}\n" * 50)
    (root / "agent.sh").write_text(AGENT)
    run([ISOLLM, "init"], root)
    text = (root / "isollm.yaml").read_text()
    text = text.replace("project: root", f"project: {project}").replace(
        "port: 7432", f"port: {port}"
    )
    text = text.replace("  name: claude\n", "  name: command\n", 1)
    text = text.replace("  command: []\n", '  command: [sh, agent.sh, "{prompt}"]\n', 1)
    (root / "isollm.yaml").write_text(text)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-q", "-m", "bench project"], root)
    run([ISOLLM, "server", "start"], root)


def tmux(socket_name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TMUX, "-L", socket_name, *args], capture_output=True, text=True, timeout=10, check=False
    )


def panes_ready(socket_name: str, workers: int) -> bool:
    listed = tmux(socket_name, "list-panes", "-a", "-F", "#{pane_id}\t#{@isollm_title}")
    ready = 0
    for line in listed.stdout.splitlines():
        pane, _, title = line.partition("\t")
        if title.startswith("worker-"):
            screen = tmux(socket_name, "capture-pane", "-p", "-t", pane).stdout
            ready += "agent ready" in screen
    return ready == workers


def timed_up(root: Path, socket_name: str, workers: int) -> tuple[float, float]:
    """(the command's own time, the time until every worker pane runs its agent)."""
    started = time.perf_counter()
    run([ISOLLM, "up", "-n", str(workers), "--detach", "--mux", "tmux"], root)
    command = time.perf_counter() - started
    deadline = started + 120
    while not panes_ready(socket_name, workers):
        if time.perf_counter() > deadline:
            raise SystemExit("the panes did not all start within 120 s")
        time.sleep(0.05)
    return command, time.perf_counter() - started


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def baseline(repeat: int) -> tuple[float, float]:
    name = f"bench-{uuid.uuid4().hex[:8]}"

    def tmux_session() -> None:
        tmux(name, "new-session", "-d", "-s", "b", "sleep", "60")
        tmux(name, "kill-server")

    python = [
        timed(lambda: subprocess.run([sys.executable, "-S", "-c", "pass"], check=True))
        for _ in range(repeat * 3)
    ]
    session = [timed(tmux_session) for _ in range(repeat * 3)]
    return statistics.median(session), statistics.median(python)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = arguments(parser)
    project = f"b{uuid.uuid4().hex[:8]}"
    socket_name = f"isollm-{project}"
    with tempfile.TemporaryDirectory(prefix="isollm-bench-session-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        os.environ.update(IDENTITY)
        os.environ.update(
            {
                "HOME": str(home),
                "ISOLLM_HOME": str(home / ".isollm"),
                "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
            }
        )
        root = Path(tmp) / "root"
        make_project(root, project, free_port())
        results: dict[str, list[float]] = {k: [] for k in ("cold", "cold-cmd", "warm", "warm-cmd")}
        downs: dict[str, list[float]] = {"destroy": [], "stop": []}
        try:
            for _ in range(args.repeat):
                command, panes = timed_up(root, socket_name, args.workers)
                results["cold-cmd"].append(command)
                results["cold"].append(panes)
                run([ISOLLM, "down", "--yes"], root)  # stopped: the next up restarts them
                command, panes = timed_up(root, socket_name, args.workers)
                results["warm-cmd"].append(command)
                results["warm"].append(panes)
                downs["stop"].append(timed(lambda: run([ISOLLM, "down", "--yes"], root)))
                run([ISOLLM, "up", "-n", str(args.workers), "--detach", "--mux", "tmux"], root)
                downs["destroy"].append(
                    timed(lambda: run([ISOLLM, "down", "--yes", "--destroy"], root))
                )
        finally:
            tmux(socket_name, "kill-server")
            subprocess.run(
                [ISOLLM, "down", "--yes", "--destroy"], cwd=root, capture_output=True, check=False
            )
            subprocess.run([ISOLLM, "server", "stop"], cwd=root, capture_output=True, check=False)
        tmux_s, python_s = baseline(args.repeat)
    med = {k: statistics.median(v) for k, v in results.items()}
    n = args.workers
    print(f"isollm up -n {n} --detach (tmux), median of {args.repeat}:")
    for kind, what in (("cold", "sandboxes created"), ("warm", "sandboxes restarted")):
        print(
            f"  {kind} ({what}): {med[kind]:.2f} s to all panes running "
            f"(the command: {med[kind + '-cmd']:.2f} s)"
        )
    print(f"isollm down --yes: {statistics.median(downs['stop']):.2f} s (sandboxes stopped)")
    print(f"isollm down --yes --destroy: {statistics.median(downs['destroy']):.2f} s")
    print(
        f"baseline: tmux new-session -d + kill-server {tmux_s * 1000:.0f} ms; "
        f"python -S -c pass {python_s * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
