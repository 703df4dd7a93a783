"""Task queue throughput: claims per second and latency over HTTP, and in the store.

    .venv/bin/python bench/bench_tasks.py [--rounds 3] [--quick]

HTTP: a real server process (uvicorn, uvloop + httptools when installed) on a fresh
ISOLLM_HOME; the load generator is one asyncio process in this script holding 1, 8
or 64 keep-alive connections, each sending ``POST .../tasks/claim-next`` back to back
(a closed loop, so latency = concurrency / throughput). Server and load generator
share the machine's cores. Baseline, same run: ``GET /v1/health`` at 64 clients (the
HTTP stack alone). The server's CPU time per request is printed too: it says what a
claim costs even when other work on the machine slows the wall clock.

Store, in this process, each run until no task is ready, against a baseline of as
many bare SQLite transactions on the same disk (WAL, ``synchronous=NORMAL``, each
updating one row by primary key in a table without other indexes):

- ``claim_next``: one claim per call, each its own transaction with its audit row;
- ``claim_next_many x32``: 32 claims per transaction, what the server's group commit
  does under load;
- ``claim_next, 2000 waiting ahead``: one claim per call while 2000 tasks of the most
  urgent priority wait for a blocked task (a claim skips them all).

Import under load: 64 clients claim and release (each a write) over HTTP while a
10,000-task import (chains of 100 dependencies) runs: their latency just before and
during it, and how long the import took.

Every figure is the median of ``--rounds`` runs; docs/tasks.md records results.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import http.client
import json
import os
import signal
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchlib import answers, arguments, cpu_seconds, exchange, free_port, percentile, start_server

from isollm.tasks.store.model import ImportItem, NewTask
from isollm.tasks.store.sqlite.store import SqliteTaskStore

PROJECT = "bench"


@dataclass
class Run:
    rate: float
    p50_ms: float
    p99_ms: float
    server_cpu_us: float = 0.0  # CPU the server process used per request


def measured(pid: int, run: Callable[[], Run], requests: int) -> Run:
    before = cpu_seconds(pid)
    result = run()
    result.server_cpu_us = (cpu_seconds(pid) - before) / requests * 1e6
    return result


def fill(db: Path, count: int, *, waiting: int = 0) -> None:
    """``count`` ready tasks; with ``waiting``, that many more of the most urgent
    priority ahead of them, all depending on a blocked task."""
    store = SqliteTaskStore(db)
    if waiting:
        gate = store.add_task(NewTask("gate", priority=4), "bench").id
        store.block(gate, "bench", None)
        after = (gate,)
        store.import_tasks(
            [ImportItem(NewTask(f"waits {i}", priority=0), after=after) for i in range(waiting)],
            "bench",
        )
    for start in range(0, count, 5000):
        n = min(5000, count - start)
        store.import_tasks(
            [ImportItem(NewTask(f"task {start + i}", priority=i % 5)) for i in range(n)], "bench"
        )
    store.close()


# --- HTTP load generator -------------------------------------------------------------


async def _client(port: int, request: bytes, quota: list[int], latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while quota[0] > 0:
            quota[0] -= 1
            started = time.perf_counter()
            await exchange(reader, writer, request)
            latencies.append(time.perf_counter() - started)
    finally:
        writer.close()


def load(port: int, clients: int, requests: int, request: bytes) -> Run:
    latencies: list[float] = []
    quota = [requests]

    async def main() -> float:
        started = time.perf_counter()
        await asyncio.gather(*(_client(port, request, quota, latencies) for _ in range(clients)))
        return time.perf_counter() - started

    elapsed = _event_loop_run(main())
    latencies.sort()
    return Run(
        len(latencies) / elapsed,
        latencies[len(latencies) // 2] * 1000,
        latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
    )


def _event_loop_run(coro: object) -> float:
    try:
        import uvloop

        return float(uvloop.run(coro))  # type: ignore[arg-type]
    except ImportError:
        return float(asyncio.run(coro))  # type: ignore[arg-type]


def claim_request(agent: str) -> bytes:
    return (
        f"POST /v1/projects/{PROJECT}/tasks/claim-next HTTP/1.1\r\nHost: bench\r\n"
        f"X-Airyra-Agent: {agent}\r\nContent-Type: application/json\r\n"
        "Content-Length: 2\r\n\r\n{}"
    ).encode()


HEALTH = b"GET /v1/health HTTP/1.1\r\nHost: bench\r\n\r\n"
CLAIM = claim_request("agent")


def http_bench(rounds: int, quick: bool) -> None:
    levels = {1: 1500, 8: 4000, 64: 8000}
    if quick:
        levels = {k: v // 4 for k, v in levels.items()}
    per_round = sum(levels.values())
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        fill(home / "tasks" / "projects" / f"{PROJECT}.db", per_round * rounds + 100)
        port = free_port()
        server = start_server(home, port, lambda: answers(port))
        try:
            load(port, 8, 500, HEALTH)  # warm up
            pid, n64 = server.pid, levels[64]
            health = _median(
                [measured(pid, lambda: load(port, 64, n64, HEALTH), n64) for _ in range(rounds)]
            )
            print(
                f"HTTP baseline  GET /v1/health, 64 clients: {health.rate:8.0f} req/s   "
                f"p99 {health.p99_ms:6.2f} ms   server CPU {health.server_cpu_us:5.0f} us/request"
            )
            for clients, count in levels.items():
                runs = [
                    measured(pid, functools.partial(load, port, clients, count, CLAIM), count)
                    for _ in range(rounds)
                ]
                best = _median(runs)
                print(
                    f"HTTP claim-next {clients:2d} clients: {best.rate:8.0f} claims/s   "
                    f"p50 {best.p50_ms:6.2f} ms   p99 {best.p99_ms:6.2f} ms   "
                    f"server CPU {best.server_cpu_us:5.0f} us/claim   "
                    f"({best.rate / health.rate:.2f}x the health baseline)"
                )
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)


async def _claim_release(
    port: int, stop: list[bool], timed: list[tuple[float, float]], agent: str
) -> None:
    """Claim the next task, release it, again: two writes, no task used up."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def send(request: bytes) -> bytes:
        started = time.perf_counter()
        body = await exchange(reader, writer, request)
        timed.append((started, time.perf_counter() - started))
        return body

    claim = claim_request(agent)
    try:
        while not stop[0]:
            got = await send(claim)
            if got:
                answer = json.loads(got)
                fence = json.dumps({"fence": answer["fence"]}).encode()
                head = (
                    f"POST /v1/projects/{PROJECT}/tasks/{answer['task']['id']}/release "
                    f"HTTP/1.1\r\nHost: bench\r\nX-Airyra-Agent: {agent}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(fence)}\r\n\r\n"
                )
                await send(head.encode() + fence)
    finally:
        writer.close()


