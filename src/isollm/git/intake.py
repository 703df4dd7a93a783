"""How work leaves a sandbox: a git bundle made inside, checked and applied on the host.

No sandbox can write the hub, and the host never runs git in a repository an agent
could have written (its config and hooks would run as the host user). So a delivery
goes the other way round:

1. Inside the sandbox (as the agent's user, in its workspace): optionally a script that
   commits what is left, then ``git bundle create - HEAD --not <commits the hub has>``
   to stdout.
2. On the host: that stream is read with a hard byte cap into a private temp file, and
   git *in the hub* (checked by :func:`~isollm.git.hub.check_hub`, hooks off) fetches
   it to a private incoming ref, every new object checked (:mod:`isollm.git.objcheck`).
3. The policy: the only ref written is the one the caller was granted (the branch of a
   task it holds, or its own salvage namespace); never the base branch, never a delete;
   the grant's check (is the claim still held?) runs right before the compare-and-set
   ``update-ref``; a task branch rewritten non-fast-forward keeps its old tip under
   ``refs/isollm/backup/``.
4. The ref is read back from the hub: what :class:`Delivery` reports is what the hub
   holds, never what the sandbox claimed.

An interactive agent delivers the other way round (``airyra push``): its bundle reaches
the task server as a request body, is streamed with a cap into a private file beside
the hub, and takes steps 2-4 through :func:`deliver_bundle`.
"""

from __future__ import annotations

import os
import re
import secrets
import selectors
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

from isollm import proc
from isollm.errors import GitError, IsollmError
from isollm.git import objcheck
from isollm.git.facade import Git
from isollm.git.hub import Hub, check_room

if TYPE_CHECKING:
    from isollm.sandbox.base import Job, Sandbox

__all__ = [
    "BACKUP_NS",
    "INCOMING_NS",
    "MAX_BUNDLE_BYTES",
    "SALVAGE_NS",
    "Delivery",
    "Grant",
    "IntakeError",
    "IntakeIncompleteError",
    "IntakeRefusedError",
    "StillHeld",
    "check_branch_name",
    "deliver",
    "deliver_bundle",
    "salvage_grant",
    "task_grant",
]

MAX_BUNDLE_BYTES = 1 << 30  # 1 GiB: one delivery larger than this is refused
BUNDLE_TIMEOUT = 600.0
INCOMING_NS = "refs/isollm/incoming/"
BACKUP_NS = "refs/isollm/backup/"
SALVAGE_NS = "refs/isollm/salvage/"
_CHUNK = 1 << 16
_STDERR_KEPT = 16 * 1024
_NO_HEAD = 92
_ALREADY_ON_HUB = 93
_LACKS_PREREQUISITES = "lacks these prerequisite commits"
# One path component of a ref a sandbox may be granted: no "..", no leading dot or dash,
# nothing git refuses in a ref name.
_COMPONENT = re.compile(r"^(?!\.)(?!-)(?!.*\.\.)(?!.*\.lock$)[A-Za-z0-9._+-]+$")

# Run inside as `sh -c BUNDLE_SCRIPT sh HAVE...`: the commits the hub has are positional
# parameters, never part of the script. Exit 92: no commit at HEAD; 93: HEAD is one of
# them (nothing to send; its name printed); else the bundle of HEAD on stdout.
BUNDLE_SCRIPT = f"""head=$(git rev-parse -q --verify 'HEAD^{{commit}}') || {{
  echo 'the workspace has no commit at HEAD' >&2; exit {_NO_HEAD}; }}
for c in "$@"; do
  if [ "$c" = "$head" ]; then printf '%s\\n' "$head"; exit {_ALREADY_ON_HUB}; fi
done
n=$#
for c in "$@"; do
  if git cat-file -e "$c^{{commit}}" 2>/dev/null; then set -- "$@" "^$c"; fi
done
shift "$n"
exec git bundle create -q - HEAD "$@"
"""


class IntakeError(IsollmError):
    """Work could not be taken from a sandbox into the hub."""


class IntakeRefusedError(IntakeError):
    """The policy refused a delivery."""


class IntakeIncompleteError(IntakeRefusedError):
    """A bundle needs commits (its prerequisites) that the hub does not have."""


StillHeld = Callable[[], object]


