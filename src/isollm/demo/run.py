"""``isollm demo``: the main job on an embedded sample, with no network and no API key.

Builds a sample git repository (a tiny library), makes it an isollm project whose agent
is the scripted demo agent (``python -m isollm.demo.agent``) in the default sandbox with
``network: none``, queues twelve tasks (some depending on others), runs them with
several workers, and returns what each task produced on its branch.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import isollm
from isollm import config as cfg
from isollm import fsutil
from isollm.demo.sample import FILES, TASKS
from isollm.errors import IsollmError
from isollm.git.facade import Git
from isollm.git.hub import Hub
from isollm.git.pull import PullResult, pull_task_branches
from isollm.project import ensure_gitignore, init_project
from isollm.runner.events import Observer
from isollm.runner.service import RunRequest, RunResult, run
from isollm.tasks.server import control as task_service
from isollm.tasks.store.model import ImportItem, NewTask

DEMO_WORKERS = 4
PACKAGE_ROOT = Path(isollm.__file__).resolve().parent.parent  # the demo agent's code


@dataclass(frozen=True)
class Produced:
    task_id: str
    title: str
    branch: str
    commit: str | None
    files: dict[str, str]  # path -> content, as on the branch


@dataclass(frozen=True)
class DemoResult:
    directory: Path
    run: RunResult
    produced: list[Produced]
    pulled: PullResult


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def create_sample(directory: Path) -> None:
    """The sample repository: a few files committed on ``main``."""
    if directory.exists() and any(directory.iterdir()):
        raise IsollmError(f"{directory} is not empty", hint="pick a new directory for the demo")
    directory.mkdir(parents=True, exist_ok=True)
    for rel, text in FILES.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    git = Git(directory)
    git.run("init", "-q", "-b", "main")
    git.run("config", "user.name", "isollm demo")
    git.run("config", "user.email", "demo@isollm.invalid")
    git.run("add", "-A")
    git.run("commit", "-q", "-m", "textkit: start")


def configure(directory: Path) -> cfg.Config:
    """isollm.yaml for the demo: the scripted agent, no network, a free server port."""
    init_project(directory)
    ensure_gitignore(directory, ".isollm-home/")
    loaded = cfg.load(directory)
    c = loaded.config
    config = replace(
        c,
        workers=DEMO_WORKERS,
        airyra=replace(c.airyra, port=free_port()),
        sandbox=replace(c.sandbox, network="none", expose=[str(PACKAGE_ROOT)]),
        agent=replace(
            c.agent,
            name="command",
            command=[sys.executable, "-m", "isollm.demo.agent", "{prompt}"],
            timeout=120,
        ),
        runner=replace(c.runner, backoff_seconds=0.5, stagger_seconds=0.05),
    )
    cfg.save(loaded.path, config)
    Git(directory).run("add", "-A")
    Git(directory).run("commit", "-q", "-m", "isollm: configure the demo")
    return cfg.load(directory).valid()


def queue_tasks(config: cfg.Config, root: Path) -> dict[str, str]:
    """Import the sample tasks with their dependencies; key -> task id."""
    client = task_service.ensure_server(config, root)
    items = [
        ImportItem(NewTask(t.title, t.description, t.priority), key=t.key, after=t.after)
        for t in TASKS
    ]
    return dict(client.import_tasks(items).keys)


@contextlib.contextmanager
def demo_home(directory: Path) -> Iterator[None]:
    """Keep the demo's hub, task database and sandboxes inside its own directory."""
    previous = os.environ.get("ISOLLM_HOME")
    os.environ["ISOLLM_HOME"] = str(directory / ".isollm-home")
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("ISOLLM_HOME", None)
        else:
            os.environ["ISOLLM_HOME"] = previous


def produced(config: cfg.Config, keys: dict[str, str], result: RunResult) -> list[Produced]:
    """Per sample task: its branch, head commit, and the files it changed, as on the hub."""
    git = Git(Hub.for_project(config.project).path)
    by_id = {t.task_id: t for t in result.summary.tasks}
    out = []
    for task in TASKS:
        task_id = keys[task.key]
        seen = by_id.get(task_id)
        head = seen.head_commit if seen else None
        files = {
            rel: git.out("show", f"{head}:{rel}") + "\n"
            for rel in (seen.files_changed if seen and head else [])
        }
        out.append(
            Produced(task_id, task.title, f"{config.git.branch_prefix}{task_id}", head, files)
        )
    return out


def run_demo(directory: Path, observer: Observer) -> DemoResult:
    """The whole demo; the task server it starts is stopped at the end."""
    directory = directory.resolve()
    create_sample(directory)
    with demo_home(directory):
        fsutil.ensure_dir(directory / ".isollm-home")
        config = configure(directory)
        try:
            keys = queue_tasks(config, directory)
            result = run(directory, RunRequest(workers=DEMO_WORKERS), observer)
            hub = Hub.for_project(config.project)
            pulled = pull_task_branches(directory, hub, config.git.branch_prefix)
            return DemoResult(directory, result, produced(config, keys, result), pulled)
        finally:
            task_service.stop(config.airyra.port)
