"""Run every preflight check and collect a :class:`Report`; stop a run that would fail.

The host checks take microseconds and the endpoint check a round trip; they run in a
thread alongside the sandbox checks (the slow part: build, start, destroy), so the
preflight costs about one sandbox's creation.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from isollm.agents.base import Agent
from isollm.config import Config
from isollm.doctor import endpoint, host
from isollm.doctor.model import Check, Report, Status, failure
from isollm.doctor.sandbox import SandboxTarget, agents_of, programs, sandbox_checks
from isollm.runner.events import Kind, Observer, Progress
from isollm.runner.expose import CONTAINER_BACKENDS, exposed_paths
from isollm.sandbox import registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    """What a run would start: its config, agents (as the run adapts them), environment,
    hub and base commit, and the exact paths shown inside its sandboxes."""

    root: Path
    config: Config
    agents: tuple[Agent, ...]
    host_env: Mapping[str, str]
    hub: Path
    base_commit: str
    expose: tuple[str, ...]

    def sandbox(self) -> SandboxTarget:
        return SandboxTarget(
            self.config,
            self.root,
            self.hub,
            self.base_commit,
            self.expose,
            self.agents,
            self.host_env,
        )


def host_checks(t: Target) -> list[Check]:
    """The cheap checks: no sandbox, at most one HTTP round trip per endpoint."""
    isolated = registry.backend_class(t.config.sandbox.backend).isolated
    checks: list[Check] = []
    for agent in t.agents:
        checks += [
            host.agent_found(agent, t.host_env),
            host.credentials(agent, t.host_env),
            host.root_and_claude(agent, isolated),
            endpoint.model_endpoint(agent, t.host_env, t.config.sandbox.network),
        ]
    checks.append(host.passed_env(tuple(t.config.agent.pass_env), t.host_env))
    return checks


def _timed(fn: Callable[[], list[Check]]) -> Callable[[], list[Check]]:
    def run() -> list[Check]:
        started = time.monotonic()
        checks = fn()
        spent = (time.monotonic() - started) / max(1, len(checks))
        return [c if c.seconds else _with_time(c, spent) for c in checks]

    return run


def _with_time(check: Check, seconds: float) -> Check:
    return Check(check.name, check.status, check.detail, check.fix, seconds)


def collect(t: Target, extra: tuple[Check, ...] = ()) -> Report:
    """Every check of ``t`` (the host's in a thread, the sandbox's here), in order."""
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="preflight") as pool:
        cheap = pool.submit(_timed(lambda: host_checks(t)))
        boxed = _timed(lambda: sandbox_checks(t.sandbox()))()
        checks = [*extra, *cheap.result(), *boxed]
    return Report(tuple(checks), time.monotonic() - started)


def before_run(t: Target, notify: Callable[[str], None] | None = None) -> Report:
    """The preflight of ``isollm run``: warnings to ``notify``; a failure raises
    :class:`~isollm.doctor.model.PreflightError` naming each fix (no task claimed yet)."""
    report = collect(t)
    log.info("preflight took %.3f s", report.seconds)
    for check in report.checks:
        if check.status is Status.WARN and notify is not None:
            notify(f"preflight: {check.name}: {check.detail}")
    if not report.ok:
        raise failure(report)
    return report


def for_run(
    root: Path,
    config: Config,
    agents: tuple[Agent, Agent | None],
    host_env: Mapping[str, str],
    hub: Path,
    base_commit: str,
    observer: Observer,
) -> Report:
    """:func:`before_run` for the agents ``isollm run`` adapted (agent, reviewer)."""
    agent, reviewer = agents
    chosen = agents_of(agent, reviewer)
    path_env = host_env.get("PATH")
    container = config.sandbox.backend in CONTAINER_BACKENDS
    expose = exposed_paths(programs(chosen), config.sandbox.expose, path_env, container=container)
    t = Target(root, config, chosen, host_env, hub, base_commit, expose)
    return before_run(t, lambda m: observer(Progress(Kind.WARNING, detail=m)))
