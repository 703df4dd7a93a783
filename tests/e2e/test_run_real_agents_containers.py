"""Real agent CLIs in lxc and podman containers (``network: host``: the fake model
server listens on the host).

The containers have none of the host's files: each CLI's install is bound read-only at
its host path when the container is made (an npm package with the packages it needs,
such as Codex's native program; a virtualenv), and the run starts it by its real path.
``isollm run``: the agent, driven by the fake model server, writes ``hello.txt`` (and,
through its shell tool, ``task-<id>.txt``); isollm commits, pushes and marks it done.
``isollm up``: the agent starts in its tmux pane, in its container, and asks the model.
What cannot work is refused before any task is claimed: an install under ``/root``
(which a container's user cannot enter), and ``network: none`` (no model API to reach).
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from isollm import config as cfg
from isollm import fsutil
from isollm.config.model import SandboxBackendName
from isollm.errors import SandboxError
from isollm.runner.expose import venv_base
from isollm.sandbox import containers, lxc, podman
from isollm.sandbox.base import Limits
from tests.conftest import git, skip_or_fail
from tests.e2e.run_support import RunProject, in_containers, run_project, story, task_file, wait_for
from tests.e2e.test_agents_real_cli import KEY_VARIABLES, SECRET, cli_path
from tests.e2e.test_run_real_agents import HELLO, SCRIPT, agent_settings
from tests.e2e.test_session_tmux import Session
from tests.fakemodel import FakeModelServer, Recorded, Script, WriteFile
from tests.integration.sandbox_support import container_base, podman_image, require_backend

__all__ = ["container_base", "podman_image"]  # the fixtures, for this module's tests

pytestmark = [pytest.mark.lxc, pytest.mark.agents, pytest.mark.timeout(240)]

BACKENDS: list[SandboxBackendName] = ["lxc", "podman"]


@pytest.fixture(params=BACKENDS)
def project(request: pytest.FixtureRequest, git_repo: Path) -> Iterator[Session]:
    backend: SandboxBackendName = request.param
    require_backend(request, backend)
    with run_project(git_repo) as p:
        s = Session(p.root, p.port)
        in_containers(s.root, backend, "ra", network="host")
        try:
            yield s
        finally:
            s.close()


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


# aider edits by the model's reply and commits itself: no shell command of its own.
AIDER_SCRIPT = Script(actions=(WriteFile("hello.txt", HELLO),), commit_message="Greet the user")
COST_MAP = "LITELLM_LOCAL_MODEL_COST_MAP"  # aider offline: no price list download


def _sandbox(project: RunProject, **changes: Any) -> None:
    """Change the sandbox section of the project's isollm.yaml (committed)."""
    loaded = cfg.load(project.root)
    c = loaded.config
    sandbox = dataclasses.replace(c.sandbox, **changes)
    cfg.save(loaded.path, dataclasses.replace(c, sandbox=sandbox))
    git(project.root, "commit", "-q", "-am", "sandbox settings")


def _minor(python: Path | str) -> str:
    argv = [str(python), "-c", "import sys; print(*sys.version_info[:2], sep='.')"]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()


def system_aider(project: RunProject, tmp_path: Path) -> Path:
    """aider in a virtualenv made from the system's Python (as a user would, outside
    /root), with the packages of ``./dev setup``'s aider (a ``.pth`` file naming them,
    shown through ``sandbox.expose``): its program."""
    setup = cli_path("aider").parent.parent
    minor = _minor(setup / "bin" / "python3")
    if _minor("/usr/bin/python3") != minor:
        skip_or_fail(f"/usr/bin/python3 is not Python {minor}, which ./dev setup's aider uses")
    venv = tmp_path / "aider-venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", str(venv)], check=True)
    packages = setup / "lib" / f"python{minor}" / "site-packages"
    (venv / "lib" / f"python{minor}" / "site-packages" / "setup.pth").write_text(f"{packages}\n")
    entry = (setup / "bin" / "aider").read_text(encoding="utf-8").split("\n", 1)[1]
    program = venv / "bin" / "aider"
    program.write_text(f"#!{venv}/bin/python3\n{entry}", encoding="utf-8")
    program.chmod(0o755)
    _sandbox(project, expose=[str(packages)])
    return program


def _settings(name: str, server: FakeModelServer, binary: Path) -> dict[str, object]:
    if name != "aider":
        return agent_settings(name, server)
    return {
        "name": name,
        "binary": str(binary),
        "base_url": f"{server.url}/v1",
        "model": "openai/fake-model",
        "args": ["--edit-format", "diff", "--map-tokens", "0"],
        "pass_env": [COST_MAP],
        "timeout": 120,
    }


