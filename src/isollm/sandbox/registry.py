"""Backend name -> implementation, and the way in: create, open, list.

sb = registry.create(spec, "overlay")   # built, on its branch, prepared
sb = registry.open("my-app", "worker-1")
"""

from __future__ import annotations

import contextlib
import logging

from isollm.errors import IsollmError, SandboxError
from isollm.sandbox import meta
from isollm.sandbox.base import Sandbox, SandboxRecord, SandboxSpec
from isollm.sandbox.lxc import LxcSandbox
from isollm.sandbox.overlay import OverlaySandbox
from isollm.sandbox.podman import PodmanSandbox
from isollm.sandbox.worktree import WorktreeSandbox

log = logging.getLogger(__name__)

BACKENDS: dict[str, type[Sandbox]] = {
    "overlay": OverlaySandbox,
    "lxc": LxcSandbox,
    "podman": PodmanSandbox,
    "worktree": WorktreeSandbox,
}


def backend_class(name: str) -> type[Sandbox]:
    try:
        return BACKENDS[name]
    except KeyError:
        raise SandboxError(
            f"unknown sandbox backend {name!r}",
            hint=f"set sandbox.backend to one of: {', '.join(BACKENDS)}",
        ) from None


def available(name: str) -> str | None:
    """Why backend ``name`` cannot run here, or None."""
    return backend_class(name).unavailable()


def require_available(name: str) -> type[Sandbox]:
    cls = backend_class(name)
    reason = cls.unavailable()
    if reason:
        raise SandboxError(
            f"the {name} sandbox backend cannot run here: {reason}",
            hint="install what it needs, or choose another sandbox.backend in isollm.yaml",
        )
    return cls


def instantiate(record: SandboxRecord) -> Sandbox:
    return backend_class(record.backend)(record)


def create(spec: SandboxSpec, backend: str, *, entered: bool = True) -> Sandbox:
    """Build a sandbox ready to work; on any failure nothing is left behind.

    With ``entered=False`` it is only built, at the base commit on no branch, for a
    :meth:`~isollm.sandbox.base.Sandbox.check_out` to come.
    """
    cls = require_available(backend)
    record = meta.claim(spec, backend)
    sb = cls(record)
    try:
        if entered:
            sb.create()
        else:
            sb.build()
    except BaseException:
        with contextlib.suppress(Exception):
            sb.destroy()
        raise
    return sb


def open_sandbox(project: str, name: str) -> Sandbox:
    return instantiate(meta.load(project, name))


def list_sandboxes(project: str) -> tuple[list[Sandbox], list[IsollmError]]:
    """Every sandbox of ``project`` on disk, and the errors of those that cannot be read."""
    found: list[Sandbox] = []
    errors: list[IsollmError] = []
    for name in meta.names(project):
        try:
            found.append(open_sandbox(project, name))
        except IsollmError as exc:
            errors.append(exc)
    return found, errors
