"""A real writer process killed with SIGKILL, again and again: the ledger always replays.

Each round a child opens the ledger (repairing any damaged tail), appends events, some
of them large, and prints every seq once ``append`` has returned (so it is durable).
The parent kills it at a random moment and, every other round, leaves half a line at
the end as a power cut mid-write would. Every acknowledged event must survive, the
sequence must have no gap, and the next writer must cut off the torn tail, record
the repair and carry on from where the last one stopped.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from pathlib import Path

from isollm.runner import ledger
from isollm.runner.view import EventType

RUN = "20261121-190512-ab12"

WRITER = """
import sys
from pathlib import Path
from isollm.runner.ledger import LedgerWriter

writer, replayed = LedgerWriter.open(Path(sys.argv[1]), sys.argv[2])
print(writer.next_seq - 1, flush=True)
n = 0
while True:
    n += 1
    big = "x" * (1 << 20) if n % 7 == 0 else ""  # a long write SIGKILL can cut short
    seq = writer.append("task.claimed", task=f"ar-{n % 40:04d}", attempt=1, blob=big)
    print(seq, flush=True)
"""


def run_and_kill(path: Path, rnd: random.Random) -> int:
    """Start a writer, let it acknowledge a few events, SIGKILL it; the last acked seq."""
    with subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), RUN], stdout=subprocess.PIPE, text=True
    ) as child:
        try:
            assert child.stdout is not None
            acked = int(child.stdout.readline())  # the ledger.opened event
            for _ in range(rnd.randint(0, 25)):
                acked = int(child.stdout.readline())
            child.send_signal(signal.SIGKILL)
            for line in child.stdout:  # anything it acknowledged before the signal landed
                acked = int(line)
        finally:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    return acked


def tear_tail(path: Path, rnd: random.Random) -> None:
    """Append the first bytes of a next event, as if the machine lost power mid-write."""
    last = ledger.replay(path).view.last_seq
    line = ledger.encode(last + 1, RUN, "task.done", task="ar-0001", attempt=1)
    with path.open("ab") as f:
        f.write(line[: rnd.randint(1, len(line) - 1)])


def test_every_acknowledged_event_survives_repeated_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    rnd = random.Random(5)
    opened_at: list[int] = []
    damaged_rounds: set[int] = set()
    for round_ in range(12):
        acked = run_and_kill(path, rnd)

        replayed = ledger.replay(path)  # never raises: only the tail can be damaged

        assert replayed.view.last_seq >= acked
        if replayed.damage is not None:  # SIGKILL cut a write short
            damaged_rounds.add(round_)
        opens = [e["seq"] for e in replayed.view.run_events if e["type"] == EventType.LEDGER_OPENED]
        assert opens[: len(opened_at)] == opened_at  # history is never rewritten
        opened_at = opens
        if round_ % 2 == 0:
            tear_tail(path, rnd)
            assert ledger.replay(path).damage is not None
            damaged_rounds.add(round_)

    final = ledger.replay(path)
    assert len(opened_at) == 12
    assert final.view.run_id == RUN
    assert set(final.view.tasks) <= {f"ar-{n:04d}" for n in range(40)}
    repairs = [e["repaired"] for e in final.view.run_events if e.get("repaired")]
    assert len(repairs) == len(damaged_rounds - {11})  # each was repaired by the next writer
