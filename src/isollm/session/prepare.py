"""A worker made ready for an interactive agent: its instruction file, its agent's
settings (with the hooks that report the agent's state), the ``airyra`` program, and
the environment its pane runs with.

Everything is written from *inside* the sandbox (a command run as the sandbox's user),
never by the host following a path the agent could have turned into a symlink. No file
holds a secret: API keys and the worker's token travel in the pane process's
environment only.

The worker's identity with the task server is its name (:func:`agent_id`), with a token
of role ``worker`` scoped to the project and that name: the agent claims, pushes and
finishes its own tasks (``airyra claim-next`` / ``done``), and ``isollm down`` releases
what it still holds.
"""

from __future__ import annotations

import io
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path

from isollm.agents.base import Agent
from isollm.agents.context import WorkerContext, from_config
from isollm.agents.environment import worker_env
from isollm.agents.hooks import session_settings
from isollm.agents.instructions import merge, render
from isollm.config import Config
from isollm.errors import SandboxError
from isollm.runner import agentfiles
from isollm.runner.sandboxes import agent_home, context_file
from isollm.sandbox.base import SANDBOX_PATH, Sandbox
from isollm.tasks.agent_cli import bundle
from isollm.tasks.server.control import agent_token

# Tells the ``airyra`` program inside that it runs in an isollm session: ``airyra done``
# delivers the task branch through the task server before marking the task done.
DELIVER_ENV = "ISOLLM_DELIVER"
# Where the one-file ``airyra`` program goes, under the agent's home inside.
BIN_DIR = ".local/share/isollm/bin"
AIRYRA = "airyra"
WRITE_TIMEOUT = 60.0
# `sh -c UNPACK_SCRIPT sh HOME`: the files on stdin (a tar) into HOME, inside the sandbox.
UNPACK_SCRIPT = 'mkdir -p "$1" && exec tar -x -m --no-same-owner --no-same-permissions -C "$1"'


def agent_id(worker: str) -> str:
    """The identity worker ``worker``'s agent has with the task server."""
    return worker


def worker_context(config: Config, sb: Sandbox) -> WorkerContext:
    """Worker ``sb``'s facts as seen from inside it (for its instructions and env)."""
    return from_config(
        config,
        sb.name,
        project_path=sb.workspace,
        hub=str(sb.spec.hub),
        airyra_agent=agent_id(sb.name),
    )


def session_env(config: Config, sb: Sandbox, path: str | None = None) -> dict[str, str]:
    """The worker's own environment in a session: the task server with its ``worker``
    token (never written to a file), delivery through the server, ``airyra`` first on
    ``path`` (the agent's PATH; default: the sandbox's)."""
    token = "" if config.airyra.external else agent_token(config.project, agent_id(sb.name))
    env = worker_env(worker_context(config, sb), token=token)
    env[DELIVER_ENV] = "1"
    env["PATH"] = f"{agent_home(sb) / BIN_DIR}:{path or SANDBOX_PATH}"
    return env


def prepare_worker(config: Config, sb: Sandbox, agent: Agent, airyra: str | None = None) -> None:
    """Write worker ``sb``'s instruction file, ``agent``'s settings (with state hooks)
    and the ``airyra`` program (``airyra``: its source, if already made)."""
    name = agent.instruction_file
    text = merge(agentfiles.read_text(sb, name), render(worker_context(config, sb)))
    script = context_file(name, text, (name, *agent.workdir_ignores))
    sb.exec(script.argv(), input=script.input, timeout=WRITE_TIMEOUT).check(SandboxError)
    home = agent_home(sb)
    files = _settings(agent, Path(sb.workspace))
    files[f"{BIN_DIR}/{AIRYRA}"] = (airyra_program() if airyra is None else airyra).encode()
    argv = ["sh", "-c", UNPACK_SCRIPT, "sh", str(home)]
    sb.exec(argv, input=_tar(files), timeout=WRITE_TIMEOUT).check(SandboxError)


def airyra_program() -> str:
    """The ``airyra`` agent CLI as one file run by the sandbox's python3."""
    return "#!/usr/bin/env python3\n" + bundle.source()


def _settings(agent: Agent, workdir: Path) -> dict[str, bytes]:
    """What :func:`session_settings` writes for ``agent``, by path under the home."""
    with tempfile.TemporaryDirectory(prefix="isollm-session-home-") as tmp:
        written = session_settings(agent, Path(tmp), workdir)
        return {str(p.relative_to(tmp)): p.read_bytes() for p in written}


def _tar(files: Mapping[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel, data in files.items():
            info = tarfile.TarInfo(rel)
            info.size = len(data)
            info.mode = 0o755 if rel.startswith(BIN_DIR) else 0o600
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()
