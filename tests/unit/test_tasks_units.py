"""Pure parts of the task queue: ids, priorities, times, tokens, SQL, imports, routes."""

from __future__ import annotations

import itertools
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from isollm.tasks.client.host import read_import_file
from isollm.tasks.server import tokens
from isollm.tasks.server.app import TaskApi, build_router
from isollm.tasks.server.asgi import Router
from isollm.tasks.server.openapi import document
from isollm.tasks.server.projects import Projects
from isollm.tasks.store import errors
from isollm.tasks.store.graph import find_path
from isollm.tasks.store.ids import DRAWS_PER_WIDTH, IdAllocator
from isollm.tasks.store.import_plan import plan_import
from isollm.tasks.store.model import (
    Claim,
    ImportItem,
    NewTask,
    Page,
    Spec,
    SpecStatus,
    Status,
    Task,
    format_time,
    parse_priority,
    parse_time,
    priority_name,
)
from isollm.tasks.store.sqlite.queries import migrations, parse_named, queries
from isollm.tasks.store.sqlite.store import SqliteBackend


class TestIds:
    def test_taken_ids_are_drawn_again(self) -> None:
        draws = iter(["aaaa", "aaaa", "bbbb"])
        alloc = IdAllocator("ar-", 4, draw=lambda width: next(draws))
        assert alloc.allocate(lambda c: c == "ar-aaaa") == "ar-bbbb"

    def test_the_id_widens_when_the_space_is_full(self) -> None:
        counter = itertools.count()
        alloc = IdAllocator("ar-", 1, draw=lambda width: f"{next(counter):0{width}x}"[-width:])
        taken = {f"ar-{i:x}" for i in range(DRAWS_PER_WIDTH)}
        new = alloc.allocate(taken.__contains__)
        assert new not in taken
        assert (len(new), alloc.width) == (len("ar-00"), 2)


