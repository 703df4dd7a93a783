"""A process that hammers a FileState; run by test_state_concurrency.py.

    python state_actor.py write  STATE_DIR NAME WRITER_ID COUNT
    python state_actor.py loop   STATE_DIR NAME START          (writes until killed)
    python state_actor.py read   STATE_DIR NAME SECONDS
    python state_actor.py count  STATE_DIR NAME TIMES
    python state_actor.py create STATE_DIR GO_FILE

Every worker it writes is self-checking: ``sandbox_id`` is ``<writer>-<seq>-<size>`` and
``last_error`` is ``<sandbox_id>:`` followed by ``size`` copies of one letter, so a torn
or mixed file cannot pass :func:`check`.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

from isollm.errors import StateError
from isollm.state import FileState, Session, SessionExistsError, WorkerState


def payload(name: str, writer: str, seq: int, size: int) -> WorkerState:
    sandbox_id = f"{writer}-{seq}-{size}"
    letter = "abcdefghij"[seq % 10]
    return WorkerState(name, sandbox_id=sandbox_id, last_error=f"{sandbox_id}:{letter * size}")


def check(worker: WorkerState) -> int:
    """The sequence number of a consistent worker; AssertionError for a torn one."""
    _writer, seq, size = worker.sandbox_id.rsplit("-", 2)
    letter = "abcdefghij"[int(seq) % 10]
    assert worker.last_error == f"{worker.sandbox_id}:{letter * int(size)}", worker.sandbox_id
    return int(seq)


def write(state: FileState, name: str, writer: str, count: int) -> None:
    for seq in range(count):
        state.save_worker(payload(name, writer, seq, random.randrange(100, 300_000)))


def loop(state: FileState, name: str, start: int) -> None:
    seq = start
    while True:
        state.save_worker(payload(name, "loop", seq, 1_000_000 + seq % 7 * 100_000))
        if seq == start:
            print("written", flush=True)
        seq += 1


def read(state: FileState, name: str, seconds: float) -> None:
    reads, problems = 0, []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            check(state.load_worker(name))
            result = state.load_all_workers()
            for worker in result.workers:
                check(worker)
            problems += [str(e) for e in result.errors]
            reads += 1
        except (StateError, AssertionError, ValueError) as exc:
            problems.append(f"{type(exc).__name__}: {exc}"[:300])
    print(json.dumps({"reads": reads, "problems": problems}))


def count(state: FileState, name: str, times: int) -> None:
    def bump(w: WorkerState) -> WorkerState:
        return WorkerState(w.name, sandbox_id=str(int(w.sandbox_id) + 1))

    for _ in range(times):
        state.update_worker(name, bump)


def create(state: FileState, go: Path) -> None:
    while not go.exists():
        time.sleep(0.001)
    try:
        state.create_session(Session.for_this_process("/repo"))
        print("created", flush=True)
    except SessionExistsError:
        print("exists", flush=True)
    sys.stdin.read()  # stay alive (and the session live) until the test lets go


def main(argv: list[str]) -> None:
    role, state = argv[0], FileState(Path(argv[1]))
    if role == "write":
        write(state, argv[2], argv[3], int(argv[4]))
    elif role == "loop":
        loop(state, argv[2], int(argv[3]))
    elif role == "read":
        read(state, argv[2], float(argv[3]))
    elif role == "count":
        count(state, argv[2], int(argv[3]))
    elif role == "create":
        create(state, Path(argv[2]))
    else:
        raise SystemExit(f"unknown role {role}")


if __name__ == "__main__":
    main(sys.argv[1:])
