"""The task server as a boundary: attacks by a hostile agent, each refused with nothing lost.

Real servers (HTTP and the Unix socket), real tokens, real SQLite; the availability
attacks use raw sockets and real concurrent clients.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from isollm.errors import TaskError
from isollm.sandbox.base import TASK_SOCKET
from isollm.tasks.agent_cli import bundle
from isollm.tasks.client.http import TaskClient
from isollm.tasks.server import tokens
from isollm.tasks.server.run import EmbeddedServer
from isollm.tasks.store import errors
from isollm.tasks.store.model import ImportItem, NewTask, Status, TaskPatch
from tests.integration.sandbox_support import Factory, factory_for
from tests.integration.tasks_support import free_port, host_token, server_process

__all__ = ["factory_for"]

PROJECT = "shop"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedServer]:
    sock = tmp_path / "airyra.sock"  # a long path: the server binds it through its directory
    with EmbeddedServer(tmp_path / "data", auth=True, unix_socket=sock) as running:
        yield running


def _host(server: EmbeddedServer, project: str = PROJECT) -> TaskClient:
    return server.client(project, "human", token=server.token())


def _worker(
    server: EmbeddedServer, agent: str, project: str = PROJECT, *, unix: bool = False
) -> TaskClient:
    token = server.token(agent, project)
    if unix:
        path = str(server.unix_socket)
        return TaskClient("http://airyra", project, agent=agent, token=token, unix_socket=path)
    return server.client(project, agent, token=token)


def _snapshot(client: TaskClient) -> list[tuple[str, str, str, str | None, str | None]]:
    return [
        (t.id, t.title, t.status.value, t.description, t.claimed_by) for t in client.all_tasks()
    ]


@pytest.mark.parametrize("unix", [False, True], ids=["http", "unix-socket"])
def test_a_worker_token_cannot_touch_another_agents_claim(
    server: EmbeddedServer, unix: bool
) -> None:
    with _host(server) as host, _host(server, "bank") as other_host:
        victim_task = host.add_task("victim's", description="the real prompt")
        waiting = host.add_task("waiting", description="untouched")
        foreign = other_host.add_task("another project's")
        with _worker(server, "victim") as victim:
            claim = victim.claim_next()
        assert claim is not None
        assert claim.task.id == victim_task.id
        before, before_other = _snapshot(host), _snapshot(other_host)
        with _worker(server, "mallory", unix=unix) as mallory:
            attacks = [
                lambda: mallory.done(victim_task.id),
                lambda: mallory.done(victim_task.id, fence=claim.fence),
                lambda: mallory.release(victim_task.id, fence=claim.fence),
                lambda: mallory.release(victim_task.id, force=True),
                lambda: mallory.heartbeat(victim_task.id, fence=claim.fence),
                lambda: mallory.block(victim_task.id, "mine now"),
                lambda: mallory.done(victim_task.id, agent="victim", fence=claim.fence),
                lambda: mallory.update_task(waiting.id, TaskPatch(description="rm -rf ~")),
                lambda: mallory.delete_task(waiting.id),
                lambda: mallory.unblock(waiting.id),
                lambda: mallory.add_dependency(waiting.id, victim_task.id),
                mallory.clear_done,
                lambda: mallory.import_tasks([ImportItem(NewTask("injected"))]),
                lambda: mallory.add_task("injected"),
            ]
            for attack in attacks:
                with pytest.raises((errors.ForbiddenError, errors.NotOwnerError)):
                    attack()
        with (
            _worker(server, "mallory", "shop", unix=unix) as mallory,
            TaskClient(
                server.url,
                "bank",
                agent="mallory",
                token=server.token("mallory", PROJECT),
                unix_socket=str(server.unix_socket) if unix else None,
            ) as cross,
        ):
            for attack in (
                cross.all_tasks,
                cross.claim_next,
                lambda: cross.delete_task(foreign.id),
            ):
                with pytest.raises(errors.ForbiddenError):
                    attack()
            assert mallory.projects() == ["shop"]  # the other project is not even listed
        assert _snapshot(host) == before
        assert _snapshot(other_host) == before_other
        # the victim still finishes its own claim; the host may do anything
        with _worker(server, "victim") as victim:
            assert victim.done(victim_task.id, fence=claim.fence).status is Status.DONE
        assert host.delete_task(waiting.id) is None
        assert other_host.block(foreign.id, "host says so").status is Status.BLOCKED


def test_without_or_with_a_forged_token_nothing_is_allowed(server: EmbeddedServer) -> None:
    with _host(server) as host:
        task = host.add_task("x")
        before = _snapshot(host)
    forged = {
        "none": None,
        "garbage": "nonsense",
        "old format (unscoped)": "ist1.Kg.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "other secret": tokens.mint(b"x" * 32, tokens.ANY, tokens.ANY, tokens.Role.HOST),
    }
    for token in forged.values():
        with server.client(PROJECT, "mallory", token=token) as mallory:
            for attack in (
                mallory.all_tasks,
                lambda: mallory.delete_task(task.id),
                mallory.claim_next,
            ):
                with pytest.raises(errors.UnauthorizedError) as refused:
                    attack()
                assert refused.value.hint  # says where a token comes from
    with _host(server) as host:
        assert _snapshot(host) == before


def test_a_reader_token_only_reads(server: EmbeddedServer) -> None:
    with _host(server) as host:
        task = host.add_task("x")
        reader_token = server.token("w1", PROJECT, tokens.Role.READER)
        with server.client(PROJECT, "w1", token=reader_token) as reader:
            assert [t.id for t in reader.all_tasks()] == [task.id]
            with pytest.raises(errors.ForbiddenError) as refused:
                reader.claim_next()
            assert refused.value.context["required"] == "worker"
        assert host.get_task(task.id).status is Status.OPEN


def test_an_agent_blocks_only_its_own_claim_and_only_while_current(
    server: EmbeddedServer,
) -> None:
    with _host(server) as host, _worker(server, "w1") as w1:
        host.add_task("x")
        claim = w1.claim_next()
        assert claim is not None
        with pytest.raises(errors.StaleClaimError):  # fenced
            w1.block(claim.task.id, "stale", fence=claim.fence + 1)
        assert w1.block(claim.task.id, "cannot do it").status is Status.BLOCKED
        with pytest.raises(errors.ForbiddenError):
            w1.unblock(claim.task.id)


def test_unknown_projects_create_nothing(server: EmbeddedServer) -> None:
    data = server.options.data_dir
    headers = {"Authorization": f"Bearer {server.token()}"}
    fds = len(list(Path("/proc/self/fd").iterdir()))
    with httpx.Client(base_url=server.url, headers=headers) as http:
        for n in range(300):
            name = f"nowhere{n}"
            for path in ("tasks", "tasks/ready", "tasks/ar-0000", "audit", "specs"):
                answer = http.get(f"/v1/projects/{name}/{path}")
                assert answer.status_code == 404, answer.text
                assert answer.json()["error"]["code"] == "PROJECT_NOT_FOUND"
            assert http.post(f"/v1/projects/{name}/tasks/claim-next").status_code == 204
    assert sorted(p.name for p in data.iterdir()) == [".server.lock"]
    assert len(list(Path("/proc/self/fd").iterdir())) <= fds + 5
    with _host(server, "real") as host:
        host.add_task("creating makes the project")
    assert (data / "real.db").is_file()


def _half_request(port: int, data: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    if data:
        sock.sendall(data)
    return sock


def test_stalled_connections_are_dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("isollm.tasks.server.run.HEADER_SECONDS", 1.0)
    monkeypatch.setattr("isollm.tasks.server.asgi.BODY_SECONDS", 1.0)
    with EmbeddedServer(tmp_path, auth=True) as server, _host(server) as host:
        host.add_task("x")
        token = server.token()
        stalls = [
            b"",  # connects, sends nothing
            b"GET /v1/projects/shop/tasks HTTP/1.1\r\nHost: x\r\n",  # half the headers
            (  # headers complete, body promised and never sent
                f"POST /v1/projects/shop/tasks HTTP/1.1\r\nHost: x\r\n"
                f"Authorization: Bearer {token}\r\nContent-Length: 100\r\n\r\n{{"
            ).encode(),
        ]
        socks = [_half_request(server.port, data) for data in stalls for _ in range(20)]
        try:
            deadline = time.monotonic() + 8
            for sock in socks:
                sock.settimeout(max(0.1, deadline - time.monotonic()))
                try:
                    while sock.recv(4096):
                        pass  # a 408 answer, then the close
                except TimeoutError:
                    pytest.fail("a stalled connection was kept open")
        finally:
            for sock in socks:
                sock.close()
        assert [t.title for t in host.all_tasks()] == ["x"]  # served throughout


def test_a_second_server_on_the_same_databases_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with server_process(home) as (_, url), TaskClient(url, PROJECT, token=host_token(home)) as c:
        c.add_task("x")
        second = subprocess.run(
            [sys.executable, "-m", "isollm.tasks.server.daemon", "--port", str(free_port())],
            env={**os.environ, "ISOLLM_HOME": str(home)},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert second.returncode != 0
        assert "another task server already serves" in second.stderr
        assert [t.title for t in c.all_tasks()] == ["x"]  # the first one is unharmed
    with EmbeddedServer(tmp_path / "d"), pytest.raises(TaskError, match="already serves"):
        EmbeddedServer(tmp_path / "d")


async def _claimers(
    url: str, tokens_: list[str], stop: threading.Event, latencies: list[tuple[float, float]]
) -> int:
    """64 agents claiming and finishing; each claim's (start, latency) in ``latencies``."""

    async def one(token: str) -> int:
        done = 0
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
            while not stop.is_set():
                start = time.perf_counter()
                answer = await http.post(f"/v1/projects/{PROJECT}/tasks/claim-next")
                latencies.append((start, time.perf_counter() - start))
                assert answer.status_code in (200, 204), answer.text
                if answer.status_code == 200:
                    body = answer.json()
                    tid, fence = body["task"]["id"], body["fence"]
                    beat = await http.post(
                        f"/v1/projects/{PROJECT}/tasks/{tid}/done", json={"fence": fence}
                    )
                    assert beat.status_code == 200, beat.text
                    done += 1
                else:
                    await asyncio.sleep(0.005)
        return done

    return sum(await asyncio.gather(*(one(t) for t in tokens_)))


