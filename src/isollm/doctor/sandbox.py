"""The checks that need a sandbox, all in one throwaway sandbox of the configured backend.

It is built as a run's worker sandbox is (same spec, same exposed paths), then: ``true``
runs in it (the backend starts), ``sandbox.setup`` runs once with ``setup_timeout``
(after the ``.worktreeinclude`` files are copied in, as before a task), and each agent's
CLI answers ``--version`` with the environment it will have (for the ``command`` agent,
whose program may not know ``--version``, its program is found). Then it is destroyed.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from isollm.agents.base import Agent, Invocation
from isollm.config import Config
from isollm.doctor.model import Check, Status, fail, ok, skip
from isollm.errors import IsollmError
from isollm.sandbox import prepare, registry, specs
from isollm.sandbox.base import Sandbox

START_TIMEOUT = 30.0
VERSION_TIMEOUT = 30.0
FOUND_SCRIPT = 'command -v -- "$1"'
SHOWN_LINES = 6


@dataclass(frozen=True)
class SandboxTarget:
    config: Config
    root: Path
    hub: Path
    base_commit: str
    expose: tuple[str, ...]
    agents: tuple[Agent, ...]
    host_env: Mapping[str, str]


def throwaway_name() -> str:
    return f"preflight-{secrets.token_hex(4)}"


def sandbox_checks(t: SandboxTarget) -> list[Check]:
    """Start a throwaway sandbox and check what runs in it; it is always destroyed."""
    backend = t.config.sandbox.backend
    spec = specs.sandbox_spec(
        t.config,
        root=t.root,
        hub=t.hub,
        name=throwaway_name(),
        base_commit=t.base_commit,
        expose=t.expose,
    )
    try:
        sb = registry.create(spec, backend, entered=False)
    except IsollmError as exc:
        fix = exc.hint or "check the sandbox backend's requirements (docs/sandboxes.md)"
        return [fail(f"sandbox ({backend})", _first(exc.message), fix), *_skipped(t)]
    try:
        return _inside(sb, t)
    finally:
        with contextlib.suppress(IsollmError, OSError):
            sb.destroy()


def _inside(sb: Sandbox, t: SandboxTarget) -> list[Check]:
    started = _started(sb, t.config.sandbox.backend)
    if started.status is not Status.OK:
        return [started, *_skipped(t)]
    return [started, _setup(sb), *(_agent_runs(sb, a, t.host_env) for a in t.agents)]


def _skipped(t: SandboxTarget) -> list[Check]:
    why = "not checked: no sandbox"
    return [skip("sandbox.setup", why), *(skip(f"{a.name}: runs", why) for a in t.agents)]


def _started(sb: Sandbox, backend: str) -> Check:
    name = f"sandbox ({backend})"
    try:
        result = sb.exec(["true"], timeout=START_TIMEOUT)
    except IsollmError as exc:
        return fail(name, _first(str(exc)), exc.hint or "check the backend's requirements")
    if not result.ok:
        return fail(name, _first(result.describe()), "check the backend's requirements")
    return ok(name, "a sandbox starts and runs a command")


def _setup(sb: Sandbox) -> Check:
    name = "sandbox.setup"
    if not sb.spec.setup:
        return skip(name, "none configured")
    try:
        prepare.copy_includes(sb)
        prepare.run_setup(sb)
    except IsollmError as exc:
        fix = "fix sandbox.setup in isollm.yaml"
        if "timed out" in str(exc):
            fix += f" or raise sandbox.setup_timeout (now {sb.spec.setup_timeout:g} s)"
        return fail(name, _first(exc.message, SHOWN_LINES), fix)
    return ok(name, f"{' '.join(sb.spec.setup)!r} succeeded")


def version_argv(agent: Agent) -> list[str]:
    """How the check asks the agent's CLI whether it runs."""
    if agent.name == "command":
        return ["sh", "-c", FOUND_SCRIPT, "sh", agent.binary]
    return [agent.binary, "--version"]


def _agent_runs(sb: Sandbox, agent: Agent, host_env: Mapping[str, str]) -> Check:
    name = f"{agent.name}: runs"
    inv = Invocation("", workdir=Path(sb.workspace), sandboxed=sb.isolated)
    env = {k: v for k, v in agent.env(host_env, inv).items() if k not in ("HOME", "TMPDIR")}
    fix = (
        f"{agent.install_hint or 'install it'}; if it is where sandboxes cannot see it "
        "(a home directory, /tmp), move it or add its directory to sandbox.expose"
    )
    try:
        result = sb.exec(version_argv(agent), env=env, timeout=VERSION_TIMEOUT)
    except IsollmError as exc:
        return fail(name, _first(str(exc)), fix)
    if not result.ok:
        detail = f"{agent.binary!r} fails in a sandbox: {_first(result.describe(), 3)}"
        return fail(name, detail, fix)
    shown = _first(result.stdout.strip() or result.stderr.strip()) or "ok"
    return ok(name, shown)


def _first(text: str, lines: int = 1) -> str:
    return "\n".join(text.strip().splitlines()[:lines])


def agents_of(agent: Agent, reviewer: Agent | None) -> tuple[Agent, ...]:
    return (agent,) if reviewer is None or reviewer.name == agent.name else (agent, reviewer)


def programs(agents: Sequence[Agent]) -> list[str]:
    return [a.binary for a in agents if a.binary]
