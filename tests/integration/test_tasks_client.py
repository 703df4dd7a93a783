"""The client library against isollm's server, and against a plain airyra (no extensions)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from isollm.tasks.client.http import NO_FENCE, TaskClient
from isollm.tasks.server.run import EmbeddedServer
from isollm.tasks.store import errors
from isollm.tasks.store.model import ImportItem, NewTask, Status, TaskPatch
from tests.integration.tasks_support import PlainAiryra, free_port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    with EmbeddedServer(tmp_path_factory.mktemp("tasks")) as running:
        yield running


@pytest.fixture
def project(request: pytest.FixtureRequest) -> str:
    return "p" + str(abs(hash(request.node.nodeid)))[:12]


@pytest.fixture
def client(server: EmbeddedServer, project: str) -> Iterator[TaskClient]:
    with server.client(project, agent="runner") as c:
        yield c


@pytest.fixture
def airyra(server: EmbeddedServer, project: str) -> Iterator[TaskClient]:
    with TaskClient(server.url, project, agent="runner", transport=PlainAiryra()) as c:
        yield c


class TestRunnerApi:
    def test_claim_heartbeat_done(self, client: TaskClient) -> None:
        task = client.add_task("build", description="make it", priority=1)
        assert client.get_task(task.id) == task
        assert [t.id for t in client.ready().items] == [task.id]
        claim = client.claim_next("worker-1", lease_seconds=30)
        assert claim is not None
        assert (claim.task.id, claim.task.claimed_by, claim.fence) == (task.id, "worker-1", 1)
        renewed = client.heartbeat(task.id, "worker-1", claim.fence, lease_seconds=60)
        assert renewed.expires_at > claim.expires_at
        assert client.done(task.id, "worker-1", claim.fence).status is Status.DONE
        assert client.claim_next("worker-1") is None
        assert [h.action for h in client.history(task.id)] == ["done", "claim", "create"]

    def test_errors_are_the_store_errors(self, client: TaskClient) -> None:
        task = client.add_task("x")
        claim = client.claim(task.id, "worker-1")
        with pytest.raises(errors.NotOwnerError):
            client.done(task.id, "worker-2", NO_FENCE)
        with pytest.raises(errors.StaleClaimError):
            client.done(task.id, "worker-1", claim.fence + 1)
        with pytest.raises(errors.TaskNotFoundError):
            client.get_task("ar-none")
        with pytest.raises(errors.ValidationFailedError):
            client.add_task("")

    def test_release_block_dependencies(self, client: TaskClient) -> None:
        first, second = client.add_task("first"), client.add_task("second")
        client.add_dependency(second.id, first.id)
        assert [d.parent_id for d in client.dependencies(second.id)] == [first.id]
        with pytest.raises(errors.CycleDetectedError):
            client.add_dependency(first.id, second.id)
        client.claim(first.id, "w")
        assert client.release(first.id, "human", force=True).status is Status.OPEN
        blocked = client.block(first.id, "flaky")
        assert blocked.status is Status.BLOCKED
        assert client.unblock(first.id).status is Status.OPEN
        client.remove_dependency(second.id, first.id)
        assert client.update_task(second.id, TaskPatch(title="2nd")).title == "2nd"
        client.delete_task(second.id)
        assert [t.id for t in client.all_tasks()] == [first.id]

    def test_import_and_clear(self, client: TaskClient) -> None:
        result = client.import_tasks(
            [ImportItem(NewTask("a"), key="a"), ImportItem(NewTask("b"), after=("a",))]
        )
        a, b = result.tasks
        assert [d.parent_id for d in client.dependencies(b.id)] == [a.id]
        claim = client.claim(a.id, "w")
        client.done(a.id, "w", claim.fence)
        assert client.clear_done() == [a.id]

    def test_all_tasks_follows_pages(self, client: TaskClient) -> None:
        client.import_tasks([ImportItem(NewTask(f"t{i}")) for i in range(130)])
        assert len(client.all_tasks()) == 130
        assert len(client.all_ready()) == 130

    def test_unreachable_server(self) -> None:
        with TaskClient(f"http://127.0.0.1:{free_port()}", "demo") as c:
            assert not c.health()
            with pytest.raises(errors.ServerUnavailableError):
                c.add_task("x")


class TestPlainAiryra:
    """The same calls work when the server is a plain airyra without isollm's extensions."""

    def test_claim_next_falls_back_to_claiming_a_ready_task(self, airyra: TaskClient) -> None:
        first = airyra.add_task("first", priority=0)
        airyra.add_task("second")
        claim = airyra.claim_next("worker-1")
        assert claim is not None
        assert (claim.task.id, claim.fence) == (first.id, NO_FENCE)
        assert airyra.heartbeat(first.id, "worker-1").task.id == first.id
        with pytest.raises(errors.StaleClaimError):
            airyra.heartbeat(first.id, "worker-2")
        assert airyra.done(first.id, "worker-1").status is Status.DONE

    def test_import_rolls_back_on_failure(self, airyra: TaskClient) -> None:
        made = airyra.import_tasks(
            [ImportItem(NewTask("a"), key="a"), ImportItem(NewTask("b"), after=("a",))]
        )
        assert made.keys == {"a": made.tasks[0].id}
        existing = {t.id for t in airyra.all_tasks()}
        with pytest.raises(errors.CycleDetectedError):
            airyra.import_tasks(
                [
                    ImportItem(NewTask("c"), key="c", after=("d",)),
                    ImportItem(NewTask("d"), key="d", after=("c",)),
                ]
            )
        assert {t.id for t in airyra.all_tasks()} == existing

    def test_clear_done(self, airyra: TaskClient) -> None:
        parent = airyra.add_task("parent")
        airyra.add_task("child", parent_id=parent.id)
        solo = airyra.add_task("solo")
        for task in (parent, solo):
            airyra.claim(task.id)
            airyra.done(task.id)
        assert airyra.clear_done() == [solo.id]


def test_embedded_server_tokens(tmp_path: Path) -> None:
    with EmbeddedServer(tmp_path, auth=True) as server:
        with server.client("demo", "w1") as anonymous, pytest.raises(errors.UnauthorizedError):
            anonymous.add_task("x")
        with (
            server.client("demo", "w1", token=server.token("w1", "demo")) as w1,
            pytest.raises(errors.ForbiddenError),  # creating is for the host
        ):
            w1.add_task("x")
        with server.client("demo", "human", token=server.token()) as host:
            assert host.add_task("x").title == "x"
