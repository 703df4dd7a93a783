"""A run-like project for the merge tests: a hub with task branches, a real task store.

The queue is a real SQLite store read through the same :class:`TaskBook` shape the
task server's client gives ``isollm merge``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from isollm import config as cfg
from isollm.config import Config
from isollm.config.model import MergeConfig, SandboxConfig
from isollm.git.hub import Hub
from isollm.land.candidates import TaskFacts
from isollm.land.merge import Queue
from isollm.land.testing import SandboxTester
from isollm.tasks.server.control import ensure_server
from isollm.tasks.store.errors import TaskNotFoundError
from isollm.tasks.store.model import NewTask, PageRequest, Status
from isollm.tasks.store.sqlite.store import SqliteTaskStore
from tests.conftest import git
from tests.integration.tasks_support import free_port

ISOLLM = str(Path(sys.executable).parent / "isollm")

# The project's test: red when the readme or the app says BROKEN.
TEST_COMMAND = [
    "sh",
    "-c",
    "if grep -qs BROKEN README.md src/app.py; then echo 'test: app is BROKEN' >&2; exit 3; fi",
]


class StoreBook:
    """The real task store as the merge sees the queue."""

    def __init__(self, store: SqliteTaskStore) -> None:
        self.store = store

    def facts(self, task_id: str) -> TaskFacts | None:
        try:
            task = self.store.get_task(task_id)
        except TaskNotFoundError:
            return None
        deps = tuple(d.parent_id for d in self.store.dependencies(task_id) if d.child_id == task_id)
        done = task.updated_at if task.status is Status.DONE else None
        return TaskFacts(task.id, task.title, str(task.status), done, deps)

    def add_fix_task(self, title: str, description: str) -> str:
        return self.store.add_task(NewTask(title, description=description), "merge").id

    def unfinished(self, title: str) -> str | None:
        tasks = self.store.list_tasks(None, PageRequest(1, 1000)).items
        return next((t.id for t in tasks if t.title == title and t.status != Status.DONE), None)


@dataclass
class Landing:
    """A project: host repo, hub, queue; ``deliver`` makes a done task with a branch."""

    project: str
    repo: Path
    hub: Hub
    store: SqliteTaskStore
    work: Path
    tips: dict[str, str] = field(default_factory=dict)

    def deliver(self, title: str, files: dict[str, str], after: str = "") -> str:
        task = self.store.add_task(NewTask(title), "test")
        if after:
            self.store.add_dependency(task.id, after, "test")
        branch = f"isollm/{task.id}"
        start = f"origin/isollm/{after}" if after else "origin/main"
        git(self.work, "fetch", "-q", "origin")
        git(self.work, "checkout", "-q", "-B", branch, start)
        for name, text in files.items():
            (self.work / name).parent.mkdir(parents=True, exist_ok=True)
            (self.work / name).write_text(text)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", f"{title}\n\nbody of {task.id}")
        git(self.work, "push", "-q", "--force", "origin", f"{branch}:{branch}")
        self.tips[task.id] = git(self.work, "rev-parse", "HEAD")
        self.store.claim(task.id, "agent", 60)
        self.store.done(task.id, "agent", None)
        return task.id

    def config(self, backend: str, test: list[str] | None = None) -> Config:
        return Config(
            project=self.project,
            sandbox=SandboxConfig(backend=backend),
            merge=MergeConfig(test_command=list(test if test is not None else TEST_COMMAND)),
        )

    def queue(self, backend: str = "overlay", *, test: bool = True) -> Queue:
        tester = SandboxTester(self.config(backend), self.repo, self.hub) if test else None
        return Queue(self.hub, self.hub.git(), "main", "isollm/", StoreBook(self.store), tester)

    def hub_git(self, *args: str) -> str:
        return git(self.hub.path, *args)


def landing(tmp_path: Path, project: str, repo: Path, hub: Hub) -> Landing:
    work = tmp_path / "agent-work"
    git(tmp_path, "clone", "-q", str(hub.path), str(work))
    store = SqliteTaskStore(tmp_path / "tasks.db")
    return Landing(project, repo, hub, store, work)


@dataclass
class CliProject:
    """A project as `isollm init` makes it, with its own task server port and a test."""

    root: Path
    port: int
    work: Path
    tips: dict[str, str] = field(default_factory=dict)

    def config(self) -> Config:
        return cfg.load_valid(self.root).valid()

    def hub_git(self, *args: str) -> str:
        return git(Hub.for_project(self.config().project).path, *args)

    def deliver(self, title: str, files: dict[str, str]) -> str:
        """A done task whose branch on the hub holds ``files`` (as a delivery leaves it)."""
        with ensure_server(self.config(), self.root) as client:
            task = client.add_task(title)
            client.claim(task.id)
            client.done(task.id)
        branch = f"isollm/{task.id}"
        git(self.work, "fetch", "-q", "origin")
        git(self.work, "checkout", "-q", "-B", branch, "origin/main")
        for name, text in files.items():
            (self.work / name).parent.mkdir(parents=True, exist_ok=True)
            (self.work / name).write_text(text)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", title)
        git(self.work, "push", "-q", "--force", "origin", f"{branch}:{branch}")
        self.tips[task.id] = git(self.work, "rev-parse", "HEAD")
        return task.id


def cli_project(repo: Path, tmp: Path, test: list[str] | None = TEST_COMMAND) -> CliProject:
    """``repo`` made an isollm project (a free port, ``test`` as merge.test_command),
    its base pushed to the hub; stop its server with ``service.stop(project.port)``."""
    subprocess.run([ISOLLM, "init"], cwd=repo, check=True, capture_output=True)
    port = free_port()
    path = repo / "isollm.yaml"
    text = path.read_text().replace("port: 7432", f"port: {port}")
    text = text.replace("test_command: []", f"test_command: {json.dumps(test or [])}")
    path.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "isollm init")
    subprocess.run([ISOLLM, "sync", "push"], cwd=repo, check=True, capture_output=True)
    # the task server started by the CLI (a server started in-process would be this
    # process's child, still running when the test ends)
    subprocess.run([ISOLLM, "task", "list"], cwd=repo, check=True, capture_output=True)
    project = cfg.load_valid(repo).valid().project
    work = tmp / "agent-work"
    git(tmp, "clone", "-q", str(Hub.for_project(project).path), str(work))
    return CliProject(repo, port, work)
