"""Cost of the agent log pipe (redacted, capped: ``runner.agentlog.LogPump``) against the
agent writing straight into its log file, on a chatty agent.

    python bench/bench_agent_log.py [--mb 200] [--repeat 5]

The "agent" is ``yes LINE | head -c N`` (as fast a writer as a shell gets). Variants:
direct file (the old way); the pump with nothing registered and no cap; with three
secrets registered and no cap (every byte scanned and written); the real configuration
(secrets, 64 MiB cap, the rest drained). Prints the median wall time of each and the
throughput, and its time against the direct write's. A secret is planted at both ends
of the output; the bench stops if a variant with secrets registered leaves it in the log.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchlib import arguments

from isollm import redaction
from isollm.runner.agentlog import LOG_LIMIT, LogPump

LINE = "agent: editing src/parser.py; running tests ... 42 passed in 0.31s"
SECRETS = ("sk-ant-api03-" + "Zx9" * 20, "ayr_0123456789abcdef0123", "AIzaSyA-0123456789abcdefghij")


def agent(size: int) -> list[str]:
    script = f'echo "key {SECRETS[0]}"; yes "$1" | head -c {size}; echo; echo "key {SECRETS[0]}"'
    return ["sh", "-c", script, "sh", LINE]


def direct(size: int, log: Path) -> None:
    with log.open("ab") as out:
        subprocess.run(agent(size), stdout=out, stderr=subprocess.STDOUT, check=True)


def piped(size: int, log: Path, limit: int) -> None:
    with log.open("ab") as out:
        child = subprocess.Popen(agent(size), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert child.stdout is not None
        pump = LogPump(child.stdout, out, limit=limit).start()
        child.wait()
        pump.finish()


def measure(run: Callable[[Path], None], repeat: int, masked: bool) -> tuple[float, int]:
    """Median seconds and the log's size; with ``masked``, the planted secret must not
    be in the log."""
    times, size = [], 0
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            log = Path(tmp) / "attempt.log"
            started = time.perf_counter()
            run(log)
            times.append(time.perf_counter() - started)
            size = log.stat().st_size
            if masked and SECRETS[0].encode() in log.read_bytes():
                raise SystemExit("the planted secret reached the log unmasked")
    return statistics.median(times), size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = arguments(parser)
    size = args.mb * 1_000_000
    unlimited = 1 << 62
    variants: list[tuple[str, bool, Callable[[Path], None]]] = [
        ("direct file write", False, lambda log: direct(size, log)),
        ("pipe, nothing registered", False, lambda log: piped(size, log, unlimited)),
        ("pipe, 3 secrets, no cap", True, lambda log: piped(size, log, unlimited)),
        ("pipe, 3 secrets, 64 MiB cap", True, lambda log: piped(size, log, LOG_LIMIT)),
    ]
    print(f"{args.mb} MB of agent output, median of {args.repeat} (ratio: time / direct's)")
    baseline = 0.0
    for name, secrets, run in variants:
        redaction.forget_all()
        if secrets:
            redaction.register(*SECRETS)
        median, written = measure(run, args.repeat, secrets)
        baseline = baseline or median  # the first variant, direct file write
        rate = size / median / 1e6
        print(
            f"  {name:<30} {median:7.3f} s  {median / baseline:5.2f}x  {rate:7.0f} MB/s  "
            f"log {written / 1e6:7.1f} MB"
        )


if __name__ == "__main__":
    main()
