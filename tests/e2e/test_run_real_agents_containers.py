"""``isollm run --agent claude`` in lxc and podman containers (``network: host``).

The containers have none of the host's files: the CLI's install (the npm package its
name on PATH links to) is bound read-only at its host path when each container is made,
and the run starts it by its real path. The agent, driven by the fake model server,
writes ``hello.txt`` and ``task-<id>.txt``; isollm commits, pushes and marks it done.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from isollm import fsutil
from isollm.config.model import SandboxBackendName
from isollm.sandbox import containers, lxc, podman
from isollm.sandbox.base import Limits
from tests.e2e.run_support import RunProject, in_containers, run_project, story, task_file
from tests.e2e.test_agents_real_cli import KEY_VARIABLES, SECRET, cli_path
from tests.e2e.test_run_real_agents import HELLO, SCRIPT, agent_settings
from tests.fakemodel import FakeModelServer
from tests.integration.sandbox_support import container_base, podman_image, require_backend

__all__ = ["container_base", "podman_image"]  # the fixtures, for this module's tests

pytestmark = [pytest.mark.lxc, pytest.mark.agents, pytest.mark.timeout(240)]

BACKENDS: list[SandboxBackendName] = ["lxc", "podman"]


@pytest.fixture(params=BACKENDS)
def project(request: pytest.FixtureRequest, git_repo: Path) -> Iterator[RunProject]:
    backend: SandboxBackendName = request.param
    require_backend(request, backend)
    with run_project(git_repo) as p:
        in_containers(p.root, backend, "ra", network="host")
        yield p


def test_claude_completes_a_task_in_a_container(project: RunProject) -> None:
    task_id = project.add("Greet the user", description="Keep it short.")
    with FakeModelServer(SCRIPT) as server:
        project.configure(workers=1, agent=agent_settings("claude", server))
        result = project.isollm("run", "--plain", env={KEY_VARIABLES["claude"]: SECRET})
        asked = [r for r in server.requests if r.method == "POST"]
    told = story(result)
    assert asked, f"the agent never reached the model\n{told}"
    assert project.task(task_id).status == "done", told
    assert project.hub_show(task_id, "hello.txt") + "\n" == HELLO, told
    assert project.hub_show(task_id, task_file(task_id)) == task_id, told
    receipts = project.receipts()
    assert [r["outcome"] for r in receipts] == ["done"], receipts
    assert receipts[0]["agent"] == "claude"


def test_a_session_finds_claude_in_its_container(project: RunProject) -> None:
    with FakeModelServer(SCRIPT) as server:
        project.configure(workers=1, agent=agent_settings("claude", server))
    real = str(cli_path("claude").resolve())

    up = project.isollm("up", "--detach", "-n", "1", "--mux", "none", "--idle")

    assert "worker-1: created" in up.stdout, story(up)
    shown = project.isollm("worker", "exec", "-T", "worker-1", "--", real, "--version")
    assert "Claude Code" in shown.stdout, story(shown)
    written = project.isollm(
        "worker", "exec", "-T", "worker-1", "--", "sh", "-c", f"touch {real} 2>&1", code=None
    )
    assert written.returncode != 0, "the agent's install is writable inside"
    project.isollm("down", "--yes", "--destroy")


@pytest.mark.parametrize("hidden", ["/", "/root", "/home", str(Path.home())])
def test_a_container_never_binds_a_home_or_the_root(hidden: str) -> None:
    assert containers.exposed([hidden]) == []


def test_a_container_never_binds_isollm_home() -> None:
    private = fsutil.ensure_dir(fsutil.isollm_home() / "run")
    assert containers.exposed([str(private), str(private.parent)]) == []


def test_exposed_paths_are_bound_read_only_at_the_same_path(tmp_path: Path) -> None:
    package = tmp_path / "node_modules" / "pkg"
    package.mkdir(parents=True)
    node = tmp_path / "node"
    node.write_text("")
    shown = containers.exposed([str(package), str(node), str(tmp_path / "gone")])
    assert shown == [package, node]
    argv = podman.run_argv(
        "c", "img", workspace=tmp_path, hub=tmp_path, network="host", limits=Limits(), expose=shown
    )
    assert f"type=bind,source={package},target={package},readonly" in argv
    lines = lxc.config_lines("#", tmp_path, tmp_path, "host", [], v2=True, expose=shown)
    assert lxc.mount_entry(package, str(package), readonly=True) in lines
    assert f"{node} {str(node).lstrip('/')} none bind,ro,create=file 0 0" in "\n".join(lines)
