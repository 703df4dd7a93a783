"""Coordination between agents in two real sandboxes: file locks and the context board.

Two overlay (bubblewrap) sandboxes without network, each running the bundled ``airyra``
program with its own worker token against one real task server through its Unix
socket: what one agent locks the other is refused (told who holds it), waits for, and
gets once it is released or once the holder's claim runs out. Then the conflict check
over a real hub: branches, locks and board entries of running tasks that overlap.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from isollm.coordination.conflicts import conflicts, note_for, warnings_for
from isollm.git.hub import Hub
from isollm.sandbox.base import TASK_SOCKET, Sandbox
from isollm.tasks.agent_cli import bundle
from isollm.tasks.client.http import TaskClient
from isollm.tasks.server.run import EmbeddedServer
from isollm.tasks.store.model import Claim, Status
from tests.conftest import git
from tests.integration.sandbox_support import Factory, factory_for

__all__ = ["factory_for"]

PROJECT = "shop"
SHORT_LEASE = 1.0
EXIT_CONFLICT, EXIT_DENIED = 6, 5


@dataclass
class Agent:
    """One agent: its sandbox and the airyra program run inside it as ``name``."""

    name: str
    sandbox: Sandbox
    env: dict[str, str]
    source: str

    def airyra(self, *args: str, timeout: float = 60) -> tuple[int, str]:
        result = self.sandbox.exec(
            ["python3", "-c", self.source, *args], env=self.env, timeout=timeout
        )
        return result.returncode, result.stdout + result.stderr

    def json(self, *args: str) -> Any:
        code, out = self.airyra(*args, "--json")
        assert code == 0, out
        return json.loads(out)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedServer]:
    sock = tmp_path / "airyra.sock"
    with EmbeddedServer(
        tmp_path / "data", auth=True, unix_socket=sock, reap_interval=0.2
    ) as running:
        yield running


@pytest.fixture
def agents(server: EmbeddedServer, factory_for: Callable[[str], Factory]) -> tuple[Agent, Agent]:
    factory = factory_for("overlay")
    source = bundle.source()
    made = []
    for name in ("w1", "w2"):
        env = {
            "AIRYRA_PROJECT": PROJECT,
            "AIRYRA_AGENT": name,
            "AIRYRA_TOKEN": server.token(name, PROJECT),
            "AIRYRA_SOCKET": TASK_SOCKET,
            "AIRYRA_STATE_DIR": "/tmp/airyra",
            "PATH": "/usr/local/bin:/usr/bin:/bin",
        }
        sandbox = factory.make(name, network="none", task_socket=str(server.unix_socket))
        made.append(Agent(name, sandbox, env, source))
    return made[0], made[1]


def _claim_each(server: EmbeddedServer) -> dict[str, Claim]:
    """One task claimed by each agent (with its own token); {agent: claim}."""
    claimed = {}
    with server.client(PROJECT, "human", token=server.token()) as host:
        for name in ("w1", "w2"):
            host.add_task(f"task of {name}")
    for name in ("w1", "w2"):
        with _worker(server, name) as worker:
            claim = worker.claim_next(name)
            assert claim is not None
            claimed[name] = claim
    return claimed


def _worker(server: EmbeddedServer, name: str) -> TaskClient:
    return server.client(PROJECT, name, token=server.token(name, PROJECT))


def test_one_agent_wins_the_other_is_told_who_holds_it_and_waits(
    server: EmbeddedServer, agents: tuple[Agent, Agent]
) -> None:
    w1, w2 = agents
    tasks = {name: claim.task.id for name, claim in _claim_each(server).items()}
    assert w1.json("lock", "src/app.py", "docs/*")[0]["agent"] == "w1"
    code, out = w2.airyra("lock", "README.md", "src/app.py")
    assert code == EXIT_CONFLICT, out
    assert "src/app.py is locked by w1" in out
    assert tasks["w1"] in out
    code, out = w2.airyra("lock", "docs/guide/intro.md")  # the glob covers it
    assert code == EXIT_CONFLICT, out
    assert "docs/*" in out
    code, out = w2.airyra("unlock", "src/app.py")  # not its lock
    assert code == EXIT_DENIED, out
    with server.client(PROJECT, "human", token=server.token()) as host:
        assert {lock.path for lock in host.locks()} == {"src/app.py", "docs/*"}  # nothing of w2

    def release_soon() -> None:
        time.sleep(1.0)
        w1.airyra("unlock", "src/app.py")

    releaser = threading.Thread(target=release_soon)
    releaser.start()
    started = time.monotonic()
    code, out = w2.airyra("lock", "src/app.py", "README.md", "--wait", "30")
    releaser.join()
    assert code == 0, out
    assert time.monotonic() - started < 20
    code, out = w2.airyra("locks")
    assert code == 0, out
    assert "src/app.py  w2" in out
    assert "docs/*      w1" in out


def test_the_lock_and_the_board_entry_go_when_the_holders_claim_expires(
    server: EmbeddedServer, agents: tuple[Agent, Agent]
) -> None:
    w1, w2 = agents
    claims = _claim_each(server)
    w1.json("lock", "src/app.py")
    w1.json("context", "set", "--file", "src/app.py", "--status", "working", "-m", "the app")
    w2.json("context", "set", "--status", "blocked", "-m", "waiting for \x1b[31mw1")
    board = w2.json("context", "show")
    assert [(e["agent"], e["status"]) for e in board] == [("w1", "working"), ("w2", "blocked")]
    code, out = w1.airyra("context", "show")
    assert code == 0, out
    assert "\\x1b[31m" in out  # another agent's text is shown escaped
    assert "\x1b" not in out
    held = claims["w1"]
    with _worker(server, "w1") as worker:  # w1's lease now ends in a second
        worker.heartbeat(held.task.id, "w1", held.fence, lease_seconds=SHORT_LEASE)
    code, out = w2.airyra("lock", "src/app.py", "--wait", "30")
    assert code == 0, out  # granted once w1's lease ran out
    with server.client(PROJECT, "human", token=server.token()) as host:
        assert host.get_task(held.task.id).status is Status.OPEN
        assert [(lock.path, lock.agent) for lock in host.locks()] == [("src/app.py", "w2")]
        assert [entry.agent for entry in host.context_board()] == ["w2"]
    code, out = w1.airyra("lock", "other.py")  # no claim any more
    assert code == EXIT_CONFLICT, out
    assert "holds no claim" in out


def _push_branch(repo: Path, hub: Hub, branch: str, files: dict[str, str]) -> None:
    git(repo, "checkout", "-q", "-B", branch, "main")
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"work on {branch}")
    git(repo, "push", "-q", str(hub.path), f"{branch}:refs/heads/{branch}")


def test_conflicts_come_from_the_hub_locks_and_board_and_the_later_agent_is_told(
    server: EmbeddedServer, git_repo: Path, tmp_path: Path
) -> None:
    """Real hub, real server: w1's branch and w2's branch change src/app.py; w3 only
    says (on the board) it works on docs/intro.md, which w1 holds under a glob lock."""
    hub = Hub(tmp_path / "hub.git").ensure()
    git(git_repo, "push", "-q", str(hub.path), "main:refs/heads/main")
    prefix = "isollm/"
    with server.client(PROJECT, "human", token=server.token()) as host:
        ids = [host.add_task(f"task {n}").id for n in (1, 2, 3)]
    agents = {}
    for n, task_id in enumerate(ids, 1):
        agent = f"w{n}"
        agents[agent] = server.client(PROJECT, agent, token=server.token(agent, PROJECT))
        agents[agent].claim(task_id, agent)
        time.sleep(0.01)  # claims in order
    _push_branch(git_repo, hub, prefix + ids[0], {"src/app.py": "one\n", "README.md": "x\n"})
    _push_branch(git_repo, hub, prefix + ids[1], {"src/app.py": "two\n", "src/db.py": "db\n"})
    agents["w1"].lock(["docs/*"], "w1")
    agents["w3"].set_context("working", "intro", ["docs/intro.md"], agent="w3")
    with server.client(PROJECT, "human", token=server.token()) as host:
        found = conflicts(host, hub, "main", prefix)
        assert [(c.earlier.id, c.later.id, c.files, c.sources) for c in found] == [
            (ids[0], ids[1], ("src/app.py",), ("branch",)),
            (ids[0], ids[2], ("docs/intro.md",), ("lock",)),
        ]
        warnings = warnings_for(host, hub, "main", prefix, ids[1])
        assert warnings == [
            f"task {ids[1]} touches files that running task {ids[0]} (w1) also touches: src/app.py"
        ]
        later = host.get_task(ids[2])
        [note] = note_for(host, hub, "main", prefix, later)
        assert f"task {ids[0]} (w1) also changes `docs/intro.md`" in note
        assert ids[1] not in note  # w2's files do not overlap w3's
        assert note_for(host, hub, "main", prefix, host.get_task(ids[0])) == ()
    for client in agents.values():
        client.close()
