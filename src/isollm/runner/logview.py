"""``isollm run log TASK``: find an attempt's log and read it as text, or follow it.

The log of attempt N of a task in a run is ``.isollm/runs/<run>/logs/<task>-<N>.log``
(:mod:`~isollm.runner.layout`). Without a run id, the latest run that has a log of the
task; without an attempt, its last one. The agent is the run's (a receipt names it
when the attempt has ended). :func:`follow` yields the log's lines as they are written,
until the attempt's receipt appears (it ended) or the run's process is gone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from isollm import fsutil
from isollm.errors import IsollmError, RunError
from isollm.runner import runstate
from isollm.runner.layout import RunPaths, runs_dir
from isollm.runner.receipts import load_receipt

SHOWN_LIMIT = 64 << 20  # bytes of a log read at once (the runner caps logs at that too)
_CHUNK = 1 << 20
_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class AttemptLog:
    run_id: str
    task_id: str
    attempt: int
    agent: str
    path: Path
    paths: RunPaths

    @property
    def ended(self) -> bool:
        return self.paths.receipt(self.task_id, self.attempt).exists()


def _attempts(paths: RunPaths, task_id: str) -> list[int]:
    found = []
    for path in paths.logs.glob(f"{task_id}-*.log") if paths.logs.is_dir() else ():
        number = path.stem.removeprefix(f"{task_id}-")
        if number.isdigit():
            found.append(int(number))
    return sorted(found)


def _run_ids(root: Path, run_id: str | None) -> list[str]:
    if run_id is not None:
        runstate.load_run(root, run_id)  # RunError if there is none
        return [run_id]
    folder = runs_dir(root)
    return (
        sorted((d.name for d in folder.iterdir() if d.is_dir()), reverse=True)
        if folder.is_dir()
        else []
    )


def locate(
    root: Path, task_id: str, *, run_id: str | None = None, attempt: int | None = None
) -> AttemptLog:
    """The log of ``attempt`` (default: the last) of ``task_id`` in ``run_id`` (default:
    the latest run with one); RunError saying what exists when there is none."""
    for rid in _run_ids(root, run_id):
        paths = RunPaths.of(root, rid)
        numbers = _attempts(paths, task_id)
        if not numbers:
            continue
        chosen = numbers[-1] if attempt is None else attempt
        if chosen not in numbers:
            shown = ", ".join(map(str, numbers))
            raise RunError(
                f"task {task_id} has no attempt {chosen} in run {rid} (attempts: {shown})",
                hint=f"pick one with `isollm run log {task_id} --attempt N`",
            )
        return AttemptLog(
            rid,
            task_id,
            chosen,
            _agent(root, paths, task_id, chosen),
            paths.log(task_id, chosen),
            paths,
        )
    where = f"run {run_id}" if run_id else "any run"
    raise RunError(
        f"task {task_id} has no attempt log in {where}",
        hint="`isollm run show` lists the tasks of a run; a task has a log once an agent "
        "starts on it",
    )


def _agent(root: Path, paths: RunPaths, task_id: str, attempt: int) -> str:
    receipt = paths.receipt(task_id, attempt)
    if receipt.exists():
        try:
            return load_receipt(receipt).agent
        except IsollmError:
            pass
    try:
        return runstate.load_run(root, paths.run_id).agent
    except IsollmError:
        return ""


def read(log: AttemptLog) -> str:
    """The log's text (invalid UTF-8 replaced), at most :data:`SHOWN_LIMIT` bytes of its end."""
    return fsutil.read_tail(log.path, SHOWN_LIMIT).decode(errors="replace")


def _running(root: Path, run_id: str) -> bool:
    try:
        state = runstate.load_run(root, run_id)
    except IsollmError:
        return False
    return state.run_status is runstate.RunStatus.RUNNING and not runstate.is_stale(state)


def follow(
    root: Path,
    log: AttemptLog,
    *,
    poll: float = _POLL_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[str]:
    """The log's lines, from its start, as they are written; ends once the attempt has
    ended (its receipt is written) or its run is no longer running."""
    offset = 0
    pending = b""
    while True:
        done = log.ended or not _running(root, log.run_id)  # before reading: no line lost
        chunk = _read_from(log.path, offset)
        offset += len(chunk)
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.decode(errors="replace")
        if done and not chunk:
            break
        if not chunk:
            sleep(poll)
    if pending:
        yield pending.decode(errors="replace")


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            return f.read(_CHUNK)
    except OSError:
        return b""
