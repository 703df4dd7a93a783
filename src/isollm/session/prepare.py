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

import tempfile
from pathlib import Path

from isollm.agents.base import Agent
from isollm.agents.context import WorkerContext, from_config
from isollm.agents.environment import worker_env
from isollm.agents.hooks import session_settings
from isollm.agents.instructions import merge, render
from isollm.config import Config
from isollm.errors import SandboxError
from isollm.runner import agentfiles, agenthome
from isollm.runner.sandboxes import agent_home, context_file
from isollm.sandbox.base import SANDBOX_PATH, Sandbox
from isollm.sandbox.containers import ContainerSandbox, socket_seen_by
from isollm.tasks.server.control import agent_token, task_socket

# Tells the ``airyra`` program inside that it runs in an isollm session: ``airyra done``
# delivers the task branch through the task server before marking the task done.
DELIVER_ENV = "ISOLLM_DELIVER"


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
    socket = socket_seen_by(sb, task_socket(config))
    env = worker_env(worker_context(config, sb), token=token, socket=socket)
    env[DELIVER_ENV] = "1"
    env["PATH"] = agenthome.bin_path(agent_home(sb), path or SANDBOX_PATH)
    return env


def prepare_worker(config: Config, sb: Sandbox, agent: Agent, airyra: str | None = None) -> None:
    """Write worker ``sb``'s instruction file, ``agent``'s settings (with state hooks)
    and the ``airyra`` program (``airyra``: its source, if already made)."""
    require_cli(sb, agent)
    name = agent.instruction_file
    text = merge(agentfiles.read_text(sb, name), render(worker_context(config, sb)))
    script = context_file(name, text, (name, *agent.workdir_ignores))
    sb.exec(script.argv(), input=script.input, timeout=agenthome.WRITE_TIMEOUT).check(SandboxError)
    home = agent_home(sb)
    files = _settings(agent, Path(sb.workspace))
    program = agenthome.airyra_program() if airyra is None else airyra
    files[agenthome.AIRYRA] = program.encode()
    agenthome.write_home_files(sb, home, files)


def require_cli(sb: Sandbox, agent: Agent) -> None:
    """In a container, what a session runs there must be found in it: ``agent``'s CLI
    (the host's install, bound when the container was made, or the container's own) and
    python3 (what the ``airyra`` program runs with). SandboxError saying which, before
    any pane runs."""
    if not isinstance(sb, ContainerSandbox):
        return
    needed = [
        ("python3", "python3, which the `airyra` program runs with,", PYTHON_HINT),
        (agent.binary, f"{agent.name}'s CLI ({agent.binary})", CLI_HINT),
    ]
    for program, what, hint in needed:
        argv = ["sh", "-c", 'command -v "$1"', "sh", program]
        if program and not sb.exec(argv, timeout=agenthome.WRITE_TIMEOUT).ok:
            where = f"worker {sb.name}'s {sb.backend} container"
            raise SandboxError(f"{what} is not installed in {where}", hint=hint)


CLI_HINT = (
    "install it in the container's image or outside the host's system directories "
    "(a worker made before then: `isollm worker remove` it), or use sandbox.backend: overlay"
)
PYTHON_HINT = (
    "isollm adds it to the LXC base when the Debian mirror is reachable: try again "
    "online, or use sandbox.backend: overlay"
)


def _settings(agent: Agent, workdir: Path) -> dict[str, bytes]:
    """What :func:`session_settings` writes for ``agent``, by path under the home."""
    with tempfile.TemporaryDirectory(prefix="isollm-session-home-") as tmp:
        written = session_settings(agent, Path(tmp), workdir)
        return {str(p.relative_to(tmp)): p.read_bytes() for p in written}
