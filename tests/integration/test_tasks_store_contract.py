"""The task store contract: every TaskStore implementation must pass this class.

Add an implementation to ``STORES``; time is a fake clock so leases expire on demand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from isollm.tasks.store import errors
from isollm.tasks.store.model import (
    AuditQuery,
    ImportItem,
    NewTask,
    PageRequest,
    SpecPatch,
    SpecStatus,
    Status,
    TaskPatch,
)
from isollm.tasks.store.protocol import REAPER, TaskStore
from isollm.tasks.store.sqlite.store import SqliteTaskStore


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(microseconds=1)
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


StoreFactory = Callable[..., TaskStore]

STORES: dict[str, Callable[[Path, FakeClock, int], TaskStore]] = {
    "sqlite": lambda tmp, clock, width: SqliteTaskStore(tmp / "p.db", clock=clock, id_width=width),
}

ALL = PageRequest(1, 100)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=sorted(STORES))
def make_store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> Iterator[Callable[..., TaskStore]]:
    opened: list[TaskStore] = []

    def make(width: int = 4) -> TaskStore:
        store = STORES[request.param](tmp_path, clock, width)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: Callable[..., TaskStore]) -> TaskStore:
    return make_store()


def add(store: TaskStore, title: str = "t", **kw: object) -> str:
    return store.add_task(NewTask(title, **kw), "human").id  # type: ignore[arg-type]


class TestTasks:
    def test_add_and_get(self, store: TaskStore) -> None:
        task = store.add_task(NewTask("Write docs", description="all of them"), "human")
        assert task.id.startswith("ar-")
        assert len(task.id) == 7
        assert task.status is Status.OPEN
        assert task.priority == 2
        assert store.get_task(task.id) == task
        assert task.to_json()["description"] == "all of them"
        assert "claimed_by" not in task.to_json()

    def test_unknown_task(self, store: TaskStore) -> None:
        with pytest.raises(errors.TaskNotFoundError) as exc:
            store.get_task("ar-none")
        assert exc.value.context == {"id": "ar-none"}

    @pytest.mark.parametrize(
        ("new", "detail"),
        [
            (NewTask(""), "title cannot be empty"),
            (NewTask("x", priority=5), "priority must be between 0 and 4"),
            (NewTask("x", priority=-1), "priority must be between 0 and 4"),
            (NewTask("bad \ud800 text"), "title is not valid UTF-8 text"),
        ],
    )
    def test_validation(self, store: TaskStore, new: NewTask, detail: str) -> None:
        with pytest.raises(errors.ValidationFailedError) as exc:
            store.add_task(new, "human")
        assert detail in exc.value.details

    def test_unknown_parent_or_spec(self, store: TaskStore) -> None:
        with pytest.raises(errors.TaskNotFoundError):
            store.add_task(NewTask("x", parent_id="ar-zzzz"), "human")
        with pytest.raises(errors.SpecNotFoundError):
            store.add_task(NewTask("x", spec_id="sp-zzzz"), "human")

    def test_ids_never_collide_and_widen_when_the_space_fills(
        self, make_store: Callable[..., TaskStore]
    ) -> None:
        store = make_store(width=1)
        ids = [add(store, f"t{i}") for i in range(60)]
        assert len(set(ids)) == 60
        assert max(len(i) for i in ids) > len("ar-0")

    def test_list_orders_by_priority_then_age_and_pages(self, store: TaskStore) -> None:
        low = add(store, "low", priority=4)
        first = add(store, "first")
        crit = add(store, "crit", priority=0)
        second = add(store, "second")
        page = store.list_tasks(None, PageRequest(1, 3))
        assert [t.id for t in page.items] == [crit, first, second]
        assert (page.total, page.total_pages) == (4, 2)
        assert [t.id for t in store.list_tasks(None, PageRequest(2, 3)).items] == [low]
        store.claim(crit, "w", 60)
        assert [t.id for t in store.list_tasks(Status.IN_PROGRESS, ALL).items] == [crit]
        assert store.list_tasks(Status.OPEN, ALL).total == 3

    def test_update_records_each_changed_field(self, store: TaskStore) -> None:
        task_id = add(store, "old", priority=3)
        task = store.update_task(task_id, TaskPatch(title="new", priority=1), "editor")
        assert (task.title, task.priority) == ("new", 1)
        changes = {(h.field, h.old_value, h.new_value) for h in store.history(task_id)}
        assert {("title", "old", "new"), ("priority", "3", "1")} <= changes
        with pytest.raises(errors.ValidationFailedError):
            store.update_task(task_id, TaskPatch(title=""), "editor")

    def test_parent_cannot_loop(self, store: TaskStore) -> None:
        top = add(store, "top")
        child = add(store, "child", parent_id=top)
        with pytest.raises(errors.ValidationFailedError):
            store.update_task(top, TaskPatch(parent_id=child), "editor")
        with pytest.raises(errors.ValidationFailedError):
            store.update_task(top, TaskPatch(parent_id=top), "editor")

    def test_delete_cascades_to_children_and_keeps_history(self, store: TaskStore) -> None:
        top = add(store, "top")
        child = add(store, "child", parent_id=top)
        other = add(store, "other")
        store.add_dependency(other, top, "human")
        assert store.delete_task(top, "human") == [top, child]
        with pytest.raises(errors.TaskNotFoundError):
            store.get_task(child)
        assert store.dependencies(other) == []
        assert [h.action for h in store.history(top)] == ["delete", "create"]


class TestClaims:
    def test_claim_sets_owner_and_lease(self, store: TaskStore, clock: FakeClock) -> None:
        task_id = add(store)
        claim = store.claim(task_id, "w1", 60)
        assert claim.task.status is Status.IN_PROGRESS
        assert claim.task.claimed_by == "w1"
        assert claim.fence >= 1
        assert claim.expires_at - clock.now == pytest.approx(
            timedelta(seconds=60), abs=timedelta(seconds=1)
        )
        with pytest.raises(errors.AlreadyClaimedError) as exc:
            store.claim(task_id, "w2", 60)
        assert exc.value.context["claimed_by"] == "w1"

    def test_claim_refuses_tasks_that_are_not_ready(self, store: TaskStore) -> None:
        first, second = add(store, "first"), add(store, "second")
        store.add_dependency(second, first, "human")
        with pytest.raises(errors.NotReadyError) as exc:
            store.claim(second, "w1", 60)
        assert exc.value.context["waiting_for"] == [first]

    def test_claim_done_or_blocked_is_invalid(self, store: TaskStore) -> None:
        task_id = add(store)
        store.block(task_id, "human", None)
        with pytest.raises(errors.InvalidTransitionError) as exc:
            store.claim(task_id, "w1", 60)
        assert exc.value.context == {"from": "blocked", "to": "in_progress"}

    def test_claim_next_takes_the_most_urgent_ready_task(self, store: TaskStore) -> None:
        normal = add(store, "normal")
        blocked_urgent = add(store, "urgent but waiting", priority=0)
        high = add(store, "high", priority=1)
        store.add_dependency(blocked_urgent, normal, "human")
        order = [store.claim_next("w", 60) for _ in range(3)]
        assert [c.task.id if c else None for c in order] == [high, normal, None]
        store.done(normal, "w", None)
        claim = store.claim_next("w", 60)
        assert claim is not None
        assert claim.task.id == blocked_urgent

    def test_claim_next_returns_the_task_as_stored(self, store: TaskStore) -> None:
        parent = add(store, "parent")
        spec = store.add_spec("spec", None, "human").id
        task_id = add(store, "child", description="all of it", parent_id=parent, spec_id=spec)
        store.block(parent, "human", None)
        claim = store.claim_next("w1", 60)
        assert claim is not None
        assert claim.task == store.get_task(task_id)
        assert (claim.task.claimed_by, claim.task.lease_expires_at) == ("w1", claim.expires_at)
        assert claim.task.claimed_at == claim.task.updated_at
        again = store.claim_next("w2", 60)
        assert again is None
        store.release(task_id, "w1", claim.fence, force=False)
        second = store.claim_next("w2", 60)
        assert second is not None
        assert second.fence == claim.fence + 1
        claims = [h for h in store.history(task_id) if h.action == "claim"]
        assert [(h.changed_by, h.field, h.old_value, h.new_value) for h in claims] == [
            ("w2", "status", "open", "in_progress"),
            ("w1", "status", "open", "in_progress"),
        ]
        assert claims[1].changed_at == claim.task.claimed_at

    def test_claim_next_first_returns_expired_leases_to_the_queue(
        self, store: TaskStore, clock: FakeClock
    ) -> None:
        urgent, normal = add(store, "urgent", priority=0), add(store, "normal")
        store.claim(urgent, "w1", 10)
        clock.advance(11)
        claim = store.claim_next("w2", 60)
        assert claim is not None
        assert (claim.task.id, claim.task.claimed_by) == (urgent, "w2")
        assert store.get_task(normal).status is Status.OPEN

    def test_tasks_in_progress_list_by_priority_not_by_lease(self, store: TaskStore) -> None:
        low, urgent = add(store, "low", priority=3), add(store, "urgent", priority=0)
        store.claim(low, "w1", 10)
        store.claim(urgent, "w1", 1000)
        listed = store.list_tasks(Status.IN_PROGRESS, ALL)
        assert ([t.id for t in listed.items], listed.total) == ([urgent, low], 2)

    def test_claim_next_many_serves_requests_in_order(self, store: TaskStore) -> None:
        urgent, normal = add(store, "urgent", priority=0), add(store, "normal")
        claims = store.claim_next_many([("w1", 60), ("w2", 30), ("w3", 60)])
        assert [(c.task.id, c.task.claimed_by) if c else None for c in claims] == [
            (urgent, "w1"),
            (normal, "w2"),
            None,
        ]
        assert store.claim_next_many([]) == []
        with pytest.raises(errors.ValidationFailedError):
            store.claim_next_many([("w4", 60), ("w5", 0)])

    def test_done_only_by_the_claimant_and_only_in_progress(self, store: TaskStore) -> None:
        task_id = add(store)
        with pytest.raises(errors.InvalidTransitionError):
            store.done(task_id, "w1", None)
        claim = store.claim(task_id, "w1", 60)
        with pytest.raises(errors.NotOwnerError) as exc:
            store.done(task_id, "w2", None)
        assert exc.value.context == {"claimed_by": "w1"}
        task = store.done(task_id, "w1", claim.fence)
        assert task.status is Status.DONE
        assert task.lease_expires_at is None

    def test_release_by_owner_or_forced(self, store: TaskStore) -> None:
        task_id = add(store)
        store.claim(task_id, "w1", 60)
        with pytest.raises(errors.NotOwnerError):
            store.release(task_id, "w2", None, force=False)
        task = store.release(task_id, "human", None, force=True)
        assert task.status is Status.OPEN
        assert task.claimed_by is None
        store.claim(task_id, "w1", 60)
        assert store.release(task_id, "w1", None, force=False).status is Status.OPEN


class TestLeases:
    def test_expired_lease_returns_the_task_to_the_queue(
        self, store: TaskStore, clock: FakeClock
    ) -> None:
        task_id = add(store)
        claim = store.claim(task_id, "w1", 10)
        clock.advance(11)
        task = store.get_task(task_id)
        assert task.status is Status.OPEN
        assert task.claimed_by is None
        expired = [h for h in store.history(task_id) if h.action == "expire"]
        assert {h.changed_by for h in expired} == {REAPER}
        assert ("claimed_by", "w1") in {(h.field, h.old_value) for h in expired}
        with pytest.raises(errors.StaleClaimError):
            store.done(task_id, "w1", claim.fence)
        with pytest.raises(errors.InvalidTransitionError):
            store.done(task_id, "w1", None)

    def test_a_stale_fence_cannot_finish_a_task_claimed_again(
        self, store: TaskStore, clock: FakeClock
    ) -> None:
        task_id = add(store)
        old = store.claim(task_id, "w1", 10)
        clock.advance(11)
        new = store.claim_next("w1", 10)
        assert new is not None
        assert new.task.id == task_id
        assert new.fence > old.fence
        for late in (
            lambda: store.done(task_id, "w1", old.fence),
            lambda: store.release(task_id, "w1", old.fence, force=False),
            lambda: store.heartbeat(task_id, "w1", old.fence, 10),
        ):
            with pytest.raises(errors.StaleClaimError):
                late()
        assert store.done(task_id, "w1", new.fence).status is Status.DONE

    def test_heartbeat_extends_the_lease(self, store: TaskStore, clock: FakeClock) -> None:
        task_id = add(store)
        claim = store.claim(task_id, "w1", 10)
        clock.advance(8)
        renewed = store.heartbeat(task_id, "w1", claim.fence, 10)
        assert renewed.fence == claim.fence
        assert renewed.expires_at > claim.expires_at
        clock.advance(8)
        assert store.get_task(task_id).status is Status.IN_PROGRESS
        clock.advance(3)
        assert store.get_task(task_id).status is Status.OPEN
        with pytest.raises(errors.StaleClaimError):
            store.heartbeat(task_id, "w1", claim.fence, 10)

    def test_heartbeat_by_another_agent_is_refused(self, store: TaskStore) -> None:
        task_id = add(store)
        store.claim(task_id, "w1", 10)
        with pytest.raises(errors.NotOwnerError):
            store.heartbeat(task_id, "w2", None, 10)

    def test_reap_expired_reports_what_it_returned(
        self, store: TaskStore, clock: FakeClock
    ) -> None:
        ids = [add(store, f"t{i}") for i in range(3)]
        store.claim(ids[0], "w1", 5)
        store.claim(ids[1], "w2", 50)
        clock.advance(6)
        assert store.reap_expired() == [ids[0]]
        assert store.reap_expired() == []

    @pytest.mark.parametrize("seconds", [0, -1, 10**9, float("nan")])
    def test_lease_must_be_sane(self, store: TaskStore, seconds: float) -> None:
        task_id = add(store)
        with pytest.raises(errors.ValidationFailedError):
            store.claim(task_id, "w1", seconds)


class TestBlocking:
    def test_block_and_unblock(self, store: TaskStore) -> None:
        task_id = add(store)
        claim = store.claim(task_id, "w1", 60)
        blocked = store.block(task_id, "runner", "tests keep failing")
        assert blocked.status is Status.BLOCKED
        assert blocked.lease_expires_at is None
        assert store.block(task_id, "runner", None) == blocked
        with pytest.raises(errors.StaleClaimError):
            store.done(task_id, "w1", claim.fence)
        reasons = [h.new_value for h in store.history(task_id) if h.field == "reason"]
        assert reasons == ["tests keep failing"]
        task = store.unblock(task_id, "human")
        assert task.status is Status.OPEN
        assert task.claimed_by is None
        with pytest.raises(errors.InvalidTransitionError):
            store.unblock(task_id, "human")


class TestDependencies:
    def test_add_list_remove(self, store: TaskStore) -> None:
        a, b = add(store, "a"), add(store, "b")
        dep = store.add_dependency(b, a, "human")
        assert store.add_dependency(b, a, "human") == dep  # idempotent
        assert [d.to_json() for d in store.dependencies(b)] == [{"child_id": b, "parent_id": a}]
        assert [t.id for t in store.ready(ALL).items] == [a]
        store.remove_dependency(b, a, "human")
        assert store.ready(ALL).total == 2
        with pytest.raises(errors.DependencyNotFoundError):
            store.remove_dependency(b, a, "human")

    def test_cycles_are_refused_with_their_path(self, store: TaskStore) -> None:
        a, b, c = add(store, "a"), add(store, "b"), add(store, "c")
        store.add_dependency(a, b, "human")
        store.add_dependency(b, c, "human")
        with pytest.raises(errors.CycleDetectedError) as exc:
            store.add_dependency(c, a, "human")
        assert exc.value.context["path"] == [c, a, b, c]
        with pytest.raises(errors.ValidationFailedError):
            store.add_dependency(a, a, "human")

    def test_unknown_tasks(self, store: TaskStore) -> None:
        a = add(store, "a")
        with pytest.raises(errors.TaskNotFoundError):
            store.add_dependency(a, "ar-none", "human")
        with pytest.raises(errors.TaskNotFoundError):
            store.dependencies("ar-none")


class TestReadiness:
    """A task is ready when it is open and everything it depends on is done; every
    change to either keeps claim-next, claim and the ready list agreeing."""

    @staticmethod
    def ready(store: TaskStore) -> set[str]:
        return {t.id for t in store.ready(ALL).items}

    def test_done_parents_release_their_children(self, store: TaskStore) -> None:
        first, second, child = add(store, "first"), add(store, "second"), add(store, "child")
        store.add_dependency(child, first, "human")
        store.add_dependency(child, second, "human")
        assert self.ready(store) == {first, second}
        for parent in (first, second):
            claim = store.claim(parent, "w", 60)
            store.done(parent, "w", claim.fence)
        assert self.ready(store) == {child}
        store.claim(child, "w", 60)

    def test_an_edge_to_a_done_task_does_not_wait(self, store: TaskStore) -> None:
        parent, child = add(store, "parent"), add(store, "child")
        store.done(parent, "w", store.claim(parent, "w", 60).fence)
        store.add_dependency(child, parent, "human")
        assert self.ready(store) == {child}
        store.remove_dependency(child, parent, "human")
        assert self.ready(store) == {child}

    def test_a_done_task_blocked_again_holds_its_children_back(self, store: TaskStore) -> None:
        parent, child = add(store, "parent"), add(store, "child")
        store.add_dependency(child, parent, "human")
        store.done(parent, "w", store.claim(parent, "w", 60).fence)
        store.block(parent, "human", "redo it")
        assert self.ready(store) == set()
        with pytest.raises(errors.NotReadyError):
            store.claim(child, "w", 60)
        store.unblock(parent, "human")
        assert self.ready(store) == {parent}

    def test_deleting_a_parent_or_its_subtree_frees_the_dependents(self, store: TaskStore) -> None:
        top = add(store, "top")
        sub = add(store, "sub", parent_id=top)
        waits_on_top, waits_on_sub = add(store, "on top"), add(store, "on sub")
        store.add_dependency(waits_on_top, top, "human")
        store.add_dependency(waits_on_sub, sub, "human")
        both = add(store, "both")
        store.add_dependency(both, sub, "human")
        store.add_dependency(both, waits_on_top, "human")
        store.delete_task(top, "human")
        assert self.ready(store) == {waits_on_top, waits_on_sub}
        store.delete_task(waits_on_top, "human")
        assert self.ready(store) == {waits_on_sub, both}

    def test_clearing_done_tasks_changes_nothing_ready(self, store: TaskStore) -> None:
        parent, child = add(store, "parent"), add(store, "child")
        store.add_dependency(child, parent, "human")
        store.done(parent, "w", store.claim(parent, "w", 60).fence)
        assert store.clear_done("human") == [parent]
        assert self.ready(store) == {child}

    def test_imported_edges_wait(self, store: TaskStore) -> None:
        existing = add(store, "existing")
        result = store.import_tasks(
            [
                ImportItem(NewTask("first"), key="a"),
                ImportItem(NewTask("second"), key="b", after=("a", existing)),
            ],
            "human",
        )
        assert self.ready(store) == {existing, result.keys["a"]}
        order = [store.claim_next("w", 60) for _ in range(3)]
        assert [c.task.id if c else None for c in order] == [existing, result.keys["a"], None]


class TestAudit:
    def test_history_is_newest_first(self, store: TaskStore) -> None:
        task_id = add(store)
        store.claim(task_id, "w1", 60)
        store.done(task_id, "w1", None)
        history = store.history(task_id)
        assert [h.action for h in history] == ["done", "claim", "create"]
        assert history[0].to_json()["old_value"] == "in_progress"

    def test_query_filters_and_pages(self, store: TaskStore) -> None:
        ids = [add(store, f"t{i}") for i in range(3)]
        store.claim(ids[0], "w1", 60)
        claims = store.audit(AuditQuery(action="claim"), ALL)
        assert [e.task_id for e in claims.items] == [ids[0]]
        by_human = store.audit(AuditQuery(agent="human"), PageRequest(1, 2))
        assert (by_human.total, len(by_human.items)) == (3, 2)


class TestImport:
    def test_keys_parents_and_after(self, store: TaskStore) -> None:
        existing = add(store, "existing")
        result = store.import_tasks(
            [
                ImportItem(NewTask("child", parent_id="epic"), key="child", after=("db",)),
                ImportItem(NewTask("epic"), key="epic"),
                ImportItem(NewTask("db", priority=0), key="db", after=(existing,)),
            ],
            "human",
        )
        child, epic, db = result.tasks
        assert result.keys == {"child": child.id, "epic": epic.id, "db": db.id}
        assert child.parent_id == epic.id
        assert [d.parent_id for d in store.dependencies(child.id)] == [db.id]
        assert [d.parent_id for d in store.dependencies(db.id)] == [existing]

    def test_all_or_nothing(self, store: TaskStore) -> None:
        with pytest.raises(errors.ValidationFailedError) as exc:
            store.import_tasks(
                [
                    ImportItem(NewTask("fine"), key="a"),
                    ImportItem(NewTask(""), key="b"),
                    ImportItem(NewTask("x"), after=("nowhere",)),
                ],
                "human",
            )
        assert len(exc.value.details) == 2
        with pytest.raises(errors.CycleDetectedError):
            store.import_tasks(
                [
                    ImportItem(NewTask("a"), key="a", after=("b",)),
                    ImportItem(NewTask("b"), key="b", after=("a",)),
                ],
                "human",
            )
        assert store.list_tasks(None, ALL).total == 0


class TestClearDone:
    def test_keeps_done_parents_of_unfinished_work(self, store: TaskStore) -> None:
        parent = add(store, "parent")
        child = add(store, "child", parent_id=parent)
        solo = add(store, "solo")
        for task_id in (parent, solo):
            store.claim(task_id, "w", 60)
            store.done(task_id, "w", None)
        assert store.clear_done("human") == [solo]
        assert {t.id for t in store.list_tasks(None, ALL).items} == {parent, child}


class TestSpecs:
    def test_status_is_computed(self, store: TaskStore) -> None:
        spec = store.add_spec("Epic", "big", "human")
        assert spec.status is SpecStatus.DRAFT
        assert spec.id.startswith("sp-")
        task_id = add(store, "part", spec_id=spec.id)
        assert store.get_spec(spec.id).status is SpecStatus.ACTIVE
        store.claim(task_id, "w", 60)
        store.done(task_id, "w", None)
        assert store.get_spec(spec.id).to_json()["status"] == "done"
        assert store.cancel_spec(spec.id, "human").status is SpecStatus.CANCELLED
        with pytest.raises(errors.SpecAlreadyCancelledError):
            store.cancel_spec(spec.id, "human")
        assert store.reopen_spec(spec.id, "human").status is SpecStatus.DONE
        with pytest.raises(errors.SpecNotCancelledError):
            store.reopen_spec(spec.id, "human")

    def test_list_ready_update_delete(self, store: TaskStore) -> None:
        first = store.add_spec("first", None, "human")
        second = store.add_spec("second", None, "human")
        store.add_spec_dependency(second.id, first.id, "human")
        with pytest.raises(errors.CycleDetectedError):
            store.add_spec_dependency(first.id, second.id, "human")
        assert [s.id for s in store.ready_specs(ALL).items] == [first.id]
        assert store.list_specs(SpecStatus.DRAFT, ALL).total == 2
        renamed = store.update_spec(first.id, SpecPatch(title="renamed"), "human")
        assert renamed.title == "renamed"
        task_id = add(store, "in spec", spec_id=first.id)
        assert [t.id for t in store.spec_tasks(first.id, ALL).items] == [task_id]
        store.delete_spec(first.id, "human")
        assert store.get_task(task_id).spec_id is None
        assert store.spec_dependencies(second.id) == []
        with pytest.raises(errors.SpecNotFoundError):
            store.get_spec(first.id)
        with pytest.raises(errors.SpecDependencyNotFoundError):
            store.remove_spec_dependency(second.id, first.id, "human")


def test_data_survives_reopening(make_store: Callable[..., TaskStore]) -> None:
    first = make_store()
    task_id = add(first, "kept")
    first.close()
    assert make_store().get_task(task_id).title == "kept"
