"""The hub: a bare repository per project, created on first need."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from isollm.errors import StateError
from isollm.git.hub import Hub, HubMissingError, hub_path
from tests import gitutil
from tests.conftest import git

RACERS = 6

ENSURE = (
    "import sys; from pathlib import Path; from isollm.git.hub import Hub; "
    "Hub(Path(sys.argv[1])).ensure()"
)


def test_for_project_lives_under_isollm_home(hermetic_env: Path) -> None:
    hub = Hub.for_project("demo")
    assert hub.path == hermetic_env / ".isollm" / "demo.git" == hub_path("demo")
    assert not hub.exists()


def test_nothing_is_created_until_ensure(tmp_path: Path) -> None:
    hub = Hub(tmp_path / "p.git")
    assert not hub.has_branch("main")
    assert hub.head_of("main") is None
    assert hub.task_branches("isollm/") == []
    assert not hub.path.exists()
    with pytest.raises(HubMissingError, match="isollm sync push"):
        hub.require()


def test_ensure_creates_a_bare_repository_with_a_reflog(tmp_path: Path) -> None:
    hub = Hub(tmp_path / "nested" / "p.git").ensure()
    assert hub.exists()
    assert gitutil.is_bare(hub.path)
    assert git(hub.path, "config", "core.logAllRefUpdates") == "always"
    assert git(hub.path, "config", "gc.auto") == "0"
    assert hub.ensure() is hub
    assert [p.name for p in hub.path.parent.iterdir()] == ["p.git"]  # no temp dirs left


def test_ensure_accepts_an_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "p.git").mkdir()
    assert Hub(tmp_path / "p.git").ensure().exists()


def test_ensure_refuses_a_directory_that_is_not_a_repository(tmp_path: Path) -> None:
    (tmp_path / "p.git").mkdir()
    (tmp_path / "p.git" / "notes.txt").write_text("mine")
    with pytest.raises(StateError, match="not a git repository"):
        Hub(tmp_path / "p.git").ensure()
    assert (tmp_path / "p.git" / "notes.txt").read_text() == "mine"


def test_processes_racing_to_create_the_hub_all_succeed(tmp_path: Path) -> None:
    path = tmp_path / "race.git"
    procs = [
        subprocess.Popen([sys.executable, "-c", ENSURE, str(path)], stderr=subprocess.PIPE)
        for _ in range(RACERS)
    ]
    errors = [p.communicate(timeout=60)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0] * RACERS, errors
    assert Hub(path).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["race.git"]


def test_threads_racing_to_create_the_hub_all_succeed(tmp_path: Path) -> None:
    hub = Hub(tmp_path / "t.git")
    barrier = threading.Barrier(RACERS)
    failures: list[BaseException] = []

    def racer() -> None:
        barrier.wait()
        try:
            hub.ensure()
        except BaseException as exc:  # collected and asserted below
            failures.append(exc)

    threads = [threading.Thread(target=racer) for _ in range(RACERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert gitutil.is_bare(hub.path)


def test_branches_and_task_branches(git_repo: Path, tmp_path: Path) -> None:
    hub = Hub(tmp_path / "p.git").ensure()
    git(git_repo, "branch", "isollm/ar-1")
    git(git_repo, "checkout", "-q", "-b", "isollm/ar-2")
    (git_repo / "f.txt").write_text("x")
    sha = gitutil.commit_all(git_repo, "task two")
    git(git_repo, "branch", "isollmx/other")
    gitutil.push(git_repo, hub.path, "refs/heads/*:refs/heads/*")
    assert hub.has_branch("main")
    assert hub.head_of("isollm/ar-2") == sha
    assert hub.head_of("nope") is None
    branches = hub.task_branches("isollm/")
    assert [b.name for b in branches] == ["isollm/ar-1", "isollm/ar-2"]
    assert branches[1].subject == "task two"
    assert branches[1].sha == sha


def _probe(hub: Hub) -> bytes:
    argv = [sys.executable, "-c", LOCK_PROBE, str(hub.path)]
    return subprocess.run(argv, check=True, capture_output=True, timeout=60).stdout


def test_lock_is_exclusive_and_outside_the_repository(tmp_path: Path) -> None:
    hub = Hub(tmp_path / "p.git")
    with hub.lock():
        assert _probe(hub) == b"busy\n"
    assert _probe(hub) == b"free\n"
    assert not hub.path.exists()


LOCK_PROBE = """
import sys
from pathlib import Path
from isollm import fsutil
from isollm.git.hub import Hub
hub = Hub(Path(sys.argv[1]))
with fsutil.file_lock(hub.path.parent / f".{hub.path.name}.lock", blocking=False) as held:
    print("free" if held else "busy")
"""


def test_a_relative_isollm_home_still_names_one_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ISOLLM_HOME", "rel-home")
    hub = Hub.for_project("p").ensure()
    assert hub.path == tmp_path / "rel-home" / "p.git"
    assert hub.path.is_absolute()
