"""Fixtures shared by the sandbox contract and escape tests: real hubs, real backends.

Every sandbox a test makes is destroyed afterwards, and anything a crashed test could
leave (overlay mounts under the test's ISOLLM_HOME, containers of its project) is
removed too. Project names are unique, so containers never collide across xdist workers.
"""

from __future__ import annotations

import contextlib
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from isollm import fsutil
from isollm.git.hub import Hub
from isollm.git.sync import push_base
from isollm.sandbox import lxcbase, podman, prepare, registry
from isollm.sandbox.base import Sandbox, SandboxSpec
from tests.conftest import git, skip_or_fail

BACKENDS = [
    pytest.param("overlay", id="overlay"),
    pytest.param("worktree", id="worktree"),
    pytest.param("lxc", marks=pytest.mark.lxc, id="lxc"),
    pytest.param("podman", marks=pytest.mark.lxc, id="podman"),
]
ISOLATING = [p for p in BACKENDS if p.values[0] != "worktree"]
IMAGE = "debian:bookworm"


@pytest.fixture(scope="session")
def container_base() -> str:
    """The LXC base container, built once per machine (a lock file makes xdist workers
    that arrive together wait for one build; later sessions find it ready)."""
    return lxcbase.ensure_base(IMAGE)


@pytest.fixture(scope="session")
def podman_image(container_base: str) -> str:
    return podman.ensure_image(IMAGE)


def require_backend(request: pytest.FixtureRequest, name: str) -> None:
    reason = registry.available(name)
    if reason:
        skip_or_fail(f"{name} backend unavailable on this machine: {reason}")
    if name == "lxc":
        request.getfixturevalue("container_base")
    if name == "podman":
        request.getfixturevalue("podman_image")


def make_repo(root: Path) -> Path:
    """A host repository with tracked files, an ignored .env listed in .worktreeinclude."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    (root / "README.md").write_text("# sample\n")
    (root / "src").mkdir()
    (root / "src" / "app.py").write_text("print('hello')\n")
    (root / ".gitignore").write_text(".env\nconfig/local.toml\nbuild/\n")
    (root / ".worktreeinclude").write_text(".env\nconfig/\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial commit")
    (root / ".env").write_text("API_TOKEN=from-the-host\n")
    (root / "config").mkdir()
    (root / "config" / "local.toml").write_text("debug = true\n")
    (root / "build").mkdir()
    (root / "build" / "out.o").write_text("not listed in .worktreeinclude\n")
    return root


@dataclass
class Factory:
    """Makes sandboxes of one backend for one fresh project; destroys them all after."""

    backend: str
    project: str
    repo: Path
    hub: Hub
    made: list[Sandbox] = field(default_factory=list)

    def spec(self, name: str = "w1", **changes: Any) -> SandboxSpec:
        base = SandboxSpec(
            name=name,
            project=self.project,
            hub=self.hub.path,
            base_branch="main",
            host_root=self.repo,
            include=prepare.worktree_includes(self.repo),
            image=IMAGE,
        )
        return replace(base, **changes)

    def make(self, name: str = "w1", **changes: Any) -> Sandbox:
        sb = registry.create(self.spec(name, **changes), self.backend)
        self.made.append(sb)
        return sb

    def host_commit(self, message: str, files: dict[str, str]) -> str:
        """Commit on the host's main and push it to the hub; returns the commit."""
        for name, text in files.items():
            (self.repo / name).write_text(text)
        git(self.repo, "add", "-A")
        git(self.repo, "commit", "-q", "-m", message)
        push_base(self.repo, self.hub, "main")
        return git(self.repo, "rev-parse", "HEAD")

    def cleanup(self) -> None:
        for sb in self.made:
            with contextlib.suppress(Exception):
                sb.destroy()
        for cls in registry.BACKENDS.values():
            with contextlib.suppress(Exception):
                for name in cls.leftovers(self.project):
                    cls.remove_leftover(self.project, name)
        unmount_under(fsutil.isollm_home())


def unmount_under(root: Path) -> None:
    """Lazily unmount every mount below ``root`` (what a crashed test leaves)."""
    mounts = Path("/proc/self/mounts").read_text().splitlines()
    for target in sorted((m.split()[1] for m in mounts), key=len, reverse=True):
        if target.startswith(f"{root}/"):
            subprocess.run(["umount", "-l", target], check=False, capture_output=True)


def unique_project() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def factory_for(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[[str], Factory]]:
    made: list[Factory] = []

    def build(backend: str) -> Factory:
        require_backend(request, backend)
        project = unique_project()
        repo = make_repo(tmp_path / f"repo-{project}")
        hub = Hub.for_project(project).ensure()
        push_base(repo, hub, "main")
        factory = Factory(backend, project, repo, hub)
        made.append(factory)
        return factory

    yield build
    for factory in made:
        factory.cleanup()


def hub_git(factory: Factory, *args: str) -> str:
    return git(factory.hub.path, *args)