def _post_import(port: int, count: int) -> float:
    items = [
        {"key": f"k{i}", "title": f"imported {i}", "after": [f"k{i - 1}"] if i % 100 else []}
        for i in range(count)
    ]
    body = json.dumps({"tasks": items})
    headers = {"Content-Type": "application/json", "X-Airyra-Agent": "bench"}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    started = time.perf_counter()
    connection.request("POST", f"/v1/projects/{PROJECT}/tasks/import", body, headers)
    answer = connection.getresponse()
    answer.read()
    connection.close()
    if answer.status != 201:
        raise RuntimeError(f"import answered {answer.status}")
    return time.perf_counter() - started


def _import_round(port: int, count: int) -> tuple[float, float, float]:
    """p99 latency of claims and releases just before and during an import, and how
    long the import took."""
    timed: list[tuple[float, float]] = []
    stop = [False]

    async def main() -> float:
        clients = [
            asyncio.ensure_future(_claim_release(port, stop, timed, f"a{n}")) for n in range(64)
        ]
        await asyncio.sleep(1.0)
        took = await asyncio.to_thread(_post_import, port, count)
        stop[0] = True
        await asyncio.gather(*clients)
        return took

    started = time.perf_counter()
    took = _event_loop_run(main())
    start = started + 1.0
    before = _p99([lat for t, lat in timed if start - 0.5 <= t < start])
    during = _p99([lat for t, lat in timed if start <= t <= start + took])
    return before, during, took


