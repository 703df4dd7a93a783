"""The merge journal: the one step in flight, so a killed ``isollm merge`` can resume.

Written atomically (:mod:`isollm.records`) before anything a crash could leave half
done, and removed once the step is over:

- ``built``: the merge commit exists (kept alive by :data:`CANDIDATE_REF`) but is not
  tested; a rerun throws it away and redoes the step.
- ``tested``: the test passed; a rerun moves the target to it if the target is still at
  ``old`` (else rebuilds), or finds the target already there (the move happened).

The target only ever moves from a ``tested`` entry, so it never holds an untested merge
(a merge that changes no file of the target has nothing to test: ``tested`` is False).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from isollm import records
from isollm.git.hub import Hub

SCHEMA = records.Schema("merge journal", version=1)
CANDIDATE_REF = "refs/isollm/merge/candidate"


class Step(StrEnum):
    BUILT = "built"
    TESTED = "tested"


@dataclass(frozen=True)
class Entry:
    task_id: str
    branch: str
    tip: str  # the task branch's commit that is being landed
    target: str  # the full ref of the target branch
    old: str  # the target's commit the merge was built on
    commit: str  # the merge (or the last replayed commit)
    strategy: str
    step: Step = Step.BUILT
    tested: bool = False  # whether a test ran (False: --no-test or no test_command)


def journal_path(hub: Hub) -> Path:
    return hub.path.parent / f".{hub.path.name}.merge-journal"


def load(hub: Hub) -> Entry | None:
    """The entry in flight; None when there is none or it cannot be read (a torn or
    foreign file means nothing was in flight that this isollm can finish)."""
    try:
        data = records.read(journal_path(hub), SCHEMA)
        data.pop(SCHEMA.key, None)
        data["step"] = Step(data["step"])
        return Entry(**data)
    except (FileNotFoundError, records.RecordError, KeyError, TypeError, ValueError):
        return None


def save(hub: Hub, entry: Entry) -> None:
    records.write(journal_path(hub), {**dataclasses.asdict(entry), "step": str(entry.step)}, SCHEMA)


def clear(hub: Hub) -> None:
    journal_path(hub).unlink(missing_ok=True)
