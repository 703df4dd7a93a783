"""The one way isollm runs external commands.

Always an argv list, never a shell. Every call is logged at debug level. A failure
raises :class:`~isollm.errors.CommandError` (or the subclass the caller names) showing
the argv, exit code, stdout and stderr, so nobody has to re-run a command to see why.

Output is read as it comes and kept within a cap per stream (:class:`Capture`: the head
and the tail, the middle counted and dropped), so a command that prints without end
cannot grow isollm's memory. :func:`run` keeps at most :data:`MAX_OUTPUT` bytes per
stream unless its caller says the command is trusted to print all it needs
(``max_output=None``: host git on the host's own repositories).
"""

from __future__ import annotations

import logging
import os
import select
import selectors
import shlex
import subprocess
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from isollm.errors import CommandError

log = logging.getLogger(__name__)

_MAX_SHOWN = 4000
MAX_OUTPUT = 16 << 20  # bytes kept per stream of a command not trusted to print little
_CHUNK = 1 << 16
PIPE_BUF = select.PIPE_BUF  # written at once when poll says a pipe is writable


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    dropped: tuple[int, int] = (0, 0)  # bytes of stdout, stderr left out (over the cap)

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def truncated(self) -> bool:
        return any(self.dropped)


class Capture:
    """What a stream printed, within ``limit`` bytes (None: everything).

    Over the limit, the first half and the last half are kept and the bytes between
    them are counted; :meth:`text` marks where they were left out.
    """

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.head: list[bytes] = []  # chunks as read: joined once, at the end
        self.head_size = 0
        self.tail: deque[bytes] = deque()
        self.tail_size = 0
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        if self.limit is None or self.head_size + len(chunk) <= self.limit // 2:
            self.head.append(chunk)
            self.head_size += len(chunk)
            return
        room = max(self.limit // 2 - self.head_size, 0)
        if room:
            self.head.append(chunk[:room])
            self.head_size += room
            chunk = chunk[room:]
        self.tail.append(chunk)
        self.tail_size += len(chunk)
        keep = self.limit - self.limit // 2
        while self.tail and self.tail_size - len(self.tail[0]) >= keep:
            self.dropped += len(self.tail[0])
            self.tail_size -= len(self.tail.popleft())
        if self.tail_size > keep:  # cut the oldest chunk so exactly ``keep`` bytes stay
            extra = self.tail_size - keep
            self.tail[0] = self.tail[0][extra:]
            self.tail_size, self.dropped = keep, self.dropped + extra

    def text(self) -> str:
        """What was kept, decoded; where bytes were left out, a line says how many."""
        if not self.dropped:
            return b"".join([*self.head, *self.tail]).decode(errors="replace")
        head = b"".join(self.head).decode(errors="replace")
        tail = b"".join(self.tail).decode(errors="replace")
        return f"{head}\n[... {self.dropped} bytes left out by isollm ...]\n{tail}"


def collect(
    popen: subprocess.Popen[bytes],
    out: Capture,
    err: Capture,
    data: bytes | None,
    deadline: float | None,
) -> bool:
    """Feed ``data`` to the process's stdin pipe and read its stdout and stderr pipes
    into ``out`` and ``err`` until both close; False if ``deadline`` (a
    :func:`time.monotonic` value) came first. Pipes it finished with are closed."""
    streams = {popen.stdout: out, popen.stderr: err}
    todo = memoryview(data or b"")
    with selectors.PollSelector() as sel:
        for pipe in streams:
            if pipe is not None and not pipe.closed:
                sel.register(pipe, selectors.EVENT_READ)
        if popen.stdin is not None and not popen.stdin.closed:
            if todo:
                sel.register(popen.stdin, selectors.EVENT_WRITE)
            else:
                popen.stdin.close()
        while sel.get_map():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            for key, _ in sel.select(left):
                if key.fileobj is popen.stdin:
                    todo = _feed(sel, popen.stdin, todo)
                    continue
                chunk = os.read(key.fd, _CHUNK)
                if chunk:
                    streams[key.fileobj].add(chunk)  # type: ignore[index]
                else:
                    sel.unregister(key.fileobj)
                    key.fileobj.close()  # type: ignore[union-attr]
    return True


def wait_until(popen: subprocess.Popen[bytes], deadline: float | None) -> bool:
    """Wait for the process to exit; False if ``deadline`` came first."""
    try:
        popen.wait(None if deadline is None else max(deadline - time.monotonic(), 0.0))
    except subprocess.TimeoutExpired:
        return False
    return True


def _feed(sel: selectors.BaseSelector, stdin: IO[bytes], todo: memoryview) -> memoryview:
    """Write what the pipe takes now; close it when all is written or the reader left."""
    try:
        todo = todo[os.write(stdin.fileno(), todo[:PIPE_BUF]) :]
    except BrokenPipeError:
        todo = todo[:0]
    if not todo:
        sel.unregister(stdin)
        stdin.close()
    return todo


def _tail(text: str) -> str:
    text = text.strip()
    if len(text) > _MAX_SHOWN:
        return "…" + text[-_MAX_SHOWN:]
    return text


def describe_failure(result: Result) -> str:
    """A message naming the argv, the exit code and what the command printed."""
    lines = [f"command failed (exit {result.returncode}): {shlex.join(result.argv)}"]
    if result.stdout.strip():
        lines.append(f"stdout:\n{_tail(result.stdout)}")
    if result.stderr.strip():
        lines.append(f"stderr:\n{_tail(result.stderr)}")
    return "\n".join(lines)


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    input: str | bytes | None = None,
    timeout: float | None = None,
    check: bool = True,
    error: type[CommandError] = CommandError,
    hint: str | None = None,
    max_output: int | None = MAX_OUTPUT,
) -> Result:
    """Run ``argv`` and capture its output as text.

    ``env`` replaces the environment when given (build it with :func:`clean_env`).
    With ``check`` a non-zero exit raises ``error`` carrying the whole story.

    ``max_output``: bytes kept per stream (head and tail; ``Result.dropped`` counts the
    rest). Keep the default for anything whose output a sandbox can drive (a command
    run in a container, a tool reading an agent's files). ``None`` keeps everything:
    only for commands trusted to print what their caller needs, such as host git on a
    repository the host owns (:class:`isollm.git.facade.Git` passes it).
    """
    args = tuple(os.fspath(a) for a in argv)
    log.debug("run: %s (cwd=%s)", shlex.join(args), cwd)
    data = input.encode() if isinstance(input, str) else input
    try:
        popen = subprocess.Popen(
            args,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            # Its own process group: a Ctrl-C meant for isollm does not kill a git
            # command midway; isollm decides what to stop (and kills this on the way out).
            process_group=0,
        )
    except FileNotFoundError as exc:
        raise error(
            f"{args[0]} is not installed or not on PATH",
            hint=hint or f"install {Path(args[0]).name} and try again",
        ) from exc
    out, err = Capture(max_output), Capture(max_output)
    deadline = None if timeout is None else time.monotonic() + timeout
    finished = False
    with popen:
        try:
            finished = collect(popen, out, err, data, deadline)
            finished = finished and wait_until(popen, deadline)
        finally:
            if not finished:  # timed out, or interrupted
                popen.kill()
            popen.wait()
    if not finished:
        raise error(f"command timed out after {timeout}s: {shlex.join(args)}", hint=hint)
    result = Result(args, popen.returncode, out.text(), err.text(), (out.dropped, err.dropped))
    if check and not result.ok:
        raise error(describe_failure(result), hint=hint)
    return result


