"""The one way isollm runs external commands.

Always an argv list, never a shell. Every call is logged at debug level. A failure
raises :class:`~isollm.errors.CommandError` (or the subclass the caller names) showing
the argv, exit code, stdout and stderr, so nobody has to re-run a command to see why.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from isollm.errors import CommandError

log = logging.getLogger(__name__)

_MAX_SHOWN = 4000


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


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
) -> Result:
    """Run ``argv`` and capture its output as text.

    ``env`` replaces the environment when given (build it with :func:`clean_env`).
    With ``check`` a non-zero exit raises ``error`` carrying the whole story.
    """
    args = tuple(os.fspath(a) for a in argv)
    log.debug("run: %s (cwd=%s)", shlex.join(args), cwd)
    data = input.encode() if isinstance(input, str) else input
    try:
        proc = subprocess.run(
            args,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            input=data,
            stdin=None if data is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
            # Its own process group: a Ctrl-C meant for isollm does not kill a git
            # command midway; isollm decides what to stop (and kills this on the way out).
            process_group=0,
        )
    except FileNotFoundError as exc:
        raise error(
            f"{args[0]} is not installed or not on PATH",
            hint=hint or f"install {Path(args[0]).name} and try again",
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise error(f"command timed out after {timeout}s: {shlex.join(args)}", hint=hint) from exc
    result = Result(
        args,
        proc.returncode,
        proc.stdout.decode(errors="replace"),
        proc.stderr.decode(errors="replace"),
    )
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
