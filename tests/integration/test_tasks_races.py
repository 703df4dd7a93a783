"""Races: many processes claiming at once, and dependency edges added concurrently.

Each racer is a separate OS process; they all wait for a "go" file so they start
together. Nothing is mocked: real server, real SQLite, real HTTP.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from isollm.tasks.client.http import TaskClient
from isollm.tasks.store.model import ImportItem, NewTask, PageRequest, Status
from isollm.tasks.store.sqlite.store import SqliteTaskStore
from tests.integration.tasks_support import agent_token, host_token, server_process

pytestmark = pytest.mark.slow

HTTP_CLAIMER = textwrap.dedent(
    """
    import http.client, json, os, sys, time
    port, project, agent, go, token = sys.argv[1:6]
    while not os.path.exists(go):
        time.sleep(0.005)
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=60)
    path = f"/v1/projects/{project}/tasks/claim-next"
    while True:
        conn.request("POST", path, body=b"{}", headers={"X-Airyra-Agent": agent,
                     "Content-Type": "application/json", "Authorization": "Bearer " + token})
        response = conn.getresponse()
        body = response.read()
        if response.status == 204:
            break
        assert response.status == 200, (response.status, body)
        print(json.loads(body)["task"]["id"], flush=True)
    """
)

STORE_CLAIMER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from isollm.tasks.store.sqlite.store import SqliteTaskStore
    db, agent, go = sys.argv[1], sys.argv[2], sys.argv[3]
    store = SqliteTaskStore(Path(db))
    while not os.path.exists(go):
        time.sleep(0.005)
    while (claim := store.claim_next(agent, 300)) is not None:
        print(claim.task.id, flush=True)
    """
)

EDGE_ADDER = textwrap.dedent(
    """
    import os, random, sys, time
    from pathlib import Path
    from isollm.tasks.store import errors
    from isollm.tasks.store.sqlite.store import SqliteTaskStore
    db, seed, go, ids = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].split(",")
    store = SqliteTaskStore(Path(db))
    rng = random.Random(seed)
    while not os.path.exists(go):
        time.sleep(0.005)
    added = 0
    for _ in range(150):
        child, parent = rng.sample(ids, 2)
        try:
            store.add_dependency(child, parent, f"adder-{seed}")
            added += 1
        except errors.CycleDetectedError:
            pass
    print(added)
    """
)


def start_racers(argvs: list[list[str]], go: Path) -> list[subprocess.Popen[str]]:
    procs = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for argv in argvs
    ]
    go.touch()
    return procs


def outputs(procs: list[subprocess.Popen[str]]) -> list[str]:
    lines = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        lines += out.split()
    return lines


def test_64_processes_claim_1000_tasks_each_exactly_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with (
        server_process(home) as (_, url),
        TaskClient(url, "race", token=host_token(home)) as client,
    ):
        made = client.import_tasks(
            [ImportItem(NewTask(f"t{i}", priority=i % 5)) for i in range(1000)]
        )
        port = url.rsplit(":", 1)[1]
        go = tmp_path / "go"
        argvs = [
            [
                *(sys.executable, "-c", HTTP_CLAIMER, port, "race", f"agent-{n}", str(go)),
                agent_token(home, "race", f"agent-{n}"),
            ]
            for n in range(64)
        ]
        claimed = outputs(start_racers(argvs, go))
        counts = Counter(claimed)
        assert len(claimed) == 1000
        assert set(counts.values()) == {1}
        assert set(counts) == {t.id for t in made.tasks}
        assert client.list_tasks(Status.OPEN).total == 0
        claims = client.audit(page=PageRequest(1, 1)).total
        assert claims == 1000 + 1000  # one create and one claim per task


def test_processes_sharing_one_database_never_claim_twice(tmp_path: Path) -> None:
    db = tmp_path / "race.db"
    store = SqliteTaskStore(db)
    made = store.import_tasks([ImportItem(NewTask(f"t{i}")) for i in range(300)], "setup")
    store.close()
    go = tmp_path / "go"
    argvs = [
        [sys.executable, "-c", STORE_CLAIMER, str(db), f"agent-{n}", str(go)] for n in range(8)
    ]
    claimed = outputs(start_racers(argvs, go))
    assert sorted(claimed) == sorted(t.id for t in made.tasks)


def test_concurrent_dependency_additions_never_make_a_cycle(tmp_path: Path) -> None:
    db = tmp_path / "deps.db"
    store = SqliteTaskStore(db)
    ids = [
        t.id
        for t in store.import_tasks([ImportItem(NewTask(f"t{i}")) for i in range(12)], "x").tasks
    ]
    go = tmp_path / "go"
    argvs = [
        [sys.executable, "-c", EDGE_ADDER, str(db), str(seed), str(go), ",".join(ids)]
        for seed in range(6)
    ]
    added = sum(int(n) for n in outputs(start_racers(argvs, go)))
    edges = {tid: [d.parent_id for d in store.dependencies(tid)] for tid in ids}
    assert added > 0
    assert_acyclic(edges)
    store.close()


def assert_acyclic(edges: dict[str, list[str]]) -> None:
    """Kahn's algorithm must consume every node."""
    indegree = dict.fromkeys(edges, 0)
    for parents in edges.values():
        for parent in parents:
            indegree[parent] += 1
    queue = [n for n, d in indegree.items() if d == 0]
    seen = 0
    while queue:
        node = queue.pop()
        seen += 1
        for parent in edges[node]:
            indegree[parent] -= 1
            if indegree[parent] == 0:
                queue.append(parent)
    assert seen == len(edges), "the dependency graph has a cycle"