@pytest.mark.slow
def test_a_10000_task_import_while_64_clients_claim_loses_no_lease(tmp_path: Path) -> None:
    """The import is written in short transactions and published in one: claims keep
    flowing while it runs (in one transaction, every claim waited for all of it)."""
    home = tmp_path / "home"
    lease = 3.0
    with (
        server_process(home, lease_seconds=lease) as (_, url),
        TaskClient(url, PROJECT, token=host_token(home), timeout=120) as host,
    ):
        host.import_tasks([ImportItem(NewTask(f"seed {i}")) for i in range(3000)])
        secret = tokens.load_secret(home / "tasks" / "secret")
        agent_tokens = [tokens.mint(secret, PROJECT, f"w{n}") for n in range(64)]
        stop = threading.Event()
        latencies: list[tuple[float, float]] = []
        result: list[int] = []
        failures: list[BaseException] = []

        def claim_all() -> None:
            try:
                result.append(asyncio.run(_claimers(url, agent_tokens, stop, latencies)))
            except BaseException as exc:
                failures.append(exc)
                raise

        runner = threading.Thread(target=claim_all)
        runner.start()
        deadline = time.monotonic() + 60  # 64 clients take a while to set up
        while len(latencies) < 500 and time.monotonic() < deadline:
            time.sleep(0.05)
        items = [  # chains of 100: dependencies too (the costly part before)
            ImportItem(NewTask(f"b{i}"), key=f"k{i}", after=(f"k{i - 1}",) if i % 100 else ())
            for i in range(10_000)
        ]
        started = time.perf_counter()
        host.import_tasks(items)
        finished = time.perf_counter()
        took = finished - started
        time.sleep(0.5)
        stop.set()
        runner.join(60)
        assert not failures, failures
        assert result
        assert result[0] > 0
        # Every claim in flight while the import ran. In one transaction, the import
        # held SQLite's write lock throughout and each of them waited for it all (p99
        # 0.7-1.5 s, as long as the import); written in chunks, claims interleave (p99
        # of the order of the claims' own latency on this machine, 20-120 ms).
        during = [
            latency
            for start, latency in list(latencies)
            if start <= finished and start + latency >= started
        ]
        p99 = statistics.quantiles(during, n=100)[98]
        print(
            f"\nimport of 10,000 took {took:.2f}s; {len(during)} claims meanwhile, "
            f"p99 {p99 * 1000:.1f} ms, max {max(during) * 1000:.1f} ms"
        )
        # Relative to the import's own duration, which a loaded machine stretches as it
        # stretches the claims: a third of it is never reached unless claims wait for it.
        bound = max(took / 3, 0.1)
        assert p99 < bound, f"claims waited for the import: p99 {p99 * 1000:.0f} ms"
        assert len(during) > 100  # claims kept flowing
        assert max(during) < lease
        reaped = [e for e in _all_audit(host) if e.action == "expire"]
        assert reaped == []  # no lease was lost
        assert host.list_tasks(Status.IN_PROGRESS).total == 0


