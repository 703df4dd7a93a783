"""What ``isollm doctor`` checks: the project's run target, found as ``isollm run`` finds
it (the config, the agents adapted to the backend, the hub with the base pushed, the
exact paths to expose), with each step that fails reported as a check."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from isollm import config as cfg
from isollm.agents import get_agent
from isollm.agents.base import Agent
from isollm.doctor import preflight
from isollm.doctor.model import Check, Report, fail, ok, warn
from isollm.errors import IsollmError
from isollm.git.hub import Hub
from isollm.git.sync import push_base
from isollm.runner.expose import CONTAINER_BACKENDS, exposed_paths, sandboxed


@dataclass(frozen=True)
class Found:
    target: preflight.Target | None
    checks: tuple[Check, ...]


def run_agents(config: cfg.Config, name: str | None, path_env: str | None) -> tuple[Agent, ...]:
    """The agents a run would start (its agent and, with review on, the reviewer)."""
    agents = [get_agent(name, config.agent)]
    r = config.runner
    if r.review and r.review_agent and r.review_agent != agents[0].name:
        agents.append(get_agent(r.review_agent, config.agent))
    if config.sandbox.backend != "worktree":  # as the run does: the CLI's real path
        container = config.sandbox.backend in CONTAINER_BACKENDS
        agents = [sandboxed(a, path_env, container=container) for a in agents]
    return tuple(agents)


def hub_base(root: Path, config: cfg.Config) -> tuple[Path, str | None, Check]:
    """The hub with the base branch pushed (what a run does first) and its base commit."""
    hub = Hub.for_project(config.project)
    branch = config.git.base_branch
    try:
        push_base(root, hub, branch)
    except IsollmError as exc:
        head = hub.head_of(branch) if hub.exists() else None
        if head is None:
            return hub.path, None, fail("hub", exc.message, exc.hint or "see `isollm sync status`")
        return hub.path, head, warn("hub", exc.message, exc.hint or "")
    return hub.path, hub.head_of(branch), ok("hub", f"{branch} pushed to {hub.path}")


def find(start: Path | None, agent: str | None, host_env: Mapping[str, str]) -> Found:
    try:
        loaded = cfg.load_valid(start)
    except IsollmError as exc:
        return Found(None, (fail("config", exc.message, exc.hint or "fix isollm.yaml"),))
    config, root = loaded.config, loaded.root
    checks = [ok("config", str(loaded.path))]
    try:
        agents = run_agents(config, agent, host_env.get("PATH"))
    except IsollmError as exc:
        return Found(None, (*checks, fail("agent", exc.message, exc.hint or "")))
    hub, base, hub_check = hub_base(root, config)
    checks.append(hub_check)
    if base is None:
        return Found(None, tuple(checks))
    programs = [a.binary for a in agents if a.binary]
    container = config.sandbox.backend in CONTAINER_BACKENDS
    expose = exposed_paths(
        programs, config.sandbox.expose, host_env.get("PATH"), container=container
    )
    target = preflight.Target(root, config, agents, host_env, hub, base, expose)
    return Found(target, tuple(checks))


def doctor(start: Path | None, agent: str | None, host_env: Mapping[str, str]) -> Report:
    """Every check ``isollm doctor`` shows."""
    found = find(start, agent, host_env)
    if found.target is None:
        return Report(found.checks)
    return preflight.collect(found.target, found.checks)
