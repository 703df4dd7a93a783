"""Who and where one worker is: the facts its environment and instruction file state.

Paths and addresses are as seen from *inside* the worker's sandbox (the task server
may be the host's bridge address there, the hub a mounted path). Secrets are not
part of a context: it is rendered into a file the agent can read.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from isollm.config.model import Config

TASK_PLACEHOLDER = "<task-id>"


@dataclass(frozen=True)
class WorkerContext:
    project: str
    worker: str
    base_branch: str = "main"
    branch_prefix: str = "isollm/"
    project_path: str = ""
    hub: str = ""
    remote: str = "origin"
    airyra_host: str = "127.0.0.1"
    airyra_port: int = 7432
    airyra_project: str = ""
    airyra_agent: str = ""
    lease_seconds: int = 300
    custom_context: str = ""
    # Set for a headless run, where isollm claimed this task for the agent.
    task_id: str = ""
    task_title: str = ""
    headless: bool = False

    @property
    def agent_id(self) -> str:
        """The identity the worker uses with the task server."""
        return self.airyra_agent or self.worker

    @property
    def task_project(self) -> str:
        return self.airyra_project or self.project

    @property
    def branch(self) -> str:
        """The task branch: ``<prefix><task-id>`` (a placeholder before a task is known)."""
        return f"{self.branch_prefix}{self.task_id or TASK_PLACEHOLDER}"

    @property
    def server_url(self) -> str:
        host = f"[{self.airyra_host}]" if ":" in self.airyra_host else self.airyra_host
        return f"http://{host}:{self.airyra_port}"

    def for_task(self, task_id: str, title: str = "") -> WorkerContext:
        """This context for a headless run of one claimed task."""
        return replace(self, task_id=task_id, task_title=title, headless=True)


def from_config(config: Config, worker: str, **overrides: Any) -> WorkerContext:
    """A worker's context from the project config; ``overrides`` set sandbox-side facts
    such as ``project_path``, ``hub`` or an ``airyra_host`` reachable from the sandbox."""
    context = WorkerContext(
        project=config.project,
        worker=worker,
        base_branch=config.git.base_branch,
        branch_prefix=config.git.branch_prefix,
        airyra_host=config.airyra.host,
        airyra_port=config.airyra.port,
        lease_seconds=config.airyra.lease_seconds,
        custom_context=config.claude.context,
    )
    return replace(context, **overrides)
