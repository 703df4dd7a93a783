"""The one mapping from ``isollm.yaml`` to the spec of a sandbox.

Every caller that builds a sandbox (``isollm worker``, ``isollm run``) gets its
:class:`~isollm.sandbox.base.SandboxSpec` here, so a ``sandbox.*`` key reaches every
sandbox or none. What differs per call (the sandbox's name, its work branch, the base
commit a run pins, the task server's socket, the exact paths to expose) is passed in;
everything else comes from the config. ``tests/unit/test_config_reach.py`` checks that
each config field reaches what it configures.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from isollm.config import Config
from isollm.sandbox.base import Limits, SandboxSpec
from isollm.sandbox.prepare import worktree_includes


def limits_of(config: Config) -> Limits:
    s = config.sandbox
    return Limits(memory=s.memory, pids=s.pids, cpus=s.cpus, disk=s.disk)


def sandbox_spec(
    config: Config,
    *,
    root: Path,
    hub: Path,
    name: str,
    work_branch: str = "",
    base_commit: str = "",
    task_socket: str = "",
    expose: Sequence[str] | None = None,
) -> SandboxSpec:
    """The spec of sandbox ``name`` of the project at ``root`` whose hub is ``hub``.

    ``expose`` replaces ``sandbox.expose`` when given (a run passes the configured paths
    plus the agent's install, already resolved: :func:`isollm.runner.expose.exposed_paths`).
    """
    s = config.sandbox
    return SandboxSpec(
        name=name,
        project=config.project,
        hub=hub,
        base_branch=config.git.base_branch,
        work_branch=work_branch,
        network=s.network,
        limits=limits_of(config),
        setup=tuple(s.setup),
        setup_timeout=float(s.setup_timeout),
        host_root=root,
        include=worktree_includes(root),
        image=config.image,
        expose=tuple(s.expose if expose is None else expose),
        base_commit=base_commit,
        task_socket=task_socket,
    )
