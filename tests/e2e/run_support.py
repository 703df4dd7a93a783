"""A project for ``isollm run`` tests: its own task server port, its own ISOLLM_HOME (the
autouse fixture), agents configured in isollm.yaml, and readers for what a run leaves
behind (the hub's branches, the ledger, receipts, the task server's history).

Runs are started with the installed ``isollm`` command in subprocesses, each in a
session of its own so a test can send it signals as a terminal would; whatever a test
leaves running is killed at teardown, its sandboxes destroyed and its server stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from isollm import config as cfg
from isollm import fsutil
from isollm.config.model import SandboxBackendName
from isollm.git.hub import Hub
from isollm.sandbox import registry
from isollm.sandbox.base import Network
from isollm.tasks.client.http import TaskClient
from isollm.tasks.server import control as service
from isollm.tasks.store.model import AuditEntry, Task
from tests.conftest import git
from tests.e2e.cli import ISOLLM
from tests.integration.sandbox_support import unmount_under
from tests.integration.tasks_support import free_port

RUN_TIMEOUT = 120


def shell_agent(script: str) -> list[str]:
    """A ``command`` agent running ``script`` with ``sh``; the prompt is ``$1`` (never
    part of the script) and the task is in ``$ISOLLM_TASK_ID`` / ``$ISOLLM_TASK_TITLE``."""
    return ["sh", "-c", script, "sh", "{prompt}"]


# Writes task-<id>.txt holding the task's title: one file (and so one commit) per task.
WRITE_TASK_FILE = 'printf "%s\\n" "$ISOLLM_TASK_TITLE" > "task-$ISOLLM_TASK_ID.txt"'


def task_file(task_id: str) -> str:
    return f"task-{task_id}.txt"


@dataclass
class RunProject:
    root: Path
    port: int
    started: list[subprocess.Popen[str]] = field(default_factory=list)
    _client: TaskClient | None = None

    # --- configuration ---------------------------------------------------------------
    @property
    def config(self) -> cfg.Config:
        return cfg.load(self.root).config

    def configure(
        self,
        *,
        workers: int | None = None,
        backend: str | None = None,
        agent: dict[str, Any] | None = None,
        runner: dict[str, Any] | None = None,
        airyra: dict[str, Any] | None = None,
    ) -> None:
        """Change sections of isollm.yaml (and commit it, so the base stays clean)."""
        loaded = cfg.load(self.root)
        c = loaded.config
        c = dataclasses.replace(
            c,
            workers=workers or c.workers,
            sandbox=dataclasses.replace(c.sandbox, backend=backend or c.sandbox.backend),
            agent=dataclasses.replace(c.agent, **(agent or {})),
            runner=dataclasses.replace(c.runner, **(runner or {})),
            airyra=dataclasses.replace(c.airyra, **(airyra or {})),
        )
        cfg.save(loaded.path, c)
        if git(self.root, "status", "--porcelain", "--", "isollm.yaml"):
            git(self.root, "commit", "-q", "-m", "configure isollm", "--", "isollm.yaml")

    def use_agent(self, script: str, *, timeout: int = 60, **runner: Any) -> None:
        """The ``command`` agent running ``script`` (see :func:`shell_agent`)."""
        defaults = {"stagger_seconds": 0.0, "backoff_seconds": 0.1, "max_concurrent_starts": 8}
        self.configure(
            agent={"name": "command", "command": shell_agent(script), "timeout": timeout},
            runner={**defaults, **runner},
        )

    # --- the queue -------------------------------------------------------------------
    @property
    def client(self) -> TaskClient:
        if self._client is None:
            self._client = service.ensure_server(self.config, self.root)
        return self._client

    def add(self, title: str, *, description: str = "", after: Sequence[str] = ()) -> str:
        task = self.client.add_task(title, description=description or None)
        for parent in after:
            self.client.add_dependency(task.id, parent)
        return task.id

    def task(self, task_id: str) -> Task:
        return self.client.get_task(task_id)

    def history(self, task_id: str) -> list[AuditEntry]:
        return self.client.history(task_id)

    def actions(self, task_id: str, action: str) -> list[AuditEntry]:
        return [h for h in self.history(task_id) if h.action == action]

    # --- running isollm --------------------------------------------------------------
    def isollm(
        self,
        *args: str,
        code: int | None = 0,
        timeout: float = RUN_TIMEOUT,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """``isollm *args`` (with ``env`` added to this process's environment)."""
        result = subprocess.run(
            [ISOLLM, *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, **env} if env else None,
        )
        if code is not None:
            assert result.returncode == code, story(result)
        return result

    def json(self, *args: str) -> Any:
        doc = json.loads(self.isollm(*args, "--json").stdout)
        assert doc["schema"] == 1
        return doc["data"]

    def start(self, *args: str) -> subprocess.Popen[str]:
        """``isollm *args`` in the background, in a session of its own (like a terminal's
        foreground job: a signal to its process group reaches it and its plain children)."""
        child = subprocess.Popen(
            [ISOLLM, *args],
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.started.append(child)
        return child

    # --- what a run leaves -----------------------------------------------------------
    @property
    def hub(self) -> Path:
        return Hub.for_project(self.config.project).path

    def branch(self, task_id: str) -> str:
        return f"{self.config.git.branch_prefix}{task_id}"

    def git_hub(self, *args: str) -> str:
        return git(self.hub, *args)

    def hub_show(self, task_id: str, path: str) -> str:
        return git(self.hub, "show", f"{self.branch(task_id)}:{path}")

    def hub_log(self, task_id: str, base: str = "main") -> list[str]:
        """Subjects of the commits on the task's branch that the base does not have."""
        out = git(self.hub, "log", "--format=%s", f"{base}..{self.branch(task_id)}")
        return out.splitlines()

    def hub_branches(self) -> list[str]:
        refs = git(self.hub, "for-each-ref", "--format=%(refname:short)", "refs/heads")
        return refs.splitlines()

    def runs(self) -> list[Path]:
        return sorted(p for p in (self.root / ".isollm" / "runs").glob("*") if p.is_dir())

    def run_dir(self, run_id: str | None = None) -> Path:
        return self.root / ".isollm" / "runs" / run_id if run_id else self.runs()[-1]

    def ledger(self, run_id: str | None = None) -> list[dict[str, Any]]:
        lines = (self.run_dir(run_id) / "events.ndjson").read_text().splitlines()
        return [json.loads(line) for line in lines if line.endswith("}")]

    def receipts(self, run_id: str | None = None) -> list[dict[str, Any]]:
        files = sorted((self.run_dir(run_id) / "receipts").glob("*.json"))
        return [json.loads(f.read_text()) for f in files]

    def log_text(self, task_id: str, attempt: int = 1, run_id: str | None = None) -> str:
        return (self.run_dir(run_id) / "logs" / f"{task_id}-{attempt}.log").read_text()

    # --- teardown --------------------------------------------------------------------
    def close(self) -> None:
        for child in self.started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
        if self._client is not None:
            self._client.close()
        service.stop(self.port)
        sandboxes, _ = registry.list_sandboxes(self.config.project)
        for sb in sandboxes:
            with contextlib.suppress(Exception):
                sb.destroy()
        unmount_under(fsutil.isollm_home())


def story(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def events_of(ledger: list[dict[str, Any]], kind: str, task: str | None = None) -> list[dict]:
    return [e for e in ledger if e["type"] == kind and (task is None or e.get("task") == task)]


def wait_for(predicate: Callable[[], bool], seconds: float, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds}s waiting for {what or predicate}")
        time.sleep(0.05)


def agents_running(task_ids: Sequence[str]) -> list[int]:
    """Processes (anywhere on the machine) that run for one of ``task_ids``: their
    environment names the task (``ISOLLM_TASK_ID``)."""
    wanted = {f"ISOLLM_TASK_ID={t}".encode() for t in task_ids}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = set((entry / "environ").read_bytes().split(b"\0"))
        except OSError:
            continue
        if env & wanted:
            found.append(int(entry.name))
    return found


def in_containers(
    root: Path, backend: SandboxBackendName, prefix: str, network: Network = "none"
) -> str:
    """Move the project at ``root`` into ``backend`` containers with ``network`` (default
    none), under a project name of its own (container names are machine-wide); returns it."""
    loaded = cfg.load(root)
    c = loaded.config
    sandbox = dataclasses.replace(c.sandbox, backend=backend, network=network)
    project = f"{prefix}{uuid.uuid4().hex[:8]}"
    cfg.save(loaded.path, dataclasses.replace(c, project=project, sandbox=sandbox))
    git(root, "commit", "-q", "-am", "a project of its own, in containers")
    return project


@contextlib.contextmanager
def run_project(git_repo: Path) -> Iterator[RunProject]:
    """``isollm init`` in ``git_repo`` with a free task server port, committed."""
    subprocess.run([ISOLLM, "init"], cwd=git_repo, check=True, capture_output=True)
    (git_repo / ".gitignore").write_text(".isollm/\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "isollm init")
    project = RunProject(git_repo, free_port())
    project.configure(airyra={"port": project.port})
    # Started by the command (in this process it would leave an unwaited Popen behind).
    project.isollm("server", "start")
    try:
        yield project
    finally:
        project.close()
