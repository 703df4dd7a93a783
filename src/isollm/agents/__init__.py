"""Agent adapters: one module per CLI behind the :class:`Agent` protocol, plus the
context every worker's agent gets (environment and instruction file).

The runner uses::

    agent = get_agent(name, config.agent)          # --agent NAME or config default
    files = agent.prepare(home)                    # settings files, no secrets
    argv = agent.headless_argv(inv)                # inv = Invocation(prompt, task_id, ...)
    env = {**agent.env(os.environ, inv), **worker_env(ctx)}
    outcome = agent.parse_result(exit_code, output)
    install(workdir, agent.instruction_file, ctx)  # CLAUDE.md or AGENTS.md
    keep_out_of_commits(workdir, list(agent.workdir_ignores))
"""

from isollm.agents.base import Agent, AgentOutcome, AgentSettings, Invocation
from isollm.agents.context import WorkerContext, from_config
from isollm.agents.environment import worker_env
from isollm.agents.envvars import AgentEnv
from isollm.agents.instructions import install, keep_out_of_commits, render
from isollm.agents.registry import AGENTS, get_agent, locate, require, settings_for

__all__ = [
    "AGENTS",
    "Agent",
    "AgentEnv",
    "AgentOutcome",
    "AgentSettings",
    "Invocation",
    "WorkerContext",
    "from_config",
    "get_agent",
    "install",
    "keep_out_of_commits",
    "locate",
    "render",
    "require",
    "settings_for",
    "worker_env",
]