@dataclass(frozen=True)
class Grant:
    """The one ref a delivery may write, and how.

    ``still_held`` runs right before the ref moves and raises (a StaleClaimError, say)
    when the right to write it is gone. ``may_rewrite``: a non-fast-forward update is
    allowed, after the old tip is kept under ``refs/isollm/backup/``.
    """

    ref: str
    base_branch: str
    may_rewrite: bool = True
    still_held: StillHeld | None = None


def _component(value: str, what: str) -> str:
    if not _COMPONENT.match(value):
        raise IntakeRefusedError(
            f"{what} {value!r} cannot name a branch on the hub",
            hint="use letters, digits, '.', '_', '+' and '-' only",
        )
    return value


def check_branch_name(branch: str) -> str:
    """``branch`` if every part of it could name a branch on the hub."""
    if not branch or not all(_COMPONENT.match(part) for part in branch.split("/")):
        raise IntakeRefusedError(
            f"{branch!r} is not a valid branch name",
            hint="use letters, digits, '.', '_', '+' and '-' only, parts joined by '/'",
        )
    return branch


def task_grant(prefix: str, task_id: str, base_branch: str, still_held: StillHeld | None) -> Grant:
    """The branch ``refs/heads/<prefix><task_id>`` of a task the caller holds."""
    parts = [p for p in prefix.split("/") if p] if prefix else []
    if prefix and (prefix.startswith("/") or "//" in prefix):
        raise IntakeRefusedError(f"the branch prefix {prefix!r} is not a valid ref prefix")
    for part in parts[:-1] if not prefix.endswith("/") else parts:
        _component(part, "the branch prefix part")
    _component(task_id, "the task id")
    grant = Grant(f"refs/heads/{prefix}{task_id}", base_branch, True, still_held)
    check_grant(grant)
    return grant


def salvage_grant(worker: str, base_branch: str, stamp: str | None = None) -> Grant:
    """A new ref in ``worker``'s own salvage namespace: ``refs/isollm/salvage/<worker>/``."""
    stamp = stamp or datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    ref = f"{SALVAGE_NS}{_component(worker, 'the worker name')}/{_component(stamp, 'the stamp')}"
    grant = Grant(ref, base_branch, may_rewrite=False)
    check_grant(grant)
    return grant


def check_grant(grant: Grant) -> None:
    """The policy every delivery passes: a task branch or a salvage ref, never the base
    branch, never any other namespace."""
    ref = grant.ref
    if ref == f"refs/heads/{grant.base_branch}":
        raise IntakeRefusedError(
            f"refusing to deliver to {ref}: it is the base branch",
            hint="a task's work goes to its own branch; set git.branch_prefix so task "
            "branches cannot be named like the base branch",
        )
    if not (ref.startswith("refs/heads/") or ref.startswith(SALVAGE_NS)):
        raise IntakeRefusedError(f"refusing to deliver to {ref}: not a task or salvage ref")
    if any(not _COMPONENT.match(part) for part in ref.split("/")[2:]):
        raise IntakeRefusedError(f"refusing to deliver to {ref}: not a valid ref name")


@dataclass(frozen=True)
class Delivery:
    """A ref moved in the hub: ``new`` is read back from the hub itself."""

    ref: str
    old: str | None
    new: str
    backup: str | None = None  # where a rewritten tip was kept
    bytes: int = 0  # size of the bundle taken out of the sandbox

    @property
    def changed(self) -> bool:
        return self.old != self.new


@dataclass(frozen=True)
class _Taken:
    bundle: Path | None  # None: HEAD is already on the hub, at ``head``
    head: str
    size: int


def deliver(
    hub: Hub,
    sb: Sandbox,
    grant: Grant,
    *,
    haves: Sequence[str] = (),
    before: tuple[str, Sequence[str]] | None = None,
    max_bytes: int = MAX_BUNDLE_BYTES,
    timeout: float = BUNDLE_TIMEOUT,
) -> Delivery:
    """Take the sandbox workspace's HEAD into the hub at ``grant.ref``.

    ``haves``: commits the hub has that HEAD likely builds on (the base, a dependency's
    branch); the ref's current tip is added. ``before``: a script and its arguments
    run inside first, in the same command (a commit of what is left; its output is
    discarded).
    """
    check_grant(grant)
    git = hub.git()  # refuses a tampered hub
    old = git.resolve(grant.ref)
    known = _known(git, [*haves, *([old] if old else [])])
    with tempfile.TemporaryDirectory(prefix=".intake-", dir=hub.path.parent) as tmp:
        taken = _take(sb, Path(tmp), known, before, max_bytes, timeout)
        source = _Source(
            f"sandbox {sb.name}",
            f"inspect them with `isollm worker shell {sb.name}` (git fsck)",
            (lambda: _take(sb, Path(tmp), (), None, max_bytes, timeout)) if known else None,
        )
        return _into_hub(git, grant, old, taken, source)


