"""Run-ledger speed: appending (durable) and replaying, against baselines from the same run.

    python bench/bench_ledger.py [--events 1000000] [--writes 2000] [--repeat 5]

Replay: ``ledger.replay`` of a realistic ledger (parse, check, fold into a RunView)
against parsing the same lines with stdlib ``json.loads`` and with ``orjson.loads``
and doing nothing else. Target: replay >= 500,000 events/s.

Append: one ``fdatasync`` per event (one thread); group commit (8 threads appending
at once share syncs); batches of 64 (``sync=False`` then ``sync()``); and, as the
baseline, appends that never sync (page cache only).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from benchlib import arguments, median_seconds

from isollm.runner import idempotency, ledger
from isollm.runner.ledger import LedgerWriter

RUN = "20261121-190512-ab12"
TARGET = 500_000
SHA = "0123456789abcdef0123456789abcdef01234567"

# One attempt at a task, as the scheduler records it: the events that start and end a
# command carry its idempotency key (execute: claimed ... done; push: pushed).
ATTEMPT: list[tuple[str, str | None, dict[str, Any]]] = [
    ("task.claimed", "execute", {"worker": "w3"}),
    ("sandbox.ready", None, {"path": "/home/u/.isollm/sandboxes/w3"}),
    ("agent.started", None, {"agent": "claude", "log": "logs/ar-0000-1.log"}),
    ("agent.finished", None, {"exit": 0}),
    ("task.committed", None, {"sha": SHA}),
    ("task.pushed", "push", {"sha": SHA, "branch": "isollm/ar-0000", "end": True}),
    ("task.done", "execute", {"end": True}),
    ("receipt.written", None, {"path": "receipts/ar-0000-1.json"}),
]


def ledger_bytes(n: int) -> bytes:
    lines = [ledger.encode(1, RUN, "run.started", workers=8, agent="claude")]
    for seq in range(2, n + 1):
        kind, command, fields = ATTEMPT[seq % len(ATTEMPT)]
        task = f"ar-{seq // len(ATTEMPT) % 20000:04x}"
        key = command_key(command, task)
        lines.append(ledger.encode(seq, RUN, kind, task=task, attempt=1, ik=key, **fields))
    return b"".join(lines)


def command_key(command: str | None, task: str) -> str | None:
    if command == "execute":
        return idempotency.execute_key(RUN, task, 1)
    if command == "push":
        inputs = {"run_id": RUN, "task_id": task, "branch": f"isollm/{task}", "commit": SHA}
        return idempotency.digest({"kind": "task.push", "inputs": inputs})
    return None


def bench_replay(directory: Path, n: int, repeat: int) -> float:
    path = directory / "events.ndjson"
    data = ledger_bytes(n)
    path.write_bytes(data)
    print(f"replay of {n:,} events ({len(data) / n:.0f} bytes each), median of {repeat}:")

    def stdlib() -> None:
        for line in path.read_bytes().splitlines():
            json.loads(line)

    def orjson_only() -> None:
        for line in path.read_bytes().splitlines():
            orjson.loads(line)

    def replay() -> object:
        replayed = ledger.replay(path)
        assert replayed.view.last_seq == n
        return replayed

    base = n / median_seconds(stdlib, repeat)
    parse = n / median_seconds(orjson_only, repeat)
    ours = n / median_seconds(replay, repeat)
    print(f"  baseline json.loads per line   {base:>12,.0f} events/s")
    print(f"  orjson.loads per line (parse)  {parse:>12,.0f} events/s  ({parse / base:.2f}x)")
    print(f"  ledger.replay (parse+fold)     {ours:>12,.0f} events/s  ({ours / base:.2f}x)")
    verdict = "meets" if ours >= TARGET else "MISSES"
    print(f"  {verdict} the target of {TARGET:,} events/s")
    return ours


def appender(path: Path) -> LedgerWriter:
    path.unlink(missing_ok=True)
    return LedgerWriter.open(path, RUN)[0]


def per_event(path: Path, writes: int, *, sync: bool) -> float:
    with appender(path) as writer:
        start = time.perf_counter()
        for i in range(writes):
            writer.append("task.claimed", task=f"ar-{i:04x}", attempt=1, sync=sync)
        return writes / (time.perf_counter() - start)


def group_commit(path: Path, writes: int, threads: int = 8) -> float:
    with appender(path) as writer:

        def work(worker: int) -> None:
            for i in range(writes // threads):
                writer.append("task.claimed", task=f"ar-{worker}{i:03x}", attempt=1)

        pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
        start = time.perf_counter()
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        return writes // threads * threads / (time.perf_counter() - start)


def batches(path: Path, writes: int, size: int = 64) -> float:
    with appender(path) as writer:
        start = time.perf_counter()
        for i in range(writes):
            writer.append("task.claimed", task=f"ar-{i:04x}", attempt=1, sync=False)
            if i % size == size - 1:
                writer.sync()
        writer.sync()
        return writes / (time.perf_counter() - start)


def bench_append(directory: Path, writes: int, repeat: int) -> None:
    path = directory / "append.ndjson"
    print(f"append of {writes:,} events, median of {repeat}:")
    rows: list[tuple[str, Callable[[], float]]] = [
        ("no sync (baseline, not durable)", lambda: per_event(path, writes, sync=False)),
        ("fdatasync per event", lambda: per_event(path, writes, sync=True)),
        ("group commit, 8 threads", lambda: group_commit(path, writes)),
        ("batches of 64", lambda: batches(path, writes)),
    ]
    base = 0.0
    for name, action in rows:
        rate = statistics.median(action() for _ in range(repeat))
        base = base or rate
        print(f"  {name:<32} {rate:>12,.0f} events/s  ({rate / base:.3f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--writes", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = arguments(parser)
    with tempfile.TemporaryDirectory(prefix="isollm-bench-") as tmp:
        bench_replay(Path(tmp), args.events, args.repeat)
        bench_append(Path(tmp), args.writes, args.repeat)


if __name__ == "__main__":
    main()