def import_bench(rounds: int, quick: bool) -> None:
    count = 2500 if quick else 10_000
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        fill(home / "tasks" / "projects" / f"{PROJECT}.db", 1000)
        port = free_port()
        server = start_server(home, port, lambda: answers(port))
        try:
            runs = [_import_round(port, count) for _ in range(rounds)]
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
    before, during, took = (statistics.median(r[i] for r in runs) for i in range(3))
    print(
        f"HTTP claim+release 64 clients during a {count}-task import: p99 "
        f"{during * 1000:6.1f} ms (just before it {before * 1000:5.1f} ms); "
        f"the import took {took:.2f} s"
    )


def _p99(latencies: list[float]) -> float:
    return percentile(latencies, 99)


def _median(runs: list[Run]) -> Run:
    return Run(
        statistics.median(r.rate for r in runs),
        statistics.median(r.p50_ms for r in runs),
        statistics.median(r.p99_ms for r in runs),
        statistics.median(r.server_cpu_us for r in runs),
    )


# --- store ---------------------------------------------------------------------------


def store_bench(rounds: int, quick: bool) -> None:
    count = 5000 if quick else 20000
    runs: dict[str, list[float]] = {run.label: [] for run in STORE_RUNS}
    baselines = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            for run in STORE_RUNS:
                db = Path(tmp) / f"{run.batch}-{run.waiting}.db"
                runs[run.label].append(store_rate(db, count // run.fewer, run.batch, run.waiting))
            baselines.append(bare_sqlite(Path(tmp) / "bare.db", count))
    base = statistics.median(baselines)
    print(f"{'SQL baseline   bare UPDATE transactions:':<50}{base:8.0f} txn/s")
    for label, rates in runs.items():
        rate = statistics.median(rates)
        print(f"Store {label + ' in process:':<44}{rate:8.0f} claims/s  ({rate / base:.2f}x)")


@dataclass(frozen=True)
class StoreRun:
    label: str
    batch: int  # claims per transaction
    waiting: int = 0  # tasks ahead of the ready ones, waiting for a blocked task
    fewer: int = 1  # claim count // fewer tasks


BATCH = 32
WAITING = 2000
STORE_RUNS = [
    StoreRun("claim_next", 1),
    StoreRun(f"claim_next_many x{BATCH}", BATCH),
    StoreRun(f"claim_next, {WAITING} waiting ahead", 1, WAITING, fewer=10),
]


def store_rate(db: Path, count: int, batch: int, waiting: int) -> float:
    """Claims per second, ``batch`` claims per transaction, until no task is ready."""
    fill(db, count, waiting=waiting)
    store = SqliteTaskStore(db)
    requests = [("agent", 300.0)] * batch
    started = time.perf_counter()
    if batch == 1:
        while store.claim_next("agent", 300.0) is not None:
            pass
    else:
        while store.claim_next_many(requests)[-1] is not None:
            pass
    elapsed = time.perf_counter() - started
    store.close()
    return count / elapsed


def bare_sqlite(path: Path, count: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, status TEXT)")
    conn.executemany("INSERT INTO t (status) VALUES ('open')", [()] * count)
    started = time.perf_counter()
    for i in range(1, count + 1):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE t SET status = 'in_progress' WHERE id = ?", (i,))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    args = arguments(parser)
    print(f"task queue benchmark: {os.cpu_count()} cores, median of {args.rounds} rounds")
    store_bench(args.rounds, args.quick)
    http_bench(args.rounds, args.quick)
    import_bench(args.rounds, args.quick)


if __name__ == "__main__":
    main()