def _all_audit(client: TaskClient) -> list:  # type: ignore[type-arg]
    from isollm.tasks.store.model import AuditQuery, PageRequest

    entries, page = [], 1
    while True:
        got = client.audit(AuditQuery(action="expire"), PageRequest(page, 100))
        entries += got.items
        if page >= got.total_pages:
            return entries
        page += 1


def test_an_agent_in_a_sandbox_without_network_reaches_the_queue_by_socket(
    factory_for: Callable[[str], Factory], tmp_path: Path
) -> None:
    """overlay (bubblewrap), ``network: none``: the agent CLI inside reaches the server
    through the socket bound at TASK_SOCKET, with its own token, and no further."""
    sock = tmp_path / "airyra.sock"
    with EmbeddedServer(tmp_path / "data", auth=True, unix_socket=sock) as server:
        with _host(server) as host:
            mine, theirs = host.add_task("mine", priority=0), host.add_task("theirs")
        with _worker(server, "other") as other:
            held = other.claim(theirs.id)
        sb = factory_for("overlay").make(network="none", task_socket=str(sock))
        source = bundle.source()
        env = {
            "AIRYRA_PROJECT": PROJECT,
            "AIRYRA_AGENT": "w1",
            "AIRYRA_TOKEN": server.token("w1", PROJECT),
            "AIRYRA_SOCKET": TASK_SOCKET,
            "AIRYRA_STATE_DIR": "/tmp/airyra",
            "PATH": "/usr/local/bin:/usr/bin:/bin",
        }

        def airyra(*args: str) -> tuple[int, str]:
            result = sb.exec(["python3", "-c", source, *args], env=env, timeout=60)
            return result.returncode, result.stdout + result.stderr

        code, out = airyra("claim-next", "--json")
        assert code == 0, out
        assert json.loads(out)["id"] == mine.id, out
        for attack in (("done", theirs.id), ("release", theirs.id, "--force"), ("delete", mine.id)):
            code, out = airyra(*attack)
            assert code == 5, out  # not allowed
        assert airyra("done", mine.id)[0] == 0
        with _host(server) as host:
            assert host.get_task(theirs.id).claimed_by == "other"
            assert host.get_task(theirs.id).status is Status.IN_PROGRESS
            assert host.get_task(mine.id).status is Status.DONE
        assert held.fence
        # the TCP port is out of reach from there (network none)
        env["AIRYRA_SOCKET"], env["AIRYRA_PORT"] = "", str(server.port)
        assert airyra("list")[0] == 2
