"""Every field of ``isollm.yaml`` reaches what it configures, or is known to reach nothing.

The test walks the config dataclasses: each leaf must be in :data:`REACHES` (set to a
value other than its default, it shows up where it is used), in :data:`ELSEWHERE` (a
consumer that takes the config itself, named, and checked to read the field) or in
:data:`UNUSED` (accepted and refused or warned about by :mod:`isollm.config.rules`). A
new field in none of them fails the test until its place is decided.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from isollm.agents import context as agent_context
from isollm.agents.registry import settings_for
from isollm.config import Config
from isollm.config.model import AgentOverride
from isollm.git.hub import Hub
from isollm.land.testing import SandboxTester
from isollm.runner import sandboxes as runner_sandboxes
from isollm.runner import service as runner_service
from isollm.runner.context import RunSettings
from isollm.sandbox import workers
from isollm.sandbox.base import Limits
from isollm.sandbox.specs import sandbox_spec
from isollm.session.settings import SessionSettings
from isollm.tasks.server import control as task_service

ROOT = Path("/nonexistent/project")
HUB = Path("/nonexistent/hub.git")

Probe = Callable[[Config], Any]


def spec(attr: str) -> Probe:
    return lambda c: getattr(sandbox_spec(c, root=ROOT, hub=HUB, name="w1"), attr)


def limit(attr: str) -> Probe:
    return lambda c: getattr(sandbox_spec(c, root=ROOT, hub=HUB, name="w1").limits, attr)


def run(attr: str) -> Probe:
    return lambda c: getattr(
        RunSettings.from_config(c, workers=None, agent=None, watch=False), attr
    )


def agent(attr: str, name: str | None = None) -> Probe:
    return lambda c: getattr(settings_for(name or c.agent.name, c.agent), attr)


def worker_context(attr: str) -> Probe:
    return lambda c: getattr(agent_context.from_config(c, "w1"), attr)


def session(attr: str) -> Probe:
    return lambda c: getattr(SessionSettings.from_config(c), attr)


def merge_test(attr: str) -> Probe:
    return lambda c: getattr(SandboxTester(c, ROOT, Hub(HUB)), attr)


def serve(attr: str) -> Probe:
    return lambda c: getattr(task_service.options_from_config(c), attr)


# field -> (a value other than the default, where it shows, what it shows there)
REACHES: dict[str, tuple[Any, Probe, Any]] = {
    "project": ("other-app", spec("project"), "other-app"),
    "workers": (7, run("workers"), 7),
    "image": ("alpine:3", spec("image"), "alpine:3"),
    "git.base_branch": ("trunk", spec("base_branch"), "trunk"),
    "git.branch_prefix": ("feat/", worker_context("branch_prefix"), "feat/"),
    "claude.context": ("be brief", worker_context("custom_context"), "be brief"),
    "airyra.host": ("10.1.2.3", serve("host"), "10.1.2.3"),
    "airyra.port": (9123, serve("port"), 9123),
    "airyra.external": (True, task_service.task_socket, None),
    "airyra.lease_seconds": (60, run("lease_seconds"), 60.0),
    "airyra.auth": (False, serve("auth"), False),
    "sandbox.network": ("none", spec("network"), "none"),
    "sandbox.memory": ("1G", limit("memory"), "1G"),
    "sandbox.pids": (99, limit("pids"), 99),
    "sandbox.disk": ("2G", limit("disk"), "2G"),
    "sandbox.cpus": (1.5, limit("cpus"), 1.5),
    "sandbox.setup": (["npm", "ci"], spec("setup"), ("npm", "ci")),
    "sandbox.setup_timeout": (5, spec("setup_timeout"), 5.0),
    "sandbox.expose": (["/opt/tool"], spec("expose"), ("/opt/tool",)),
    "agent.name": ("codex", run("agent_name"), "codex"),
    "agent.command": (["my-agent", "{prompt}"], agent("command"), ("my-agent", "{prompt}")),
    "agent.model": ("m1", agent("model"), "m1"),
    "agent.args": (["-v"], agent("args"), ("-v",)),
    "agent.timeout": (60, run("agent_timeout"), 60.0),
    "agent.binary": ("/usr/bin/x", agent("binary"), "/usr/bin/x"),
    "agent.base_url": ("http://proxy", agent("base_url"), "http://proxy"),
    "agent.pass_env": (["FOO"], agent("pass_env"), ("FOO",)),
    "agent.per_agent": ({"codex": AgentOverride(model="o4")}, agent("model", "codex"), "o4"),
    "runner.max_attempts": (9, run("max_attempts"), 9),
    "runner.backoff_seconds": (0.25, run("backoff_seconds"), 0.25),
    "runner.stagger_seconds": (3.0, run("stagger_seconds"), 3.0),
    "runner.max_concurrent_starts": (2, run("max_concurrent_starts"), 2),
    "runner.review": (True, run("review"), True),
    "runner.review_agent": ("gemini", run("review_agent"), "gemini"),
    "runner.max_review_rounds": (5, run("max_review_rounds"), 5),
    "runner.review_required": (False, run("review_required"), False),
    "runner.on_conflict": ("partial", run("on_conflict"), "partial"),
    "runner.empty": ("fail", run("empty"), "fail"),
    "runner.stall_after": (2, run("stall_after"), 2.0),
    "runner.stall_action": ("stop", run("stall_action"), "stop"),
    "zellij.layout": ("grid", session("layout"), "grid"),
    "session.prompt": ("go", session("prompt"), "go"),
    "session.notify": (["notify-send", "x"], session("notify"), ("notify-send", "x")),
    "session.mux": ("tmux", session("mux"), "tmux"),
    "merge.test_command": (["make", "test"], merge_test("argv"), ("make", "test")),
    "merge.test_timeout": (60, merge_test("timeout"), 60.0),
}

# field -> the consumers that take the whole config and read it there.
ELSEWHERE: dict[str, tuple[Callable[..., Any], ...]] = {
    # Which backend builds the spec: passed beside it to registry.create.
    "sandbox.backend": (runner_sandboxes.WorkerSandbox.ready, workers.add_worker),
}

# Accepted but read by nothing yet; isollm.config.rules warns when one is set. Keys that
# will not be used are retired instead (isollm.config.retired).
UNUSED: set[str] = set()


def leaves(cls: type, prefix: str = "") -> Iterator[str]:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            yield from leaves(typing.cast(type, kind), f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}"


def with_value(config: Config, path: str, value: Any) -> Config:
    head, _, rest = path.partition(".")
    if not rest:
        return dataclasses.replace(config, **{head: value})
    return dataclasses.replace(config, **{head: with_value(getattr(config, head), rest, value)})


def test_every_field_has_a_known_place() -> None:
    known = REACHES.keys() | ELSEWHERE.keys() | UNUSED
    assert not (REACHES.keys() & ELSEWHERE.keys() & UNUSED)
    assert sorted(set(leaves(Config)) - known) == [], "new config field: decide where it goes"
    assert sorted(known - set(leaves(Config))) == [], "stale entries"


@pytest.mark.parametrize("path", sorted(REACHES))
def test_field_reaches_what_it_configures(path: str) -> None:
    value, probe, shown = REACHES[path]
    base = Config(project="my-app")
    assert probe(base) != shown, "the probe shows this value by default: pick another"
    assert probe(with_value(base, path, value)) == shown


@pytest.mark.parametrize("path", sorted(ELSEWHERE))
def test_field_is_read_by_its_consumers(path: str) -> None:
    for consumer in ELSEWHERE[path]:
        assert f".{path}" in inspect.getsource(consumer), consumer.__qualname__


def test_the_runner_exposes_the_configured_paths() -> None:
    assert ".sandbox.expose" in inspect.getsource(runner_service)


def test_run_settings_defaults_are_the_configs() -> None:
    mapped = RunSettings.from_config(Config(), workers=None, agent=None, watch=False)
    assert mapped == RunSettings(workers=Config().workers, agent_name=Config().agent.name)


def test_spec_defaults_are_the_configs() -> None:
    made = sandbox_spec(Config(project="ab"), root=ROOT, hub=HUB, name="w1")
    assert made.limits == Limits()
    assert (made.setup_timeout, made.image) == (600.0, Config().image)


def test_per_call_values_reach_the_spec() -> None:
    made = sandbox_spec(
        Config(project="ab", sandbox=dataclasses.replace(Config().sandbox, expose=["/a"])),
        root=ROOT,
        hub=HUB,
        name="w2",
        work_branch="isollm/ar-1",
        base_commit="c" * 40,
        task_socket="/run/x.sock",
        expose=("/b",),
    )
    assert (made.name, made.work_branch, made.base_commit) == ("w2", "isollm/ar-1", "c" * 40)
    assert (made.task_socket, made.expose, made.hub, made.host_root) == (
        "/run/x.sock",
        ("/b",),
        HUB,
        ROOT,
    )
