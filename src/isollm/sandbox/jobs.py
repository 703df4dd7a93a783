"""Commands running in a sandbox, seen from the host: how they are started, killed and
read.

A sandboxed command is untrusted: whatever it prints is kept within a cap per stream
(:data:`MAX_OUTPUT`; the head and the tail, the middle counted), read as it comes, so
an agent that makes a command noisy (a ``git diff`` of a huge commit, ``git status``
over a million files) cannot grow the host's memory. What must leave a sandbox whole
(a git bundle) is streamed to a file by its caller instead (:mod:`isollm.git.intake`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from isollm import proc
from isollm.errors import CommandError, SandboxError
from isollm.proc import Capture

DRAIN_SECONDS = 5.0
MAX_OUTPUT = proc.MAX_OUTPUT  # bytes kept per stream of a sandboxed command (16 MiB)


@dataclass(frozen=True)
class HostCommand:
    """What to run on the host to run a command in the sandbox (argv never holds secrets)."""

    argv: tuple[str, ...]
    env: dict[str, str]
    cwd: Path | None = None


@dataclass(frozen=True)
class ExecResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    duration: float
    timed_out: bool = False
    dropped: tuple[int, int] = (0, 0)  # bytes of stdout, stderr left out (over the cap)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    @property
    def truncated(self) -> bool:
        """Whether some output was left out (``stdout``/``stderr`` then say where)."""
        return any(self.dropped)

    def describe(self) -> str:
        what = "timed out" if self.timed_out else f"exit {self.returncode}"
        return proc.describe_failure(
            proc.Result(self.argv, self.returncode, self.stdout, self.stderr)
        ).replace(f"exit {self.returncode}", what, 1)

    def check(self, error: type[SandboxError] = SandboxError, hint: str | None = None) -> None:
        if not self.ok:
            raise error(self.describe(), hint=hint)


class Job:
    """A command started in a sandbox; ``kill`` stops it and everything it started."""

    def __init__(self, popen: subprocess.Popen[bytes], killer: Callable[[], None]) -> None:
        self.popen = popen
        self._killer = killer

    @property
    def pid(self) -> int:
        return self.popen.pid

    def poll(self) -> int | None:
        return self.popen.poll()

    def wait(self, timeout: float | None = None) -> int:
        return self.popen.wait(timeout)

    def kill(self) -> None:
        if self.popen.poll() is None:
            self._killer()
        self.popen.wait()

    def communicate(
        self, data: bytes | None, timeout: float | None, max_output: int = MAX_OUTPUT
    ) -> tuple[Capture, Capture, bool]:
        """stdout and stderr (each within ``max_output`` bytes) and whether the timeout
        struck (the job is then killed). Every pipe of the job is closed afterwards."""
        out, err = Capture(max_output), Capture(max_output)
        deadline = None if timeout is None else time.monotonic() + timeout
        finished = False
        try:
            finished = proc.collect(self.popen, out, err, data, deadline)
            finished = finished and proc.wait_until(self.popen, deadline)
        finally:
            if not finished:  # timed out, or interrupted
                self.kill()
                self._drain(out, err)
        return out, err, not finished

    def _drain(self, out: Capture, err: Capture) -> None:
        """What a killed job left in its pipes, without waiting on whoever still holds them
        (a process that left the job may keep a pipe open)."""
        with contextlib.suppress(OSError, ValueError):
            proc.collect(self.popen, out, err, None, time.monotonic() + DRAIN_SECONDS)
        for pipe in (self.popen.stdin, self.popen.stdout, self.popen.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


def start(
    cmd: HostCommand,
    error: type[CommandError],
    *,
    stdin: int | IO[Any] | None,
    stdout: int | IO[Any] | None,
    stderr: int | IO[Any] | None,
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` (a sandbox's job) in a new session without a controlling terminal:
    no keystrokes can be pushed into the user's terminal. ``error`` if it cannot start."""
    return proc.spawn(
        cmd.argv,
        cwd=cmd.cwd,
        env=cmd.env,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        new_session=True,
        error=error,
    )


def kill_group(popen: subprocess.Popen[bytes]) -> Callable[[], None]:
    """A killer for a job started in its own session: SIGKILL to its process group."""

    def killer() -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGKILL)

    return killer


def finish(
    job: Job,
    argv: Sequence[str],
    data: bytes | None,
    timeout: float | None,
    max_output: int,
    started: float,
) -> ExecResult:
    """Wait for ``job`` (fed ``data``) and what it printed, as an :class:`ExecResult`."""
    out, err, timed_out = job.communicate(data, timeout, max_output)
    return ExecResult(
        tuple(argv),
        job.popen.returncode,
        out.text(),
        err.text(),
        time.monotonic() - started,
        timed_out,
        (out.dropped, err.dropped),
    )
