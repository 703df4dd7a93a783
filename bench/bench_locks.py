"""File lock throughput: lock + unlock round trips per second over HTTP on the Unix socket.

    .venv/bin/python bench/bench_locks.py [--rounds 3] [--quick]

A real task server process (``isollm.tasks.server.daemon``, no auth) on a fresh
ISOLLM_HOME, reached through its Unix socket as agents in sandboxes reach it. Each
client is one agent holding the claim of its own task, on one keep-alive connection,
sending back to back ``POST .../locks {"paths": [its file]}`` then ``DELETE .../locks``
with the same path (one round trip = both requests, two write transactions). Baseline,
same run, same connections: ``GET .../tasks`` (a read of the task list, one page), one
request per round trip. 1 and 8 clients; the server's CPU time per request is printed
too. Every figure is the median of ``--rounds`` runs; docs/tasks.md records results.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import tempfile
import time
from pathlib import Path

from benchlib import arguments, cpu_seconds, exchange, free_port, response, start_server

PROJECT = "bench"
OK_200 = (b"HTTP/1.1 200",)


def request(method: str, path: str, agent: str, body: object | None = None) -> bytes:
    data = b"" if body is None else json.dumps(body).encode()
    head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\nX-Airyra-Agent: {agent}\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
    return head.encode() + b"\r\n" + data


async def _client(sock: str, trip: list[bytes], quota: list[int]) -> None:
    reader, writer = await asyncio.open_unix_connection(sock)
    try:
        while quota[0] > 0:
            quota[0] -= 1
            for raw in trip:
                await exchange(reader, writer, raw, ok=OK_200)
    finally:
        writer.close()


def load(sock: str, trips: list[list[bytes]], count: int) -> float:
    """Round trips per second: ``count`` of them shared by one client per trip."""
    quota = [count]

    async def main() -> float:
        started = time.perf_counter()
        await asyncio.gather(*(_client(sock, trip, quota) for trip in trips))
        return time.perf_counter() - started

    return count / asyncio.run(main())


def claim_tasks(sock: str, agents: list[str]) -> None:
    """One task per agent, claimed by it with a lease longer than the bench."""
    base = f"/v1/projects/{PROJECT}"

    async def main() -> None:
        reader, writer = await asyncio.open_unix_connection(sock)
        for agent in agents:
            writer.write(request("POST", f"{base}/tasks", "bench", {"title": f"for {agent}"}))
            _, body = await response(reader)
            task = json.loads(body)
            claim = request(
                "POST", f"{base}/tasks/{task['id']}/claim", agent, {"lease_seconds": 3600}
            )
            await exchange(reader, writer, claim, ok=OK_200)
        writer.close()

    asyncio.run(main())


def bench(rounds: int, quick: bool) -> None:
    count = 1000 if quick else 5000
    with tempfile.TemporaryDirectory() as tmp:
        home, port = Path(tmp), free_port()
        sock = home / "s.sock"
        server = start_server(home, port, sock.exists, "--socket", str(sock))
        try:
            agents = [f"agent-{n}" for n in range(8)]
            claim_tasks(str(sock), agents)
            base = f"/v1/projects/{PROJECT}"
            for clients in (1, 8):
                lock_trips = [
                    [
                        request("POST", f"{base}/locks", a, {"paths": [f"src/{a}.py"]}),
                        request("DELETE", f"{base}/locks", a, {"paths": [f"src/{a}.py"]}),
                    ]
                    for a in agents[:clients]
                ]
                read_trips = [[request("GET", f"{base}/tasks", a)] for a in agents[:clients]]
                locks, reads, cpu_lock, cpu_read = [], [], [], []
                for _ in range(rounds):
                    before = cpu_seconds(server.pid)
                    reads.append(load(str(sock), read_trips, count))
                    cpu_read.append((cpu_seconds(server.pid) - before) / count * 1e6)
                    before = cpu_seconds(server.pid)
                    locks.append(load(str(sock), lock_trips, count))
                    cpu_lock.append((cpu_seconds(server.pid) - before) / (2 * count) * 1e6)
                lock_rate, read_rate = statistics.median(locks), statistics.median(reads)
                print(
                    f"{clients} client(s): lock+unlock {lock_rate:7.0f} round trips/s "
                    f"({statistics.median(cpu_lock):4.0f} us server CPU/request)   "
                    f"GET tasks {read_rate:7.0f}/s ({statistics.median(cpu_read):4.0f} us)   "
                    f"ratio {lock_rate / read_rate:.2f}x"
                )
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    args = arguments(parser)
    bench(args.rounds, args.quick)


if __name__ == "__main__":
    main()