def deliver_bundle(hub: Hub, bundle: Path, grant: Grant, *, agent: str) -> Delivery:
    """Apply a git bundle file (made by ``agent`` inside its sandbox and received by the
    task server into a private file beside the hub) to the hub at ``grant.ref``: the
    same checks as :func:`deliver`. A thin bundle whose prerequisites the hub lacks is
    refused with IntakeIncompleteError (the agent sends it again whole)."""
    check_grant(grant)
    git = hub.git()  # refuses a tampered hub
    old = git.resolve(grant.ref)
    source = _Source(f"agent {agent}", "run `git fsck` in the workspace", None)
    return _into_hub(git, grant, old, _Taken(bundle, "", bundle.stat().st_size), source)


def _into_hub(git: Git, grant: Grant, old: str | None, taken: _Taken, source: _Source) -> Delivery:
    """Steps 2-4. Git failing in a hub left without room for the bundle (twice its size: a
    pack may grow, or be unpacked) raises HubFullError: a full disk, not the work's fault."""
    try:
        return _apply(git, grant, old, _receive(git, taken, source), taken.size)
    except (GitError, IntakeRefusedError):
        check_room(git.cwd, 2 * taken.size, f"the work of {source.what}")
        raise


def _known(git: Git, commits: Sequence[str]) -> list[str]:
    """The full names of those commits the hub really has, without duplicates."""
    out: list[str] = []
    for c in commits:
        sha = git.resolve(c) if c else None
        if sha and sha not in out:
            out.append(sha)
    return out


def _take(
    sb: Sandbox,
    tmp: Path,
    haves: Sequence[str],
    before: tuple[str, Sequence[str]] | None,
    max_bytes: int,
    timeout: float,
) -> _Taken:
    script, args = BUNDLE_SCRIPT, list(haves)
    if before is not None:
        first, first_args = before
        script = f"{{\n{first}\n}} >&2\nshift {len(first_args)}\n{BUNDLE_SCRIPT}"
        args = [*first_args, *haves]
    path = tmp / f"{secrets.token_hex(8)}.bundle"
    with path.open("xb") as out:
        code, size, err = _stream(sb, ["sh", "-c", script, "sh", *args], out, max_bytes, timeout)
    if code == _ALREADY_ON_HUB:
        head = path.read_bytes()[:100].decode(errors="replace").strip()
        if head not in haves:
            raise IntakeError(f"the sandbox named {head!r} as its HEAD, not a commit the hub has")
        return _Taken(None, head, 0)
    if code != 0:
        raise IntakeError(
            f"making a bundle of the work in sandbox {sb.name} failed (exit {code}):\n{err}",
            hint=f"inspect the workspace: `isollm worker shell {sb.name}`",
        )
    return _Taken(path, "", size)


def _stream(
    sb: Sandbox, argv: list[str], out: IO[bytes], max_bytes: int, timeout: float
) -> tuple[int, int, str]:
    """Run ``argv`` inside with stdout copied to ``out`` (at most ``max_bytes``, else the
    job is killed and the delivery refused); exit code, bytes and stderr's tail."""
    job = sb.spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    try:
        size, err = _pump(job, out, deadline, max_bytes, sb.name)
        code = job.wait(timeout=max(deadline - time.monotonic(), 1.0))
    finally:
        if job.poll() is None:
            job.kill()
        for pipe in (job.popen.stdout, job.popen.stderr):
            if pipe is not None:
                pipe.close()
    return code, size, err.decode(errors="replace").strip()


def _pump(
    job: Job, out: IO[bytes], deadline: float, max_bytes: int, name: str
) -> tuple[int, bytes]:
    """Copy the job's stdout to ``out`` and keep its stderr's tail until both close."""
    size, err = 0, b""
    with selectors.DefaultSelector() as sel:
        for pipe in (job.popen.stdout, job.popen.stderr):
            if pipe is not None:
                os.set_blocking(pipe.fileno(), False)
                sel.register(pipe, selectors.EVENT_READ)
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise IntakeError(f"taking the work out of sandbox {name} timed out")
            for key, _ in sel.select(min(left, 1.0)):
                chunk = os.read(key.fd, _CHUNK)
                if not chunk:
                    sel.unregister(key.fileobj)
                elif key.fileobj is not job.popen.stdout:
                    err = (err + chunk)[-_STDERR_KEPT:]
                elif size + len(chunk) > max_bytes:
                    raise IntakeRefusedError(
                        f"the work in sandbox {name} is over {max_bytes} bytes as a git "
                        "bundle; refused",
                        hint="keep build outputs and large files out of commits",
                    )
                else:
                    size += len(chunk)
                    out.write(chunk)
    return size, err