class TestModel:
    @pytest.mark.parametrize(
        ("text", "value"), [("0", 0), ("4", 4), ("critical", 0), ("HIGH", 1), (" low ", 3), (2, 2)]
    )
    def test_priorities(self, text: str | int, value: int) -> None:
        assert parse_priority(text) == value
        assert priority_name(value) == ("critical", "high", "normal", "low", "lowest")[value]

    @pytest.mark.parametrize("text", ["5", "-1", "urgent", "", "1.0", True])
    def test_bad_priorities(self, text: str) -> None:
        with pytest.raises(ValueError, match="critical, high"):
            parse_priority(text)

    def test_time_round_trip_and_order(self) -> None:
        early = datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
        late = early + timedelta(microseconds=1)
        assert format_time(early) == "2025-01-02T03:04:05.000006Z"
        assert parse_time(format_time(early)) == early
        assert format_time(early) < format_time(late)
        assert parse_time("2025-01-02T04:04:05+01:00") == early.replace(microsecond=0)

    def test_formatted_times_are_right_whichever_seconds_were_formatted_before(self) -> None:
        # format_time reuses the text of the two seconds it formatted last: times in
        # any order, around second, day and year boundaries, must all read exactly.
        def by_fields(t: datetime) -> str:
            t = t.astimezone(UTC)
            return (
                f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:"
                f"{t.second:02d}.{t.microsecond:06d}Z"
            )

        edge = datetime(2025, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
        steps = [0, 1, -1, 999_999, 1_000_000, -1_000_000, 300_000_000, 1, 2, -999_999]
        times = [edge + timedelta(microseconds=s) for s in itertools.accumulate(steps)]
        times += [
            datetime(1, 1, 1, tzinfo=UTC),
            datetime.max.replace(tzinfo=UTC),
            datetime.max.replace(tzinfo=UTC) - timedelta(microseconds=1),
            edge.astimezone(timezone(timedelta(hours=-5))),
            edge.replace(microsecond=0),
        ]
        for t in times * 2:
            assert format_time(t) == by_fields(t)

    def test_task_and_claim_json_round_trip(self) -> None:
        now = datetime(2025, 1, 1, tzinfo=UTC)
        task = Task("ar-1", "t", Status.IN_PROGRESS, 1, now, now, claimed_by="w", claimed_at=now)
        assert Task.from_json(task.to_json()) == task
        claim = Claim(task, 3, now)
        assert Claim.from_json(claim.to_json()) == claim

    def test_spec_status_is_computed(self) -> None:
        now = datetime(2025, 1, 1, tzinfo=UTC)
        assert Spec("sp-1", "s", now, now).status is SpecStatus.DRAFT
        assert Spec("sp-1", "s", now, now, task_count=2, done_count=1).status is SpecStatus.ACTIVE
        assert Spec("sp-1", "s", now, now, task_count=2, done_count=2).status is SpecStatus.DONE
        assert Spec("sp-1", "s", now, now, cancelled=True).status is SpecStatus.CANCELLED

    def test_pages(self) -> None:
        assert Page([], 1, 50, 101).pagination() == {
            "page": 1,
            "per_page": 50,
            "total": 101,
            "total_pages": 3,
        }


class TestErrors:
    def test_envelope_round_trip(self) -> None:
        error = errors.AlreadyClaimedError.of("w1", "2025-01-01T00:00:00Z")
        back = errors.from_envelope(409, error.envelope())
        assert isinstance(back, errors.AlreadyClaimedError)
        assert back.context == error.context

    def test_unknown_codes_and_bodies(self) -> None:
        assert "SOMETHING_NEW" in str(
            errors.from_envelope(418, {"error": {"code": "SOMETHING_NEW"}})
        )
        assert isinstance(errors.from_envelope(500, "oops"), errors.InternalError)

    def test_validation_lists_every_problem(self) -> None:
        text = str(errors.ValidationFailedError.of("a is wrong", "b is wrong"))
        assert text.splitlines() == ["2 problems:", "  - a is wrong", "  - b is wrong"]


class TestTokens:
    def test_mint_and_verify(self) -> None:
        secret = b"s" * 32
        token = tokens.mint(secret, "shop", "worker.1")
        grant = tokens.Grant("shop", "worker.1", tokens.Role.WORKER)
        assert tokens.verify(secret, token) == grant
        assert tokens.verify(b"t" * 32, token) is None
        # the project, agent and role are signed: none can be swapped
        head, project, agent, role, sig = token.split(".")
        other = tokens.mint(secret, "bank", "worker.1").split(".")[1]
        assert tokens.verify(secret, ".".join([head, other, agent, role, sig])) is None
        assert tokens.verify(secret, ".".join([head, project, agent, "host", sig])) is None
        assert tokens.verify(secret, tokens.mint(secret, "*", "*", tokens.Role.HOST)) == (
            tokens.HOST_GRANT
        )
        with pytest.raises(ValueError, match="one project"):
            tokens.mint(secret, "*", "w1")
        assert tokens.verify(secret, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
        assert tokens.verify(secret, "ist1.%%%.x") is None
        assert tokens.verify(secret, "nonsense") is None

    def test_secret_is_created_once_and_private(self, tmp_path: Path) -> None:
        path = tmp_path / "secret"
        first = tokens.load_secret(path)
        assert tokens.load_secret(path) == first
        assert len(first) == 32
        assert path.stat().st_mode & 0o777 == 0o600


class TestQueries:
    def test_named_blocks(self) -> None:
        assert parse_named("-- name: a\nSELECT 1;\n-- name: b\nSELECT 2;") == {
            "a": "SELECT 1;",
            "b": "SELECT 2;",
        }
        with pytest.raises(ValueError, match="twice"):
            parse_named("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;")

    def test_every_query_compiles_against_the_schema(self, tmp_path: Path) -> None:
        SqliteBackend(tmp_path).open("demo").close()
        with sqlite3.connect(tmp_path / "demo.db") as conn:
            assert conn.execute("PRAGMA user_version").fetchone() == (len(migrations()),)
            for name, sql in queries().items():
                try:
                    conn.execute(f"EXPLAIN {sql}", _null_params(sql))
                except sqlite3.Error as exc:  # pragma: no cover - reported with the query name
                    pytest.fail(f"query {name}: {exc}")

    def test_a_version_1_database_is_migrated(self, tmp_path: Path) -> None:
        db, now = tmp_path / "demo.db", "2025-01-01T00:00:00.000000Z"
        with closing(sqlite3.connect(db)) as conn:
            conn.executescript(migrations()[0].sql)
            conn.execute("PRAGMA user_version = 1")
            conn.executemany(
                "INSERT INTO tasks (id, title, priority, created_at, updated_at) "
                "VALUES (?, 'old', ?, ?, ?)",
                [("ar-0001", 0, now, now), ("ar-0002", 4, now, now)],
            )
            conn.execute("INSERT INTO dependencies VALUES ('ar-0001', 'ar-0002')")
            conn.commit()
        store = SqliteBackend(tmp_path).open("demo")
        try:
            claims = [store.claim_next("w", 60) for _ in range(2)]
        finally:
            store.close()
        assert [c.task.id if c else None for c in claims] == ["ar-0002", None]
        with closing(sqlite3.connect(db)) as conn:
            assert conn.execute("PRAGMA user_version").fetchone() == (len(migrations()),)
            indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert "idx_tasks_queue" in indexes
        assert not {"idx_tasks_status", "idx_tasks_lease"} & indexes

    def test_a_version_3_database_keeps_every_history_in_the_chain(self, tmp_path: Path) -> None:
        # Histories written under the audit index (v3), a deleted task's among them,
        # read the same after migration 4 turns them into chains; deleted ids stay taken.
        db, now = tmp_path / "demo.db", "2025-01-01T00:00:00.000000Z"
        with closing(sqlite3.connect(db)) as conn:
            for migration in migrations()[:3]:
                conn.executescript(migration.sql)
            conn.execute("PRAGMA user_version = 3")
            conn.executemany(
                "INSERT INTO tasks (id, title, created_at, updated_at) VALUES (?, 't', ?, ?)",
                [("ar-0001", now, now), ("ar-0002", now, now)],
            )
            audit = [
                ("ar-0001", "create"),
                ("ar-0002", "create"),
                ("ar-0009", "create"),
                ("ar-0001", "update"),
                ("ar-0009", "delete"),
                ("ar-0002", "update"),
            ]
            conn.executemany(
                "INSERT INTO audit_log (task_id, action, changed_at, changed_by) "
                "VALUES (?, ?, ?, 'old')",
                [(task, action, now) for task, action in audit],
            )
            conn.commit()
        store = SqliteBackend(tmp_path).open("demo")
        try:
            before = {
                task: [a for t, a in reversed(audit) if t == task]
                for task in ("ar-0001", "ar-0002", "ar-0009")
            }
            assert {t: [h.action for h in store.history(t)] for t in before} == before
            store.done(store.claim("ar-0001", "w", 60).task.id, "w", None)
            assert [h.action for h in store.history("ar-0001")] == [
                "done",
                "claim",
                "update",
                "create",
            ]
            with store._db.read() as conn:  # the id check itself: drawing ids is random
                taken = store._taken(conn)
                assert [taken(i) for i in ("ar-0009", "ar-0001", "ar-0003")] == [True, True, False]
        finally:
            store.close()
        with closing(sqlite3.connect(db)) as conn:
            indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert "idx_audit_task" not in indexes

    def test_a_version_4_database_keeps_its_tasks_through_the_rebuild(self, tmp_path: Path) -> None:
        # Migration 5 copies the tasks table: rows, rowids, references, counts and
        # triggers must come through, and foreign keys must be back on afterwards.
        db, now, then = (
            tmp_path / "demo.db",
            "2025-01-01T00:00:00.000000Z",
            "2025-02-01T00:00:00.000000Z",
        )
        kept = (
            "SELECT rowid, id, parent_id, spec_id, status, priority, fence, created_at,"
            " updated_at, waiting FROM tasks ORDER BY rowid"
        )
        with closing(sqlite3.connect(db)) as conn:
            conn.execute("PRAGMA foreign_keys = ON")
            for migration in migrations()[:4]:
                conn.executescript(migration.sql)
            conn.execute("PRAGMA user_version = 4")
            conn.execute(
                "INSERT INTO specs (id, title, created_at, updated_at) VALUES ('sp-1', 's', ?, ?)",
                (now, now),
            )
            conn.executemany(
                "INSERT INTO tasks (rowid, id, parent_id, spec_id, title, status, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, 't', ?, ?, ?)",
                [
                    (7, "ar-0001", None, "sp-1", "open", now, now),
                    (3, "ar-0002", "ar-0001", None, "open", now, now),
                    (5, "ar-0003", None, None, "open", now, now),
                    (9, "ar-0004", None, None, "done", now, then),
                ],
            )
            conn.execute("INSERT INTO dependencies VALUES ('ar-0003', 'ar-0002')")
            conn.execute("INSERT INTO dependencies VALUES ('ar-0003', 'ar-0004')")
            conn.commit()
            before = conn.execute(kept).fetchall()
        assert [(row[1], row[-1]) for row in before] == [
            ("ar-0002", 0),
            ("ar-0003", 1),  # waits for ar-0002, not for ar-0004 (done)
            ("ar-0001", 0),
            ("ar-0004", 0),
        ]
        store = SqliteBackend(tmp_path).open("demo")
        try:
            with closing(sqlite3.connect(db)) as conn:
                assert conn.execute("PRAGMA user_version").fetchone() == (len(migrations()),)
                after = conn.execute(kept).fetchall()
                assert after == before
                done_at = dict(conn.execute("SELECT id, done_at FROM tasks"))
                assert done_at == {
                    "ar-0001": None,
                    "ar-0002": None,
                    "ar-0003": None,
                    "ar-0004": then,
                }
                names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
                assert {
                    "idx_tasks_queue",
                    "task_done_changed",
                    "dependency_added",
                    "task_retired",
                } <= names
                with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
                    conn.execute("UPDATE tasks SET status = 'lost' WHERE id = 'ar-0002'")
                with pytest.raises(sqlite3.IntegrityError, match="CHECK"):  # done without done_at
                    conn.execute("UPDATE tasks SET status = 'done' WHERE id = 'ar-0002'")
            assert [d.parent_id for d in store.dependencies("ar-0003")] == ["ar-0002", "ar-0004"]
            claim = store.claim("ar-0002", "w", 60)
            store.done("ar-0002", "w", claim.fence)  # the trigger counts ar-0003 ready
            assert store.claim_next("w", 60).task.id == "ar-0003"  # type: ignore[union-attr]
            store.delete_task("ar-0001", "h")  # foreign keys on: its subtask goes with it
            with store._db.read() as conn:
                assert sorted(r[0] for r in conn.execute("SELECT id FROM tasks")) == [
                    "ar-0003",
                    "ar-0004",
                ]
        finally:
            store.close()

    def test_every_history_chain_holds_exactly_its_tasks_rows(self, tmp_path: Path) -> None:
        # The chain is kept by hand on every path that writes audit rows: claims one
        # at a time and in batches, expiry, block with a reason, edits, dependencies,
        # deletes with cascades. Following it must find what a scan finds.
        clock = _StepClock()
        store = SqliteBackend(tmp_path, clock=clock).open("demo")
        try:
            top = store.add_task(NewTask("top"), "h").id
            child = store.add_task(NewTask("child", parent_id=top), "h").id
            ids = [store.add_task(NewTask(f"t{i}", priority=i % 5), "h").id for i in range(6)]
            store.add_dependency(ids[5], ids[0], "h")
            store.claim_next("a", 60)
            store.claim_next_many([("b", 60), ("c", 1)])
            clock.now += timedelta(seconds=5)  # c's lease runs out; the next claim reaps it
            first = store.claim_next("d", 60)
            assert first is not None
            store.done(first.task.id, "d", first.fence)
            store.block(ids[3], "h", "needs a human")
            store.unblock(ids[3], "h")
            store.remove_dependency(ids[5], ids[0], "h")
            store.delete_task(top, "h")
            with closing(sqlite3.connect(tmp_path / "demo.db")) as conn:
                scanned = {
                    task: [
                        r[0]
                        for r in conn.execute(
                            "SELECT id FROM audit_log WHERE task_id = ? ORDER BY id DESC", (task,)
                        )
                    ]
                    for (task,) in conn.execute("SELECT DISTINCT task_id FROM audit_log")
                }
            assert {top, child, *ids} <= scanned.keys()
            assert {task: [h.id for h in store.history(task)] for task in scanned} == scanned
        finally:
            store.close()

    def test_a_newer_schema_is_refused(self, tmp_path: Path) -> None:
        db = tmp_path / "demo.db"
        SqliteBackend(tmp_path).open("demo").close()
        with sqlite3.connect(db) as conn:
            conn.execute("PRAGMA user_version = 99")
        with pytest.raises(Exception, match="newer than this isollm understands"):
            SqliteBackend(tmp_path).open("demo")


class _StepClock:
    """A clock that moves on a microsecond per reading, and by hand."""

    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(microseconds=1)
        return self.now


def _null_params(sql: str) -> dict[str, None] | tuple[None, ...]:
    """NULL for every parameter: by name (``:name``), or numbered (``?1``)."""
    import re

    numbered = [int(n) for n in re.findall(r"\?(\d+)", sql)]
    if numbered:
        return (None,) * max(numbered)
    return dict.fromkeys(re.findall(r":(\w+)", sql))


class TestImports:
    def test_plan_orders_parents_first(self) -> None:
        items = [
            ImportItem(NewTask("child", parent_id="top"), key="child"),
            ImportItem(NewTask("top"), key="top"),
        ]
        plan = plan_import(items, lambda _: False)
        assert plan.order == [1, 0]
        assert plan.resolved_task(0, {1: "ar-top"}).parent_id == "ar-top"

    def test_every_problem_is_reported(self) -> None:
        items = [
            ImportItem(NewTask("a"), key="a"),
            ImportItem(NewTask("b"), key="a"),
            ImportItem(NewTask("c"), after=("c-self",), key="c-self"),
            ImportItem(NewTask("d", parent_id="e"), key="d"),
            ImportItem(NewTask("e", parent_id="d"), key="e"),
        ]
        with pytest.raises(errors.ValidationFailedError) as exc:
            plan_import(items, lambda _: False)
        details = " | ".join(exc.value.details)
        assert "used twice" in details
        assert "refers to the task itself" in details
        assert "parents form a loop" in details

    def test_yaml_file(self, tmp_path: Path) -> None:
        path = tmp_path / "tasks.yaml"
        path.write_text(
            "tasks:\n"
            "  - {key: db, title: Database, priority: high}\n"
            "  - {title: API, after: db, description: REST}\n"
        )
        db, api = read_import_file(path)
        assert (db.key, db.task.priority) == ("db", 1)
        assert (api.after, api.task.description) == (("db",), "REST")

    def test_yaml_problems(self, tmp_path: Path) -> None:
        path = tmp_path / "tasks.yaml"
        path.write_text("- {title: x, afer: [y]}\n- {priority: urgent}\n- just text\n")
        with pytest.raises(errors.ValidationFailedError) as exc:
            read_import_file(path)
        assert exc.value.details == [
            "task 1: unknown key 'afer'",
            "task 2: title is required",
            "task 2: invalid priority 'urgent': use 0-4 or critical, high, normal, low, lowest",
            "task 3: expected a mapping with at least a title",
        ]
        path.write_text("title: [unclosed\n")
        with pytest.raises(errors.ValidationFailedError, match="not valid YAML"):
            read_import_file(path)


def test_find_path() -> None:
    graph = {"a": ["b"], "b": ["c"], "c": [], "d": ["a"]}
    assert find_path("a", "c", graph.__getitem__) == ["a", "b", "c"]
    assert find_path("c", "a", graph.__getitem__) is None


def test_router_prefers_literal_routes() -> None:
    router = Router()
    router.add("GET", "/x/ready", lambda r: None)  # type: ignore[arg-type,return-value]
    router.add("GET", "/x/{id}", lambda r: None)  # type: ignore[arg-type,return-value]
    assert router.match("GET", "/x/ready")[0].pattern == "/x/ready"
    assert router.match("GET", "/x/7")[1] == {"id": "7"}
    with pytest.raises(errors.MethodNotAllowedError):
        router.match("POST", "/x/7")
    with pytest.raises(errors.RouteNotFoundError):
        router.match("GET", "/x/7/y")


def test_openapi_documents_exactly_the_routes(tmp_path: Path) -> None:
    router = build_router(TaskApi(Projects(SqliteBackend(tmp_path)), 300))
    served = {(r.method.lower(), r.pattern) for r in router.routes}
    documented = {
        (method, path.replace("{dep_id}", "{dep_id}"))
        for path, methods in document()["paths"].items()
        for method in methods
    }
    assert served == documented
