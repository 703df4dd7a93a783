"""One attempt at one task inside a prepared sandbox: run the agent, keep the lease,
commit what it left, deliver the branch to the hub (through the host's intake).

The agent's output goes through a pipe to the attempt's log file (redacted, capped).
While it runs a heartbeat renews the claim; if the claim is lost (lease expired, task
taken back) the agent is stopped, since whatever it does next could no longer be
delivered.
"""

from __future__ import annotations

import contextlib
import logging
import re
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from isollm.errors import IsollmError
from isollm.git import intake
from isollm.git.hub import Hub
from isollm.runner.agentlog import LogPump
from isollm.runner.policy import STOPPED, Outcome
from isollm.runner.watch import AgentWatch
from isollm.sandbox.base import Sandbox
from isollm.tasks.store.errors import StaleClaimError

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.05
_OUTPUT_KEPT = 256 * 1024
_OBJECT_NAME = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")

# Run in the workspace as `sh -c COMMIT_SCRIPT sh MESSAGE`: the message is a positional
# parameter, never part of the script. Prints the head commit after committing what is left.
COMMIT_SCRIPT = """set -e
git add -A
git diff --cached --quiet || git commit -q --no-verify -m "$1"
git rev-parse HEAD
"""


@dataclass(frozen=True)
class AgentRun:
    exit_code: int | None  # None: it was stopped
    stopped: Outcome | None  # TIMED_OUT, LOST_CLAIM or ABORTED when the worker stopped it
    output: str
    duration: float
    why: str = ""  # what the task server said when the claim was lost

    @property
    def timed_out(self) -> bool:
        return self.stopped is Outcome.TIMED_OUT

    @property
    def stopped_reason(self) -> str | None:
        if self.stopped is None:
            return None
        reason = STOPPED[self.stopped]
        return f"{reason}: {self.why}" if self.why else reason


class Heartbeat:
    """Calls ``beat`` every ``interval`` seconds until stopped; reports a lost claim."""

    def __init__(self, beat: Callable[[], object], interval: float) -> None:
        self._beat = beat
        self._interval = interval
        self._stop = threading.Event()
        self.lost: str | None = None
        self._thread = threading.Thread(target=self._loop, name="heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._beat()
            except StaleClaimError as exc:
                self.lost = str(exc)
                return
            except IsollmError as exc:  # the server may be restarting: try again next beat
                log.warning("heartbeat failed: %s", exc)


def run_agent(
    sb: Sandbox,
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    log_path: Path,
    timeout: float,
    abort: threading.Event,
    heartbeat: Heartbeat,
    watch: AgentWatch | None = None,
) -> AgentRun:
    """Run the agent in the sandbox's workspace until it exits, times out, loses its
    claim, stalls (``watch``, with ``stall_action: stop``) or the run is aborted; its
    stdout and stderr go through a pipe to ``log_path`` (secrets masked, size capped:
    :class:`~isollm.runner.agentlog.LogPump`), and through ``watch`` as they pass."""
    started = time.monotonic()
    with log_path.open("ab") as out:
        job = sb.spawn(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert job.popen.stdout is not None  # noqa: S101 - asked for a pipe just above
        feed = watch.feed if watch is not None else None
        pump = LogPump(job.popen.stdout, out, on_data=feed).start()
        code: int | None = None
        stopped: Outcome | None = None
        try:
            while code is None and stopped is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    code = job.wait(timeout=_POLL_SECONDS)
                if code is None:
                    stopped = _stop_reason(started, timeout, abort, heartbeat, watch)
            if stopped is not None:
                job.kill()
                job.wait()
        finally:
            tail = pump.finish()
    why = heartbeat.lost or "" if stopped is Outcome.LOST_CLAIM else ""
    if stopped is Outcome.STALLED and watch is not None:
        why = watch.why
    return AgentRun(code, stopped, _tail(tail), time.monotonic() - started, why)


def _stop_reason(
    started: float,
    timeout: float,
    abort: threading.Event,
    heartbeat: Heartbeat,
    watch: AgentWatch | None = None,
) -> Outcome | None:
    """Why the running agent must be stopped now, if it must."""
    if heartbeat.lost:
        return Outcome.LOST_CLAIM
    if watch is not None and watch.poll():
        return Outcome.STALLED
    if time.monotonic() - started > timeout:
        return Outcome.TIMED_OUT
    if abort.is_set():
        return Outcome.ABORTED
    return None


def _tail(output: bytes) -> str:
    """The end of the agent's (already redacted) output, as text."""
    return output[-_OUTPUT_KEPT:].decode(errors="replace")


def commit_leftovers(sb: Sandbox, message: str) -> str:
    """Commit whatever the agent left uncommitted; return the head commit."""
    return _commit(sb, COMMIT_SCRIPT, message)


def deliver(
    sb: Sandbox,
    hub: Hub,
    grant: intake.Grant,
    *,
    haves: Sequence[str],
    message: str | None = None,
) -> intake.Delivery:
    """Commit what is left (with ``message``) and take HEAD into the hub at the granted
    ref through the host's intake, in one sandbox command. What it returns was read from
    the hub: nothing the sandbox says about its push counts."""
    before = (COMMIT_SCRIPT, (message,)) if message is not None else None
    return intake.deliver(hub, sb, grant, haves=haves, before=before)


def _commit(sb: Sandbox, script: str, message: str) -> str:
    result = sb.exec(["sh", "-c", script, "sh", message], timeout=600)
    if not result.ok:
        raise IsollmError(f"committing the agent's work failed:\n{result.describe()}")
    return result.stdout.strip().splitlines()[-1]


def head_commit(sb: Sandbox) -> str:
    """The workspace's HEAD commit (an object name, checked: the host passes it to git)."""
    result = sb.exec(["git", "rev-parse", "HEAD"], timeout=60)
    if not result.ok:
        raise IsollmError(f"reading the workspace's HEAD failed:\n{result.describe()}")
    sha = result.stdout.strip()
    if not _OBJECT_NAME.fullmatch(sha):
        raise IsollmError(f"the workspace's HEAD is not a commit name: {sha[:80]!r}")
    return sha


@dataclass(frozen=True)
class Merge:
    """How merging a dependency's branch went: merged, or not, with the files in conflict."""

    ok: bool
    conflicts: tuple[str, ...] = ()
    why: str = ""


def merge_dependency(sb: Sandbox, branch: str) -> Merge:
    """Merge a dependency's branch from the hub into the workspace. On a conflict the
    files in conflict are listed, the merge is undone and the workspace left as it was."""
    fetch = sb.exec(["git", "fetch", "-q", "origin", f"refs/heads/{branch}"], timeout=300)
    if not fetch.ok:
        return Merge(False, why=f"fetching it failed: {fetch.describe()[:500]}")
    merge = sb.exec(["git", "merge", "-q", "--no-edit", "--no-verify", "FETCH_HEAD"], timeout=300)
    if merge.ok:
        return Merge(True)
    listed = sb.exec(["git", "diff", "--name-only", "--diff-filter=U", "-z"], timeout=60)
    files = tuple(f for f in listed.stdout.split("\0") if f) if listed.ok else ()
    sb.exec(["git", "merge", "--abort"], timeout=60)
    return Merge(False, files, "" if files else merge.describe()[:500])
