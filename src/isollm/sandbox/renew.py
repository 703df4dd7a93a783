"""Renewing a sandbox's workspace: the one operation behind ``isollm worker reset``,
:meth:`Sandbox.reset <isollm.sandbox.base.Sandbox.reset>`,
:meth:`Sandbox.refresh <isollm.sandbox.base.Sandbox.refresh>` and the runner's
sandbox between two tasks (:mod:`isollm.runner.sandboxes`).

It comes in two halves because the runner renews a sandbox before it knows its next
task: :func:`clean` (a fresh workspace at the base commit, on no branch yet) and
:func:`onto` (check out the work branch, copy include files, run setup). :func:`reset`
is both at once. All of it loses the workspace's work: callers save it first (the
runner's salvage) or refuse unless forced (``isollm worker reset``). A fix to how a
sandbox is renewed goes here, and reaches every caller.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from isollm.sandbox.base import Sandbox, SandboxInfo
    from isollm.sandbox.gitops import AfterCheckout


def clean(sb: Sandbox) -> None:
    """A clean workspace at the base commit, on no branch yet. Loses work."""
    sb.rebuild()


def onto(sb: Sandbox, branch: str, then: AfterCheckout | None = None) -> SandboxInfo:
    """After :func:`clean`: check out ``branch`` (continued from the hub if it is there)
    and run ``then`` in the same sandbox command, copy include files, run setup."""
    return sb.check_out(branch, then)


def reset(sb: Sandbox, branch: str | None = None) -> SandboxInfo:
    """Back to a clean checkout of the base, on ``branch`` (default: the sandbox's
    current work branch). Loses work."""
    clean(sb)
    return onto(sb, sb.spec.work_branch if branch is None else branch)