@dataclass(frozen=True)
class _Source:
    """Where a bundle came from, for messages; ``retake`` makes it again whole (no
    prerequisites) when a thin one needs commits the hub lacks (None: it cannot)."""

    what: str  # "sandbox w1", "agent w1"
    inspect: str  # what to do about corrupt objects there
    retake: Callable[[], _Taken] | None


def _receive(git: Git, taken: _Taken, source: _Source) -> tuple[str, str]:
    """Fetch the bundle into a private incoming ref; (incoming ref, the commit it holds).

    A thin bundle whose prerequisites the hub lacks (the sandbox named a have it could
    not reach) is made again whole.
    """
    incoming = f"{INCOMING_NS}{os.getpid()}-{secrets.token_hex(6)}"
    if taken.bundle is None:
        return "", taken.head
    result = _fetch(git, taken.bundle, incoming)
    if not result.ok and source.retake is not None:
        taken.bundle.unlink()
        whole = source.retake()
        if whole.bundle is None:  # pragma: no cover - no haves: never "already there"
            return "", whole.head
        result = _fetch(git, whole.bundle, incoming)
    if not result.ok:
        git.run("update-ref", "-d", incoming, check=False)
        if _LACKS_PREREQUISITES in result.stderr:
            raise IntakeIncompleteError(
                f"the work of {source.what} builds on commits the hub does not have",
                hint="send it again as a whole bundle (`git bundle create FILE HEAD`)",
            )
        raise IntakeRefusedError(
            f"the hub refused the work of {source.what}:\n{_tail(result.stderr)}",
            hint=f"its objects are corrupt or malformed; {source.inspect}",
        )
    commit, problem = objcheck.checked(git, incoming, INCOMING_NS)  # every new object
    if problem is not None:
        git.run("update-ref", "-d", incoming, check=False)
        raise IntakeRefusedError(f"the work of {source.what} {problem}", hint=source.inspect)
    return incoming, commit


def _fetch(git: Git, bundle: Path, incoming: str) -> proc.Result:
    return git.run(
        "-c",
        "transfer.fsckObjects=true",
        "fetch",
        "--quiet",
        "--no-tags",
        "--no-write-fetch-head",
        "--recurse-submodules=no",
        "--",
        str(bundle),
        f"+HEAD:{incoming}",
        check=False,
    )


def _tail(text: str, limit: int = 2000) -> str:
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


def _apply(
    git: Git, grant: Grant, old: str | None, received: tuple[str, str], size: int
) -> Delivery:
    incoming, new = received
    try:
        backup = None
        if old is not None and old != new and not git.is_ancestor(old, new):
            if not grant.may_rewrite:
                raise IntakeRefusedError(f"refusing to rewrite {grant.ref}: not a fast-forward")
            backup = _back_up(git, grant.ref, old)
        if grant.still_held is not None:
            grant.still_held()  # raises when the claim is gone: nothing moves
        if old != new and not git.update_ref(grant.ref, new, old, reason="isollm intake"):
            raise IntakeError(
                f"{grant.ref} changed in the hub during the delivery; nothing was overwritten",
                hint="another delivery to the same branch won; the work stays in the sandbox",
            )
    finally:
        if incoming:
            git.run("update-ref", "-d", incoming, check=False)
    now = git.resolve(grant.ref)
    if now != new:
        raise IntakeError(f"{grant.ref} is at {now} in the hub, not at the delivered {new}")
    return Delivery(grant.ref, old, new, backup, size)


def _back_up(git: Git, ref: str, old: str) -> str:
    """Keep ``old`` (a tip about to be rewritten) under ``refs/isollm/backup/``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    backup = f"{BACKUP_NS}{ref.removeprefix('refs/')}/{stamp}"
    if not git.update_ref(backup, old, None, reason="isollm intake: tip kept before a rewrite"):
        raise IntakeError(f"could not keep the old tip of {ref} at {backup}")
    return backup
