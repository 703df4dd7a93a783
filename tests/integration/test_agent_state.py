"""Agent state from inside a real sandbox: hook payloads through ``airyra hook claude``.

A real overlay sandbox (``network: none``) reaches a real task server on its Unix
socket with its own worker token; what the hooks report is what the host reads with
``TaskClient.agent_states``. A hook never fails the agent: bad input, a missing or hung
server, all exit 0 within about two seconds and print nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from isollm.sandbox.base import TASK_SOCKET, Sandbox
from isollm.tasks.agent_cli import bundle
from isollm.tasks.client.agents import AgentState
from isollm.tasks.server import tokens
from isollm.tasks.server.run import EmbeddedServer
from tests.integration.sandbox_support import Factory, factory_for

__all__ = ["factory_for"]

# Listens on a socket and never answers: a hung task server.
HUNG = (
    "import socket, time; s = socket.socket(socket.AF_UNIX); s.bind('/tmp/hung.sock'); "
    "s.listen(); time.sleep(30)"
)


@dataclass
class Box:
    server: EmbeddedServer
    sb: Sandbox
    project: str

    def env(self, agent: str, role: tokens.Role = tokens.Role.WORKER) -> dict[str, str]:
        return {
            "AIRYRA_PROJECT": self.project,
            "AIRYRA_AGENT": agent,
            "AIRYRA_TOKEN": self.server.token(agent, self.project, role),
            "AIRYRA_SOCKET": TASK_SOCKET,
        }

    def airyra(
        self, *args: str, agent: str = "w1", stdin: str | bytes | None = None, **env: str
    ) -> tuple[int, str, float]:
        started = time.monotonic()
        result = self.sb.exec(
            ["python3", "-c", bundle.source(), *args],
            env={**self.env(agent), **env},
            input=stdin,
            timeout=60,
        )
        assert not result.timed_out
        return result.returncode, result.stdout + result.stderr, time.monotonic() - started

    def hook(self, payload: object, agent: str = "w1", **env: str) -> None:
        code, out, _ = self.airyra("hook", "claude", agent=agent, stdin=json.dumps(payload), **env)
        assert (code, out) == (0, ""), out

    def states(self) -> dict[str, AgentState]:
        with self.server.client(self.project, "human", token=self.server.token()) as host:
            return {s.agent: s for s in host.agent_states()}


@pytest.fixture
def box(factory_for: Callable[[str], Factory], tmp_path: Path) -> Iterator[Box]:
    sock = tmp_path / "airyra.sock"
    factory = factory_for("overlay")
    with EmbeddedServer(tmp_path / "data", auth=True, unix_socket=sock) as server:
        with server.client(factory.project, "human", token=server.token()) as host:
            host.add_task("the project exists once it has a task")
        sb = factory.make(network="none", task_socket=str(sock))
        yield Box(server, sb, factory.project)


def test_hooks_report_the_state_the_host_reads(box: Box) -> None:
    assert box.states() == {}
    box.hook({"hook_event_name": "SessionStart", "session_id": "sess-1", "source": "startup"})
    state = box.states()["w1"]
    assert (state.state, state.session_id) == ("idle", "sess-1")
    box.hook({"hook_event_name": "UserPromptSubmit", "session_id": "sess-1", "prompt": "go"})
    started = box.states()["w1"].since
    box.hook({"hook_event_name": "PreToolUse", "session_id": "sess-1", "tool_name": "Bash"})
    state = box.states()["w1"]
    assert (state.state, state.detail, state.since) == ("working", "Bash", started)
    assert state.updated_at is not None
    assert state.updated_at >= started  # the last report
    box.hook({"hook_event_name": "PermissionRequest", "tool_name": "Write"})
    state = box.states()["w1"]
    assert (state.state, state.detail, state.session_id) == ("waiting", "Write", "sess-1")
    box.hook({"hook_event_name": "PostToolUse", "tool_name": "Write"})
    note = "Claude needs your permission to use Bash"
    box.hook({"hook_event_name": "Notification", "message": note})
    assert (box.states()["w1"].state, box.states()["w1"].detail) == ("waiting", note)
    box.hook({"hook_event_name": "SubagentStop", "agent_type": "Explore"})
    assert box.states()["w1"].state == "working"  # the agent goes on after its subagent
    box.hook({"hook_event_name": "Notification", "notification_type": "idle_prompt"})
    assert box.states()["w1"].state == "working"  # not a question: no change
    box.hook({"hook_event_name": "Stop", "session_id": "sess-1"})
    assert box.states()["w1"].state == "idle"
    box.hook({"hook_event_name": "SessionEnd", "reason": "logout"})
    assert box.states()["w1"].state == "exited"
    code, out, _ = box.airyra("hook", "codex", json.dumps({"type": "agent-turn-complete"}))
    assert (code, out) == (0, "")
    assert box.states()["w1"].state == "idle"
    code, out, _ = box.airyra("state", "waiting", "-m", "a human decision")
    assert code == 0, out
    assert (box.states()["w1"].state, box.states()["w1"].detail) == ("waiting", "a human decision")


def test_a_session_on_an_empty_queue_reports_its_state(tmp_path: Path) -> None:
    """Agents of a project with no task yet (no database) still report; the host reads."""
    with EmbeddedServer(tmp_path / "data", auth=True) as server:
        token = server.token("w1", "fresh", tokens.Role.WORKER)
        with server.client("fresh", "w1", token=token) as agent:
            agent.set_agent_state("w1", "idle", "the queue is empty")
        with server.client("fresh", "human", token=server.token()) as host:
            (state,) = host.agent_states()
            assert (state.agent, state.state) == ("w1", "idle")
            assert host.list_tasks().items == []  # and no database was made for it


def test_an_agent_sets_only_its_own_state(box: Box) -> None:
    box.hook({"hook_event_name": "PreToolUse", "tool_name": "Edit"}, agent="w2")
    before = box.states()
    code, out, _ = box.airyra("state", "idle", agent="w1", AIRYRA_AGENT="w2")
    assert code == 5, out  # w1's token, claiming to be w2
    token = box.server.token("w1", box.project)
    url = f"{box.server.url}/v1/projects/{box.project}/agents/w2/state"
    answer = httpx.put(url, json={"state": "exited"}, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "FORBIDDEN"
    reader = box.env("w2", tokens.Role.READER)["AIRYRA_TOKEN"]
    code, out, _ = box.airyra("state", "exited", agent="w2", AIRYRA_TOKEN=reader)
    assert code == 5, out
    box.hook({"hook_event_name": "Stop"}, agent="w2", AIRYRA_TOKEN=reader)  # silently refused
    assert box.states() == before
    with box.server.client(box.project, "human", token=box.server.token()) as host:
        assert host.set_agent_state("w2", "exited", "pane gone").state == "exited"
    assert box.states()["w2"].detail == "pane gone"


BAD_PAYLOADS = {
    "garbage": b"not json",
    "a list": b"[1, 2, 3]",
    "an unknown event": b'{"hook_event_name": "SomethingNew"}',
    "wrong types": b'{"hook_event_name": 42, "tool_name": ["x"]}',
    "over 1 MiB": b'{"hook_event_name": "PreToolUse", "tool_name": "' + b"x" * (1 << 20) + b'"}',
    "a detail over 200": b'{"hook_event_name": "PreToolUse", "tool_name": "' + b"y" * 500 + b'"}',
    "empty": b"",
}


def test_bad_payloads_exit_0_and_change_nothing(box: Box) -> None:
    box.hook({"hook_event_name": "SessionStart", "session_id": "s"})
    before = box.states()
    for what, stdin in BAD_PAYLOADS.items():
        code, out, _ = box.airyra("hook", "claude", stdin=stdin)
        assert (code, out) == (0, ""), what
        if what == "a detail over 200":  # cut to fit, not refused
            assert box.states()["w1"].detail == "y" * 200
            box.hook({"hook_event_name": "SessionStart", "session_id": "s"})
            before = box.states()
        else:
            assert box.states() == before, what


def test_a_hook_without_a_working_server_still_exits_0_quickly(box: Box) -> None:
    payload = json.dumps({"hook_event_name": "Stop"})
    for env in ({"AIRYRA_SOCKET": "/nowhere.sock", "AIRYRA_PORT": "1"}, {"AIRYRA_PORT": "x"}):
        code, out, _ = box.airyra("hook", "claude", stdin=payload, **env)
        assert (code, out) == (0, "")
    code, out, _ = box.airyra("hook", "gemini", stdin=payload)
    assert (code, out) == (0, "")
    script = f'python3 -c "{HUNG}" & sleep 0.5; exec python3 -c "$1" hook claude'
    env = {**box.env("w1"), "AIRYRA_SOCKET": "/tmp/hung.sock"}
    started = time.monotonic()
    result = box.sb.exec(
        ["sh", "-c", script, "sh", bundle.source()], env=env, input=payload, timeout=60
    )
    took = time.monotonic() - started
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
    assert took < 0.5 + 2.0 + 1.5, took  # the hook gives up after 2 s
