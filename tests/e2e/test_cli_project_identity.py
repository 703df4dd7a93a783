"""Two checkouts with the same folder name: each gets its own hub and task queue.

The hub and queue are found by the project's name, which `init` takes from the folder;
two checkouts named `app` must not silently share them. Sharing stays possible, on purpose.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from isollm.tasks.server import control as service
from tests.conftest import git
from tests.e2e.cli import as_json, isollm
from tests.integration.tasks_support import free_port


def checkout(parent: Path) -> Path:
    repo = parent / "app"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "commit", "-q", "--allow-empty", "-m", "initial commit")
    return repo


@pytest.fixture
def port() -> Iterator[int]:
    number = free_port()
    yield number
    service.stop(number)


@pytest.fixture
def two(tmp_path: Path) -> tuple[Path, Path]:
    return checkout(tmp_path / "one"), checkout(tmp_path / "two")


def project_of(repo: Path) -> str:
    return str(as_json(repo, "config", "show")["config"]["project"])


def use_port(repo: Path, port: int) -> None:
    config = repo / "isollm.yaml"
    config.write_text(config.read_text().replace("port: 7432", f"port: {port}"))


def titles(repo: Path) -> list[str]:
    return [t["title"] for t in as_json(repo, "task", "list")["tasks"]]


def test_init_gives_the_second_checkout_its_own_project(two: tuple[Path, Path], port: int) -> None:
    a, b = two
    isollm(a, "init")
    said = isollm(b, "init").stdout
    assert project_of(a) == "app"
    assert project_of(b).startswith("app-")
    assert f"The folder's name is the project of {a}" in said
    for repo in two:
        use_port(repo, port)
        isollm(repo, "sync", "push")
    assert as_json(a, "sync", "status")["hub"] != as_json(b, "sync", "status")["hub"]
    isollm(a, "task", "add", "only in a")
    assert titles(a) == ["only in a"]
    assert titles(b) == []


def test_a_name_clash_is_reported_and_sharing_on_purpose_works(
    two: tuple[Path, Path], port: int
) -> None:
    a, b = two
    for repo in two:  # as before this check existed, or with a committed isollm.yaml
        isollm(repo, "init")
        (repo / "isollm.yaml").write_text(f"project: app\nairyra:\n  port: {port}\n")
    isollm(a, "task", "add", "from a")
    refused = isollm(b, "task", "list", code=1)
    assert f"project 'app' (its hub and task queue) belongs to the checkout {a}" in refused.stderr
    assert "`isollm init --share`" in refused.stderr
    assert "project: app-" in refused.stderr
    isollm(b, "sync", "push", code=1)
    isollm(b, "config", "validate")  # the config commands still work, to fix it
    shared = isollm(b, "init", "--share").stdout
    assert f"shares the project's hub and task queue with {a}" in shared
    assert (b / "isollm.yaml").read_text().startswith("project: app\n")  # kept
    assert titles(b) == ["from a"]
    isollm(b, "task", "add", "from b")
    assert sorted(titles(a)) == ["from a", "from b"]


def test_a_checkout_that_is_gone_or_renamed_its_project_owns_nothing(
    two: tuple[Path, Path], port: int
) -> None:
    a, b = two
    for repo in two:
        isollm(repo, "init")
        (repo / "isollm.yaml").write_text(f"project: app\nairyra:\n  port: {port}\n")
    isollm(a, "sync", "push")
    isollm(b, "sync", "status", code=1)
    (a / "isollm.yaml").write_text(f"project: other\nairyra:\n  port: {port}\n")
    isollm(b, "sync", "status")  # a names another project now: app is b's
    isollm(a, "sync", "status")
    shutil.rmtree(b)  # and once b is gone, a may take app back
    (a / "isollm.yaml").write_text(f"project: app\nairyra:\n  port: {port}\n")
    isollm(a, "sync", "status")


def test_a_second_port_in_one_home_is_told_the_port_its_server_has(
    two: tuple[Path, Path], port: int
) -> None:
    """One task server serves every project of an isollm home: a project set to another
    port is told which, with no traceback, and works once it uses it."""
    a, b = two
    for repo in two:
        isollm(repo, "init")
    use_port(a, port)
    use_port(b, other := free_port())
    isollm(a, "task", "add", "in a")
    refused = isollm(b, "task", "add", "in b", code=1)
    assert f"already runs on port {port}" in refused.stderr
    assert f"set airyra.port: {port}" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert service.read_state(other) is None  # no second server was left behind
    config = b / "isollm.yaml"
    config.write_text(config.read_text().replace(f"port: {other}", f"port: {port}"))
    isollm(b, "task", "add", "in b")
    assert titles(b) == ["in b"]