# Each agent on one backend: what is bound is the same for both (claude runs on both),
# and a CLI's run and session cost 15-25 s.
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
@pytest.mark.parametrize(
    ("project", "name"),
    [("lxc", "codex"), ("lxc", "gemini"), ("podman", "aider")],
    indirect=["project"],
)
def test_an_agent_cli_runs_a_task_and_a_session_in_a_container(
    project: Session, name: str, tmp_path: Path
) -> None:
    binary = system_aider(project, tmp_path) if name == "aider" else cli_path(name)
    task_id = project.add("Greet the user", description="Keep it short.")
    env = {KEY_VARIABLES[name]: SECRET, COST_MAP: "True"}
    with FakeModelServer(AIDER_SCRIPT if name == "aider" else SCRIPT) as server:
        project.configure(workers=1, agent=_settings(name, server, binary))
        result = project.isollm("run", "--plain", "--agent", name, env=env)
        asked = len(_posts(server))
        told = story(result)
        assert asked, f"the agent never reached the model\n{told}"
        assert project.task(task_id).status == "done", told
        assert project.hub_show(task_id, "hello.txt") + "\n" == HELLO, told
        if name != "aider":
            assert project.hub_show(task_id, task_file(task_id)) == task_id, told
        assert [(r["outcome"], r["agent"]) for r in project.receipts()] == [("done", name)]

        up = project.isollm("up", "--agent", name, "--detach", "-n", "1", "--mux", "tmux", env=env)

        assert "worker-1: created" in up.stdout, story(up)
        if name == "aider":  # it waits for a first message
            wait_for(lambda: "Aider v" in project.screen("worker-1"), 30, "aider in its pane")
            project.tmux("send-keys", "-t", project.panes()["worker-1"], "go on", "Enter")
        wait_for(lambda: len(_posts(server)) > asked, 30, f"{name} in its pane to ask the model")
    project.isollm("down", "--yes", "--destroy")


def _posts(server: FakeModelServer) -> list[Recorded]:
    return [r for r in server.requests if r.method == "POST"]


def test_an_agent_whose_python_is_in_root_home_is_refused_before_any_task(
    project: RunProject,
) -> None:
    aider = cli_path("aider")
    base = venv_base(aider.parent.parent)
    if base is None or not base.is_relative_to(containers.ROOT_HOME):
        pytest.skip(f"{aider}'s Python is not under /root on this machine")
    task_id = project.add("Greet the user")
    with FakeModelServer(AIDER_SCRIPT) as server:
        project.configure(workers=1, agent=_settings("aider", server, aider))
        refused = project.isollm("run", "--plain", env={"OPENAI_API_KEY": SECRET}, code=1)
    told = story(refused)
    assert f"{base} (in sandbox.expose" in refused.stderr, told
    assert "is in root's home, /root, which a container's user cannot enter" in refused.stderr
    assert "/usr/bin/python3 -m venv" in refused.stderr
    assert "no task was claimed" in refused.stderr
    assert project.task(task_id).status == "open", told
    assert not project.actions(task_id, "claim")

    up = project.isollm("up", "--detach", "-n", "1", "--mux", "none", "--idle", code=1)

    assert "is in root's home" in up.stderr, story(up)
    assert "Traceback" not in up.stderr
    assert not (project.root / ".isollm" / "session.json").exists()


@pytest.mark.parametrize("project", ["podman"], indirect=True)
def test_an_agent_without_a_network_is_refused_before_any_task(project: RunProject) -> None:
    _sandbox(project, network="none")
    task_id = project.add("Greet the user")
    with FakeModelServer(SCRIPT) as server:
        project.configure(workers=1, agent=agent_settings("codex", server))
        refused = project.isollm("run", "--plain", env={"OPENAI_API_KEY": SECRET}, code=1)
    assert "sandbox.network is none: codex cannot reach its model API" in refused.stderr
    assert "set sandbox.network: host" in refused.stderr
    assert project.task(task_id).status == "open"

    up = project.isollm("up", "--agent", "codex", "--detach", "--mux", "none", code=1)

    assert "sandbox.network is none: codex cannot reach its model API" in up.stderr, story(up)
    assert "Traceback" not in up.stderr
    assert not (project.root / ".isollm" / "session.json").exists()


def test_a_container_refuses_a_path_in_root_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inside = tmp_path / "python"
    inside.mkdir()
    monkeypatch.setattr(containers, "ROOT_HOME", tmp_path)
    with pytest.raises(SandboxError, match="is in root's home") as refused:
        containers.exposed([str(inside)])
    assert refused.value.hint == containers.ROOT_HOME_HINT
    assert containers.exposed([str(tmp_path)]) == []  # the home itself: never bound


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
