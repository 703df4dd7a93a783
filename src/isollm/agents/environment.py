"""The environment every worker's agent gets, whatever its CLI (seed 002 §2.2).

``AIRYRA_*`` configure the ``airyra`` agent CLI inside the sandbox, so its identity is
the worker's whatever directory it runs from; ``ISOLLM_*`` (and the seed's
``PROJECT_PATH`` / ``BARE_REPO_PATH``) say where the project and the hub are.
Combine with the adapter's own: ``{**agent.env(os.environ, inv), **worker_env(ctx)}``.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

from isollm import redaction
from isollm.agents.context import WorkerContext
from isollm.agents.envvars import is_secret_name
from isollm.sandbox.base import TASK_SOCKET

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def worker_env(ctx: WorkerContext, *, token: str = "", socket: str = TASK_SOCKET) -> dict[str, str]:
    """Variables for one worker; ``token`` (the task server's bearer token) when set.

    The token is the agent's own (one project, one agent; see isollm.tasks.server.tokens),
    only ever in the environment, never in a file of the workspace. AIRYRA_SOCKET is
    where a sandbox sees the task server's Unix socket (``socket``: a container sees it
    elsewhere, see :func:`isollm.sandbox.containers.socket_seen_by`); the ``airyra`` CLI uses it
    when it exists there (so ``network: none`` still reaches the queue) and host and
    port otherwise.
    """
    env = {
        "AIRYRA_HOST": ctx.airyra_host,
        "AIRYRA_PORT": str(ctx.airyra_port),
        "AIRYRA_PROJECT": ctx.task_project,
        "AIRYRA_AGENT": ctx.agent_id,
        "ISOLLM_PROJECT": ctx.project,
        "ISOLLM_WORKER": ctx.worker,
        "ISOLLM_BASE_BRANCH": ctx.base_branch,
        "ISOLLM_BRANCH_PREFIX": ctx.branch_prefix,
    }
    if token:
        env["AIRYRA_TOKEN"] = token
        env["AIRYRA_SOCKET"] = socket
    if ctx.project_path:
        env["ISOLLM_PROJECT_PATH"] = env["PROJECT_PATH"] = ctx.project_path
    if ctx.hub:
        env["ISOLLM_HUB"] = env["BARE_REPO_PATH"] = ctx.hub
    if ctx.task_id:
        env["ISOLLM_TASK_ID"] = ctx.task_id
        env["ISOLLM_BRANCH"] = ctx.branch
    redaction.register(*(v for k, v in env.items() if is_secret_name(k)))
    return env


def env_file_text(env: Mapping[str, str]) -> str:
    """``export`` lines for a shell rc file in the sandbox; secret variables are left out,
    since a file outlives the process (pass those to the pane's process instead)."""
    lines = ["# Written by isollm: the worker's environment (no secrets)."]
    for name, value in env.items():
        if _NAME.fullmatch(name) and not is_secret_name(name):
            lines.append(f"export {name}={shlex.quote(value)}")
    return "\n".join(lines) + "\n"
