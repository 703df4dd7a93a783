"""Sandboxes: where agents run. One interface (:class:`Sandbox`), several backends.

Backends (``sandbox.backend`` in isollm.yaml): ``overlay`` (default: copy-on-write
workspace + bubblewrap), ``lxc`` (containers cloned from a Debian base), ``podman``, and
``worktree`` (a plain git worktree, no isolation). Get one through :mod:`.registry`.
"""

from isollm.sandbox.base import (
    ExecResult,
    HostCommand,
    Job,
    Limits,
    Sandbox,
    SandboxExistsError,
    SandboxInfo,
    SandboxNotFoundError,
    SandboxRecord,
    SandboxSpec,
    SandboxStatus,
    UnsavedWorkError,
)
from isollm.sandbox.gitops import WorkState
from isollm.sandbox.prepare import SetupError

__all__ = [
    "ExecResult",
    "HostCommand",
    "Job",
    "Limits",
    "Sandbox",
    "SandboxExistsError",
    "SandboxInfo",
    "SandboxNotFoundError",
    "SandboxRecord",
    "SandboxSpec",
    "SandboxStatus",
    "SetupError",
    "UnsavedWorkError",
    "WorkState",
]
