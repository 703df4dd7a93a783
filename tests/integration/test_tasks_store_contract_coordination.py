"""The task store contract, coordination part: file locks and the context board.

Runs against every store of ``test_tasks_store_contract.STORES`` with its fake clock.
"""

# The contract's fixtures are imported by name, so test arguments share their names.
# ruff: noqa: F811

from __future__ import annotations

from collections.abc import Callable

import pytest

from isollm.tasks.store import errors
from isollm.tasks.store.coordination import MAX_AGENT_LOCKS, MAX_PATHS, BoardStatus
from isollm.tasks.store.protocol import TaskStore
from tests.integration.test_tasks_store_contract import (  # noqa: F401 - fixtures
    FakeClock,
    add,
    clock,
    make_store,
    store,
)

LEASE = 60.0


def claimed(store: TaskStore, agent: str, title: str = "t") -> str:
    task_id = add(store, title)
    store.claim(task_id, agent, LEASE)
    return task_id


def paths(store: TaskStore) -> dict[str, str]:
    return {lock.path: lock.agent for lock in store.locks()}


class TestFileLocks:
    def test_one_agent_wins_the_other_is_told_who_holds_it(self, store: TaskStore) -> None:
        first = claimed(store, "a")
        claimed(store, "b")
        [granted] = store.lock("a", ["src/app.py"])
        assert (granted.path, granted.agent, granted.task_id, granted.glob) == (
            "src/app.py",
            "a",
            first,
            False,
        )
        with pytest.raises(errors.LockHeldError) as refused:
            store.lock("b", ["./src//app.py"])
        assert refused.value.context["held"] == [
            {"requested": "src/app.py", "path": "src/app.py", "agent": "a", "task_id": first}
        ]
        assert "locked by a" in refused.value.message

    def test_a_set_is_granted_whole_or_not_at_all(self, store: TaskStore) -> None:
        claimed(store, "a")
        claimed(store, "b")
        store.lock("a", ["b.py"])
        with pytest.raises(errors.LockHeldError):
            store.lock("b", ["a.py", "b.py", "c.py"])
        assert paths(store) == {"b.py": "a"}
        store.lock("b", ["a.py", "c.py"])
        assert paths(store) == {"a.py": "b", "b.py": "a", "c.py": "b"}

    def test_locking_again_is_a_no_op(self, store: TaskStore) -> None:
        claimed(store, "a")
        [first] = store.lock("a", ["x.py"])
        [again] = store.lock("a", ["x.py", "x.py"])
        assert again.acquired_at == first.acquired_at
        assert len(store.locks()) == 1

    def test_globs_conflict_with_the_paths_they_match(self, store: TaskStore) -> None:
        claimed(store, "a")
        claimed(store, "b")
        store.lock("a", ["src/api/*"])
        with pytest.raises(errors.LockHeldError):
            store.lock("b", ["src/api/users/routes.py"])
        store.lock("b", ["src/apiary.py", "docs/*.md"])
        with pytest.raises(errors.LockHeldError):
            store.lock("a", ["docs/intro.md"])
        with pytest.raises(errors.LockHeldError):  # glob vs glob: could both match
            store.lock("a", ["docs/*"])
        store.lock("a", ["docs/*.txt"])  # ends differ: no common path
        assert paths(store)["docs/*.txt"] == "a"

    def test_a_lock_needs_a_claim(self, store: TaskStore) -> None:
        with pytest.raises(errors.NoClaimError):
            store.lock("a", ["x.py"])
        one, two = claimed(store, "a"), claimed(store, "a", "second")
        with pytest.raises(errors.NoClaimError, match="several claims"):
            store.lock("a", ["x.py"])
        assert store.lock("a", ["x.py"], task_id=two)[0].task_id == two
        with pytest.raises(errors.NoClaimError):
            store.lock("b", ["y.py"], task_id=one)

    @pytest.mark.parametrize(
        "bad", ["/etc/passwd", "../up.py", "a/../../b", "", "  ", ".", "a\\b", "a\nb"]
    )
    def test_paths_are_relative_and_stay_inside(self, store: TaskStore, bad: str) -> None:
        claimed(store, "a")
        with pytest.raises(errors.ValidationFailedError):
            store.lock("a", ["fine.py", bad])
        assert store.locks() == []

    @pytest.mark.parametrize("end", ["done", "release", "block", "expire", "delete"])
    def test_the_lock_ends_with_the_claim(
        self, store: TaskStore, clock: FakeClock, end: str
    ) -> None:
        task_id = claimed(store, "a")
        claimed(store, "b")
        store.lock("a", ["x.py"])
        if end == "done":
            store.done(task_id, "a", None)
        elif end == "release":
            store.release(task_id, "a", None, force=False)
        elif end == "block":
            store.block(task_id, "human", "stop")
        elif end == "expire":
            clock.advance(LEASE + 1)
            store.heartbeat(store.claim(add(store), "b", 10 * LEASE).task.id, "b", None, LEASE)
        else:
            store.delete_task(task_id, "human")
        assert "x.py" not in paths(store)
        assert store.lock("b", ["x.py"])[0].agent == "b"

    def test_a_new_claim_of_the_same_task_does_not_revive_old_locks(self, store: TaskStore) -> None:
        task_id = claimed(store, "a")
        store.lock("a", ["x.py"])
        store.release(task_id, "a", None, force=False)
        store.claim(task_id, "a", LEASE)
        assert store.locks() == []

    def test_an_agent_cannot_unlock_another_agents_lock(self, store: TaskStore) -> None:
        claimed(store, "a")
        claimed(store, "b")
        store.lock("a", ["x.py", "y.py"])
        store.lock("b", ["z.py"])
        with pytest.raises(errors.NotOwnerError):
            store.unlock("b", ["x.py"])
        assert store.unlock("b", ["nobody.py"]) == []
        assert store.unlock("a", ["x.py"]) == ["x.py"]
        assert store.unlock("a") == ["y.py"]
        assert paths(store) == {"z.py": "b"}


