"""The pure rules of coordination: lock paths, which locks conflict, and which running
tasks' footprints overlap (what the conflict warnings say, and to whom)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from isollm.coordination.conflicts import (
    Footprint,
    find_conflicts,
    prompt_note,
    push_warnings,
)
from isollm.tasks.store.coordination import (
    FileLock,
    LockRequest,
    is_glob,
    lock_requests,
    normalise_path,
    overlaps,
)
from isollm.tasks.store.errors import ValidationFailedError
from isollm.tasks.store.model import Status, Task

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def req(path: str) -> LockRequest:
    return LockRequest(path, is_glob(path))


@pytest.mark.parametrize(
    ("given", "normal"),
    [("src/a.py", "src/a.py"), ("./src//a.py", "src/a.py"), ("src/./a.py/", "src/a.py")],
)
def test_paths_are_normalised(given: str, normal: str) -> None:
    assert normalise_path(given) == normal


@pytest.mark.parametrize("bad", ["/abs", "../x", "a/../b", "a\\b", "a\x1bb", "", ".", "x" * 1025])
def test_bad_paths_are_refused(bad: str) -> None:
    with pytest.raises(ValidationFailedError):
        normalise_path(bad)


def test_a_request_reports_every_bad_path_at_once() -> None:
    with pytest.raises(ValidationFailedError) as refused:
        lock_requests(["ok.py", "/etc/x", "../y"])
    assert len(refused.value.details) == 2
    assert [r.path for r in lock_requests(["a", "./a", "b*"])] == ["a", "b*"]


@pytest.mark.parametrize(
    ("a", "b", "conflict"),
    [
        ("src/a.py", "src/a.py", True),
        ("src/a.py", "src/b.py", False),
        ("src", "src/a.py", False),  # a path is one name, not a folder
        ("src/*", "src/a/b.py", True),  # * crosses /
        ("src/*.py", "src/README.md", False),
        ("src/?.py", "src/a.py", True),
        ("src/[ab].py", "src/c.py", False),
        ("src/*.py", "src/*.md", False),
        ("src/*.py", "docs/*", False),
        ("src/*", "*.py", True),
        ("src/a*", "src/*b", True),  # conservative: could both match src/a-b
        ("*", "docs/[xy]/*.md", True),
        ("a[bc]d*", "a[bc]e*", True),  # same fixed beginning "a": conservative
        ("x/*.py", "y/*.py", False),
    ],
)
def test_which_locks_conflict(a: str, b: str, conflict: bool) -> None:
    assert overlaps(req(a), req(b)) is conflict
    assert overlaps(req(b), req(a)) is conflict


def task(task_id: str, agent: str, minutes: int) -> Task:
    at = T0 + timedelta(minutes=minutes)
    return Task(
        task_id, f"title {task_id}", Status.IN_PROGRESS, 2, T0, at, claimed_by=agent, claimed_at=at
    )


def lock(path: str, owner: Task) -> FileLock:
    return FileLock(path, owner.claimed_by or "", owner.id, T0, is_glob(path))


def test_overlapping_footprints_conflict_the_later_claim_second() -> None:
    one, two, three = task("ar-1", "w1", 1), task("ar-2", "w2", 2), task("ar-3", "w3", 3)
    prints = [
        Footprint(three, said=frozenset({"docs/a.md"})),
        Footprint(two, changed=frozenset({"src/app.py", "src/db.py"})),
        Footprint(one, changed=frozenset({"src/app.py"}), locks=(lock("docs/*", one),)),
    ]
    found = find_conflicts(prints)
    assert [(c.earlier.id, c.later.id, c.files, c.sources) for c in found] == [
        ("ar-1", "ar-2", ("src/app.py",), ("branch",)),
        ("ar-1", "ar-3", ("docs/a.md",), ("lock",)),
    ]
    assert push_warnings(found, "ar-2") == [
        "task ar-2 touches files that running task ar-1 (w1) also touches: src/app.py"
    ]
    assert push_warnings(found, "ar-9") == []
    assert found[1].describe() == "tasks ar-1 (w1) and ar-3 (w3) both touch docs/a.md"


def test_the_later_agent_is_told_what_earlier_tasks_change() -> None:
    one, two = task("ar-1", "w1", 1), task("ar-2", "w2", 2)
    earlier = Footprint(one, changed=frozenset({"src/app.py"}), locks=(lock("docs/*", one),))
    note = prompt_note([earlier, Footprint(two)], two)
    assert note is not None
    assert "- task ar-1 (w1) also changes `docs/*`, `src/app.py`" in note
    assert "airyra context" in note
    assert prompt_note([earlier, Footprint(two)], one) is None  # not told to the earlier one
    # once its own files are known, only the overlap is told
    mine = Footprint(two, changed=frozenset({"src/other.py"}))
    assert prompt_note([earlier, mine], two) is None
    mine = Footprint(two, changed=frozenset({"src/app.py", "src/other.py"}))
    assert "also changes `src/app.py`\n" in (prompt_note([earlier, mine], two) or "")


def test_many_files_are_cut_short() -> None:
    one, two = task("ar-1", "w1", 1), task("ar-2", "w2", 2)
    files = frozenset(f"f{i:02}.py" for i in range(20))
    found = find_conflicts([Footprint(one, changed=files), Footprint(two, said=files)])
    assert push_warnings(found, "ar-1")[0].endswith("f07.py and 12 more")
