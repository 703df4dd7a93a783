"""The integrator lock: one ``isollm merge`` at a time per hub, surviving crashes.

A record beside the hub (``.<project>.git.merge-lock``) names the holder by pid *and*
start time (:mod:`isollm.liveness`); a holder that died (SIGKILL, reboot) is taken over
by the next merge, which then finishes or redoes what the journal says was in flight.
The record is checked and written under an ``flock`` (released by the kernel on death),
so two merges starting together cannot both take it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from isollm import fsutil, liveness, records
from isollm.errors import IsollmError
from isollm.git.hub import Hub
from isollm.state.model import utc_now

SCHEMA = records.Schema("merge lock", version=1)


class MergeBusyError(IsollmError):
    """Another ``isollm merge`` is landing work on this hub."""


@dataclass(frozen=True)
class Holder:
    pid: int
    start_time: int | None
    since: str

    @classmethod
    def me(cls) -> Holder:
        pid = os.getpid()
        return cls(pid, liveness.start_time(pid), utc_now().isoformat(timespec="seconds"))

    def alive(self) -> bool:
        return liveness.is_alive(self.pid, self.start_time)


def lock_path(hub: Hub) -> Path:
    return hub.path.parent / f".{hub.path.name}.merge-lock"


def read_holder(path: Path) -> Holder | None:
    """The recorded holder; None when there is none (or the record is unreadable)."""
    try:
        data = records.read(path, SCHEMA)
    except (FileNotFoundError, records.RecordError):
        return None
    pid, start = data.get("pid"), data.get("start_time")
    if not isinstance(pid, int) or not (start is None or isinstance(start, int)):
        return None
    return Holder(pid, start, str(data.get("since", "")))


@contextlib.contextmanager
def integrator(hub: Hub) -> Iterator[Holder | None]:
    """Hold the integrator lock for the ``with`` body; yields the dead holder taken over
    (None when the lock was free). MergeBusyError when a live process holds it."""
    path = lock_path(hub)
    me = Holder.me()
    with fsutil.file_lock(path.with_name(path.name + ".guard")):
        previous = read_holder(path)
        if previous is not None and previous.alive() and previous.pid != me.pid:
            raise MergeBusyError(
                f"another isollm merge (pid {previous.pid}, since {previous.since}) is "
                "landing work on this project",
                hint="wait for it to finish; a merge that died is taken over automatically",
            )
        records.write(path, vars(me), SCHEMA)
    try:
        yield previous
    finally:
        with fsutil.file_lock(path.with_name(path.name + ".guard")):
            if read_holder(path) == me:
                path.unlink(missing_ok=True)