class TestContextBoard:
    def test_each_agent_has_one_entry_that_ends_with_its_claim(self, store: TaskStore) -> None:
        first = claimed(store, "a")
        second = claimed(store, "b")
        store.set_context("a", "working", "the users API", ["src/users.py", "./src/users.py"])
        entry = store.set_context("a", "blocked", "waiting for the schema", [])
        store.set_context("b", "working", "docs", ["docs/index.md"])
        board = store.context_board()
        assert [(e.agent, e.task_id, e.status) for e in board] == [
            ("a", first, BoardStatus.BLOCKED),
            ("b", second, BoardStatus.WORKING),
        ]
        assert board[0] == entry
        assert board[0].files == ()
        store.done(first, "a", None)
        assert [e.agent for e in store.context_board()] == ["b"]

    def test_entries_are_checked(self, store: TaskStore) -> None:
        claimed(store, "a")
        with pytest.raises(errors.ValidationFailedError):
            store.set_context("a", "sleeping", "", [])
        with pytest.raises(errors.ValidationFailedError):
            store.set_context("a", "working", "x" * 501, [])
        with pytest.raises(errors.ValidationFailedError):
            store.set_context("a", "working", "", ["../secret"])
        with pytest.raises(errors.NoClaimError):
            store.set_context("nobody", "working", "", [])
        assert store.set_context("a", "done", "x" * 500, ["a.py"]).files == ("a.py",)

    def test_board_survives_reopening(self, make_store: Callable[..., TaskStore]) -> None:
        store = make_store()
        claimed(store, "a")
        store.lock("a", ["x.py"])
        store.set_context("a", "working", "m", [])
        store.close()
        again = make_store()
        assert [lock.path for lock in again.locks()] == ["x.py"]
        assert [e.message for e in again.context_board()] == ["m"]


def test_an_agent_holds_a_bounded_number_of_locks(store: TaskStore) -> None:
    claimed(store, "a")
    for start in range(0, MAX_AGENT_LOCKS, MAX_PATHS):
        store.lock("a", [f"f{n}.py" for n in range(start, start + MAX_PATHS)])
    store.lock("a", ["f0.py"])  # held already: no more
    with pytest.raises(errors.ValidationFailedError, match="at most"):
        store.lock("a", ["one-more.py"])
    assert len(store.locks()) == MAX_AGENT_LOCKS