# GIT_* variables that describe the user or the transport, not a repository; kept.
_GIT_KEEP = (
    "GIT_EXEC_PATH",
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_SSL_",
    "GIT_CONFIG_",
    "GIT_AUTHOR_",
    "GIT_COMMITTER_",
    "GIT_TERMINAL_PROMPT",
    "GIT_ASKPASS",
)


def clean_env(
    extra: Mapping[str, str] | None = None, *, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The current environment without stray ``GIT_*`` variables, plus ``extra``.

    A ``GIT_DIR`` or ``GIT_INDEX_FILE`` left by a hook would point every git call at
    the wrong repository; identity and transport settings are kept.
    """
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if not k.startswith("GIT_") or k.startswith(_GIT_KEEP)}
    if extra:
        env.update(extra)
    return env


def run_attached(
    argv: Sequence[str | os.PathLike[str]],
    *,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    error: type[CommandError] = CommandError,
) -> int:
    """Run ``argv`` on the user's terminal (editors, shells) and return its exit code."""
    args = tuple(os.fspath(a) for a in argv)
    log.debug("run attached: %s (cwd=%s)", shlex.join(args), cwd)
    try:
        return subprocess.call(args, cwd=cwd, env=dict(env) if env is not None else None)
    except FileNotFoundError as exc:
        raise error(
            f"{args[0]} is not installed or not on PATH",
            hint=f"install {Path(args[0]).name} or choose another program",
        ) from exc


def spawn(
    argv: Sequence[str | os.PathLike[str]],
    *,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: int | IO[Any] | None = subprocess.DEVNULL,
    stdout: int | IO[Any] | None = None,
    stderr: int | IO[Any] | None = None,
    new_session: bool = False,
    error: type[CommandError] = CommandError,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` without waiting (long-running agents, servers). Never a shell."""
    args = tuple(os.fspath(a) for a in argv)
    log.debug("spawn: %s (cwd=%s)", shlex.join(args), cwd)
    try:
        return subprocess.Popen(
            args,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            start_new_session=new_session,
        )
    except FileNotFoundError as exc:
        raise error(
            f"{args[0]} is not installed or not on PATH",
            hint=f"install {Path(args[0]).name} and try again",
        ) from exc
