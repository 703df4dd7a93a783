"""What ``isollm worker`` needs from runs and agents: is a run alive, and an agent's
environment and install for a command run by hand in a worker (``--agent A``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from isollm.agents.base import Agent, Invocation
from isollm.agents.registry import get_agent, require
from isollm.config import Config
from isollm.errors import IsollmError, RunError
from isollm.runner import runstate
from isollm.runner.expose import CONTAINER_BACKENDS, exposed_paths, sandboxed
from isollm.runner.sandboxes import agent_home, write_agent_settings
from isollm.sandbox.base import Sandbox
from isollm.sandbox.workers import Extra

AGENT_BIN = "ISOLLM_AGENT_BIN"  # what to run for the agent inside (its real path)


def run_alive(root: Path) -> Callable[[str], bool]:
    """Whether run ``run_id`` of the project at ``root`` is running: its ``run.json``
    says so and the process it records (pid and start time) is still that process. A run
    with no record is not alive; one whose record cannot be read is left alone (alive)."""
    return _run_judged(root, _running)


def _running(state: runstate.RunState) -> bool:
    return state.run_status is runstate.RunStatus.RUNNING and not runstate.is_stale(state)


def run_resumable(root: Path) -> Callable[[str], bool]:
    """Whether run ``run_id`` of the project at ``root`` can still be resumed (it is
    neither completed, needing attention nor aborted): its sandboxes are still its own. A
    run with no record is not; one whose record cannot be read is left alone (it is)."""
    return _run_judged(root, lambda state: state.run_status not in runstate.FINAL)


def _run_judged(root: Path, test: Callable[[runstate.RunState], bool]) -> Callable[[str], bool]:
    """``test`` of a run's record by its id: False when the run has none, True when it
    cannot be read (whatever it says is left alone)."""

    def judge(run_id: str) -> bool:
        try:
            state = runstate.load_run(root, run_id)
        except RunError:
            return False  # no such run
        except IsollmError:
            return True
        return test(state)

    return judge


@dataclass(frozen=True)
class HandAgent:
    """An agent made ready to run by hand in a worker."""

    agent: Agent
    host_env: Mapping[str, str]
    configured: tuple[str, ...]  # sandbox.expose

    @property
    def program(self) -> str:
        """The agent's CLI by its full path (a login shell inside resets PATH)."""
        binary = self.agent.binary
        found = binary if "/" in binary else shutil.which(binary, path=self.host_env.get("PATH"))
        return found or binary

    def prepare(self, sb: Sandbox) -> Path:
        """Write the agent's settings files into its HOME in ``sb``, as a run does before
        the agent starts (no secrets: keys stay in the environment); that HOME."""
        home = agent_home(sb)
        write_agent_settings(sb, self.agent, home, Path(sb.workspace))
        return home

    def extra(self, sb: Sandbox, *, home: Path | None = None, interactive: bool = False) -> Extra:
        """The agent's environment in ``sb`` (API keys from the host environment by the
        adapter's rules, registered for redaction) and the paths of its install.
        ``home``: the agent's home inside (default: the sandbox's); ``interactive``: for
        the agent's interactive argv (a session's pane)."""
        info = sb.info()
        inv = Invocation(
            "",
            workdir=Path(sb.workspace),
            model=self.agent.settings.model,
            home=home or (Path(info.home) if info.home else None),
            sandboxed=sb.isolated,  # as a run's headless agent: keys passed as they are
            interactive=interactive,
        )
        env = dict(self.agent.env(self.host_env, inv))
        env[AGENT_BIN] = self.program
        return Extra(env, self.shown(sb.backend))

    def shown(self, backend: str) -> tuple[str, ...]:
        """The host paths a sandbox of ``backend`` shows for the agent: ``sandbox.expose``
        and the CLI's install (a container binds them when it is made)."""
        path = self.host_env.get("PATH")
        container = backend in CONTAINER_BACKENDS
        return exposed_paths([self.agent.binary], self.configured, path, container=container)


def hand_agent(config: Config, name: str, host_env: Mapping[str, str] | None = None) -> HandAgent:
    """Agent ``name`` configured as a run would run it (AgentError if its CLI is missing)."""
    env = dict(os.environ if host_env is None else host_env)
    agent = get_agent(name, config.agent)
    require(agent, env)
    if config.sandbox.backend != "worktree":  # it hides the homes a CLI may be linked from
        container = config.sandbox.backend in CONTAINER_BACKENDS
        agent = sandboxed(agent, env.get("PATH"), container=container)
    return HandAgent(agent, env, tuple(config.sandbox.expose))


def configured_expose(config: Config) -> Callable[[Sandbox], Extra]:
    """Without an agent: the paths of ``sandbox.expose`` as the config says now."""
    paths = exposed_paths([], config.sandbox.expose)
    return lambda sb: Extra(expose=paths)
