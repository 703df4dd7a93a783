"""An interactive agent delivers its work from inside a real sandbox through the task server.

A real overlay sandbox (bubblewrap, ``network: none``) reaches a real task server on its
Unix socket with its own worker token; ``airyra done ID`` pushes HEAD as a git bundle,
the server applies it to the task's branch in the real hub, then marks the task done.
Every attack is refused with a clear code and leaves every ref of the hub as it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from isollm.errors import IsollmError
from isollm.git import intake
from isollm.records import CorruptRecordError
from isollm.sandbox.base import TASK_SOCKET, Sandbox
from isollm.tasks.agent_cli import bundle
from isollm.tasks.server import delivery, tokens
from isollm.tasks.server.run import EmbeddedServer
from isollm.tasks.store.model import Status
from tests.integration.attack_support import UNIX_HTTP
from tests.integration.sandbox_support import Factory, factory_for, hub_git

__all__ = ["factory_for"]

# Posts a file (or N zero bytes, streamed in chunks without a length) to the task server
# over its socket, as a hostile agent would: prints the status and the body.
POSTER = (
    UNIX_HTTP
    + r"""
path, source, token, kind = sys.argv[1:5]
headers = {"Authorization": "Bearer " + token, "Content-Type": kind}
conn = Unix("airyra", timeout=60)
try:
    if source.startswith("zeros:"):
        size = int(source[6:])
        chunks = (b"\0" * 65536 for _ in range(size // 65536))
        conn.request("POST", path, body=chunks, headers=headers, encode_chunked=True)
    else:
        conn.request("POST", path, body=open(source, "rb").read(), headers=headers)
except (BrokenPipeError, ConnectionResetError):
    pass  # refused before the whole body was read: the answer says why
answer = conn.getresponse()
print(answer.status)
print(answer.read().decode())
"""
)


@dataclass
class Session:
    server: EmbeddedServer
    factory: Factory
    sb: Sandbox
    env: dict[str, str]

    @property
    def project(self) -> str:
        return self.factory.project

    def airyra(self, *args: str, agent: str = "w1", **env: str) -> tuple[int, str]:
        run_env = {**self.env, "AIRYRA_AGENT": agent, "AIRYRA_TOKEN": self.token(agent), **env}
        argv = ["python3", "-c", bundle.source(), *args]
        result = self.sb.exec(argv, env=run_env, cwd=self.sb.workspace, timeout=120)
        assert not result.timed_out
        return result.returncode, result.stdout + result.stderr

    def sh(self, script: str, *args: str) -> str:
        argv = ["sh", "-c", script, "sh", *args]
        result = self.sb.exec(argv, env=self.env, cwd=self.sb.workspace, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout.strip()

    def commit(self, name: str) -> str:
        script = 'echo "$1" > "$1" && git add -A && git commit -qm "$1" && git rev-parse HEAD'
        return self.sh(script, name).splitlines()[-1]

    def post(self, task_id: str, source: str, token: str, kind: str) -> tuple[int, Any]:
        path = f"/v1/projects/{self.project}/tasks/{task_id}/push"
        out = self.sh('python3 -c "$1" "$2" "$3" "$4" "$5"', POSTER, path, source, token, kind)
        status, _, body = out.partition("\n")
        return int(status), json.loads(body) if body.strip() else {}

    def token(self, agent: str, role: tokens.Role = tokens.Role.WORKER) -> str:
        return self.server.token(agent, self.project, role)

    def refs(self) -> dict[str, str]:
        lines = hub_git(self.factory, "for-each-ref", "--format=%(refname) %(objectname)")
        return dict(line.split(" ") for line in lines.splitlines())

    def claim(self, agent: str) -> str:
        code, out = self.airyra("claim-next", "--json", agent=agent)
        assert code == 0, out
        return str(json.loads(out)["id"])


@pytest.fixture
def session(factory_for: Callable[[str], Factory], tmp_path: Path) -> Iterator[Session]:
    sock = tmp_path / "airyra.sock"
    factory = factory_for("overlay")
    with EmbeddedServer(tmp_path / "data", auth=True, unix_socket=sock) as server:
        with server.client(factory.project, "human", token=server.token()) as host:
            for title in ("first", "second", "third"):
                host.add_task(title)
        delivery.register(factory.project, "main", "isollm/")
        sb = factory.make(network="none", task_socket=str(sock))
        env = {
            "AIRYRA_PROJECT": factory.project,
            "AIRYRA_SOCKET": TASK_SOCKET,
            "AIRYRA_STATE_DIR": "/tmp/airyra",
            "ISOLLM_DELIVER": "1",
        }
        yield Session(server, factory, sb, env)


def test_done_pushes_the_work_then_marks_the_task_done(session: Session) -> None:
    task = session.claim("w1")
    code, out = session.airyra("done", task)
    assert code == 0, out
    assert "No new commits" in out  # nothing beyond the base: still done
    task = session.claim("w1")
    first = session.commit("one.txt")
    code, out = session.airyra("push", task)
    assert code == 0, out
    assert session.refs()[f"refs/heads/isollm/{task}"] == first
    assert first[:12] in out
    second = session.commit("two.txt")
    code, out = session.airyra("done", task, "--json")
    assert code == 0, out
    answer = json.loads(out)
    assert answer["status"] == "done"
    assert answer["push"]["new"] == second
    assert answer["push"]["old"] == first
    assert session.refs()[f"refs/heads/isollm/{task}"] == second
    with session.server.client(session.project, "human", token=session.server.token()) as host:
        assert host.get_task(task).status is Status.DONE
    assert session.refs()["refs/heads/main"] == hub_git(session.factory, "rev-parse", "main")


def test_a_failed_push_leaves_the_task_claimed_and_no_push_skips_it(session: Session) -> None:
    task = session.claim("w1")
    session.commit("work.txt")
    delivery.unregister(session.project)  # no session: the server says so
    code, out = session.airyra("done", task)
    assert code == 6, out
    assert "run `isollm up`" in out
    with session.server.client(session.project, "human", token=session.server.token()) as host:
        assert host.get_task(task).status is Status.IN_PROGRESS
        code, out = session.airyra("done", task, "--no-push")
        assert code == 0, out
        assert host.get_task(task).status is Status.DONE
    # outside isollm (no ISOLLM_DELIVER), done is airyra's plain done
    task = session.claim("w1")
    code, out = session.airyra("done", task, ISOLLM_DELIVER="")
    assert code == 0, out


def test_pushes_an_agent_may_not_make_change_nothing(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine, theirs = session.claim("w1"), session.claim("other")
    with session.server.client(session.project, "human", token=session.server.token()) as host:
        open_task = next(t.id for t in host.all_tasks() if t.status is Status.OPEN)
    base = session.refs()["refs/heads/main"]
    evil = session.commit("evil.txt")
    session.sh("git update-ref refs/heads/main HEAD && git bundle create .git/main.bundle main")
    session.sh("git bundle create .git/both.bundle HEAD main")
    session.sh(  # builds on a commit the hub has never seen
        "git checkout -q -b side && git commit -q --allow-empty -m a && "
        "git commit -q --allow-empty -m b && git bundle create .git/thin.bundle HEAD ^HEAD~1 && "
        "git checkout -q -"
    )
    session.sh("head -c 5000 /dev/urandom > .git/corrupt.bundle")
    session.sh("head -c 3145728 /dev/zero > .git/big.bundle")
    session.sh("git bundle create .git/good.bundle HEAD ^" + base)
    before = session.refs()
    monkeypatch.setattr(delivery, "MAX_PUSH_BYTES", 1 << 20)
    worker, reader = session.token("w1"), session.token("w1", tokens.Role.READER)
    bundle_type = delivery.BUNDLE_TYPE
    attacks = {
        "a task it does not hold": (open_task, "good", worker, bundle_type, "NOT_OWNER"),
        "another agent's task": (theirs, "good", worker, bundle_type, "NOT_OWNER"),
        "a reader token": (mine, "good", reader, bundle_type, "FORBIDDEN"),
        "not a bundle type": (mine, "good", worker, "application/json", "VALIDATION_FAILED"),
        "a corrupt bundle": (mine, "corrupt", worker, bundle_type, "DELIVERY_REFUSED"),
        "missing prerequisites": (mine, "thin", worker, bundle_type, "BUNDLE_INCOMPLETE"),
        "only refs/heads/main": (mine, "main", worker, bundle_type, "DELIVERY_REFUSED"),
        "oversized, streamed": (mine, "zeros:3145728", worker, bundle_type, "VALIDATION_FAILED"),
        "oversized, declared": (mine, "big", worker, bundle_type, "VALIDATION_FAILED"),
    }
    statuses = {"NOT_OWNER": 403, "FORBIDDEN": 403, "VALIDATION_FAILED": 400}
    statuses |= {"DELIVERY_REFUSED": 422, "BUNDLE_INCOMPLETE": 422}
    for what, (task, name, token, kind, error) in attacks.items():
        source = name if name.startswith("zeros:") else f".git/{name}.bundle"
        got, body = session.post(task, source, token, kind)
        assert got == (413 if what.startswith("oversized") else statuses[error]), (what, body)
        assert body["error"]["code"] == error, (what, body)
        assert body["error"]["message"], what
        assert session.refs() == before, what
    code, out = session.airyra("push", theirs)
    assert code == 5, out
    assert "does not hold the claim" in out
    # a bundle naming refs/heads/main too moves only the task's own branch
    got, body = session.post(mine, ".git/both.bundle", worker, bundle_type)
    assert got == 200, body
    after = session.refs()
    assert after["refs/heads/main"] == base
    assert after[f"refs/heads/isollm/{mine}"] == evil
    assert {k: v for k, v in after.items() if not k.endswith(mine)} == before
    assert not [p for p in session.factory.hub.path.parent.iterdir() if p.name.startswith(".push")]


def test_the_delivery_record(session: Session) -> None:
    target = delivery.load(session.project)
    assert target is not None
    assert (target.base_branch, target.branch_prefix) == ("main", "isollm/")
    assert target.hub == session.factory.hub.path
    with pytest.raises(IsollmError, match="base branch"):
        delivery.register(session.project, "", "x/")
    bare = delivery.register(session.project, "main", "")  # task ids are the branch names
    with pytest.raises(intake.IntakeRefusedError, match="base branch"):
        bare.grant("main", None)
    delivery.record_path(session.project).write_text('{"version": 1, "project": "other"}')
    with pytest.raises(CorruptRecordError):
        delivery.load(session.project)
    assert delivery.unregister(session.project)
    assert delivery.load(session.project) is None
    assert not delivery.unregister(session.project)
