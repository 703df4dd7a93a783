"""Run a sandboxed command for a user at a terminal without giving it that terminal.

A process whose controlling terminal is the user's can push keystrokes into it
(``TIOCSTI``), and the user's shell runs them once the sandbox exits. So a sandboxed
command never gets the user's terminal: :func:`run` starts it in a new session whose
controlling terminal is a new pseudo-terminal, and copies bytes between the two, with
the user's terminal in raw mode (restored on the way out, whatever happens) and its
window size forwarded on SIGWINCH. Keystrokes pushed from inside land in the new
terminal, which is the sandbox's own input, and die with it.

Without a pty (output redirected to a file, input from a pipe, or asked for) the command
runs in a new session with no controlling terminal at all, so ``TIOCSTI`` fails (it
needs the caller's own controlling terminal, or ``CAP_SYS_ADMIN``, which no sandbox
keeps); any of its standard descriptors that would be the user's terminal is a pipe
copied by isollm instead.

    code = ptyrelay.run(cmd.argv, env=cmd.env)   # isollm worker exec / shell / attach
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import tty
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType

from isollm import proc
from isollm.errors import CommandError

CHUNK = 65536
POLL_SECONDS = 0.2
DRAIN_SECONDS = 0.5
KILL_GRACE = 2.0
EOT = b"\x04"


def wanted(stdin: int = 0, stdout: int = 1) -> bool:
    """A pty is relayed when both stdin and stdout are terminals (like ``ssh``): output
    redirected to a file stays byte-exact."""
    return os.isatty(stdin) and os.isatty(stdout)


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    tty_mode: bool | None = None,
    error: type[CommandError] = CommandError,
) -> int:
    """Run ``argv`` attached to the user (see the module doc) and return its exit code
    (128 + N when a signal N ended it). ``tty_mode``: force (True) or refuse (False) the
    pty; None: :func:`wanted`."""
    use_pty = wanted() if tty_mode is None else tty_mode
    if use_pty:
        return _relayed(argv, env, cwd, error)
    return _detached(argv, env, cwd, error)


def exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def _detached(
    argv: Sequence[str],
    env: Mapping[str, str] | None,
    cwd: str | Path | None,
    error: type[CommandError],
) -> int:
    """A new session without a controlling terminal. Descriptors that are not terminals
    are passed as they are; those that are get a pipe instead, copied here, so the
    command never holds the user's terminal at all (no ioctl on it, and ``lxc-attach``
    does not try to relay a terminal it cannot control). Ctrl-C reaches only isollm
    (the command is in another session), which stops the command's process group."""
    piped = [os.isatty(fd) for fd in (0, 1, 2)]
    pipe = subprocess.PIPE
    popen = proc.spawn(
        argv,
        env=env,
        cwd=cwd,
        stdin=pipe if piped[0] else None,
        stdout=pipe if piped[1] else None,
        stderr=pipe if piped[2] else None,
        new_session=True,
        error=error,
    )
    try:
        if any(piped):
            _copy_pipes(popen)
        return exit_code(popen.wait())
    except KeyboardInterrupt:
        _stop(popen)
        return exit_code(popen.wait())


def _copy_pipes(popen: subprocess.Popen[bytes]) -> None:
    """User's terminal -> the command's stdin pipe, its output pipes -> the terminal,
    until the command exits and its output is read (or stays quiet after the exit)."""
    outputs = {p.fileno(): target for p, target in ((popen.stdout, 1), (popen.stderr, 2)) if p}
    stdin = popen.stdin.fileno() if popen.stdin else None
    if stdin is not None:
        os.set_blocking(stdin, False)
    pending = b""
    reading = stdin is not None
    exited = False
    while outputs or (not exited and stdin is not None):
        readers = list(outputs) + ([0] if reading and not pending else [])
        writers = [stdin] if pending and stdin is not None else []
        timeout = DRAIN_SECONDS if exited else POLL_SECONDS
        ready, writable, _ = select.select(readers, writers, [], timeout)
        if exited and not ready and not writable:
            return
        for fd in ready:
            data = os.read(fd, CHUNK)
            if fd == 0:
                pending += data
                reading = bool(data)
                if not data and stdin is not None and not pending:
                    _close_stdin(popen)
                    stdin = None
            elif data:
                _write_all(outputs[fd], data)
            else:
                del outputs[fd]
        if stdin is not None and stdin in writable:
            try:
                pending = pending[os.write(stdin, pending) :]
            except BrokenPipeError:
                pending, reading = b"", False
            except BlockingIOError:
                pass
            if not pending and not reading:
                _close_stdin(popen)
                stdin = None
        exited = exited or popen.poll() is not None


def _close_stdin(popen: subprocess.Popen[bytes]) -> None:
    if popen.stdin is not None:
        with contextlib.suppress(OSError):
            popen.stdin.close()


def _stop(popen: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the command's process group, SIGKILL if it is still there after a grace."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(KILL_GRACE)
        if popen.returncode is not None:
            return


def _window_size(fd: int) -> bytes | None:
    try:
        return fcntl.ioctl(fd, termios.TIOCGWINSZ, struct.pack("HHHH", 0, 0, 0, 0))
    except OSError:
        return None


def _copy_size(source: int, target: int) -> None:
    size = _window_size(source)
    if size is not None:
        with contextlib.suppress(OSError):
            fcntl.ioctl(target, termios.TIOCSWINSZ, size)


@contextlib.contextmanager
def _raw(fd: int) -> Iterator[None]:
    """``fd`` in raw mode while inside (when it is a terminal); restored on any exit."""
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd, termios.TCSANOW)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSAFLUSH, saved)


@contextlib.contextmanager
def _signals(master: int, stdin: int) -> Iterator[None]:
    """Window size changes forwarded to the pty; SIGTERM/SIGHUP end the relay cleanly
    (the terminal is restored and the command stopped) instead of killing isollm."""

    def resize(_sig: int, _frame: FrameType | None) -> None:
        _copy_size(stdin, master)

    def stop(sig: int, _frame: FrameType | None) -> None:
        raise _StoppedError(sig)

    wanted = {signal.SIGWINCH: resize, signal.SIGTERM: stop, signal.SIGHUP: stop}
    saved = {sig: signal.signal(sig, handler) for sig, handler in wanted.items()}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


class _StoppedError(Exception):
    def __init__(self, sig: int) -> None:
        super().__init__(f"signal {sig}")
        self.sig = sig


def _relayed(
    argv: Sequence[str],
    env: Mapping[str, str] | None,
    cwd: str | Path | None,
    error: type[CommandError],
) -> int:
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    master, slave = os.openpty()
    try:
        if os.isatty(stdin):  # the new terminal starts with the user's settings and size
            with contextlib.suppress(termios.error):
                termios.tcsetattr(slave, termios.TCSANOW, termios.tcgetattr(stdin))
            _copy_size(stdin, slave)
        # setsid(1) --ctty: a new session whose controlling terminal is the new pty (no
        # preexec_fn: isollm may have threads); it execs in place, its pid is the group.
        setsid = shutil.which("setsid") or "setsid"
        popen = proc.spawn(
            [setsid, "--ctty", *argv],
            env=env,
            cwd=cwd,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            error=error,
        )
    finally:
        os.close(slave)  # only the command holds it now: its exit ends the output
    try:
        with _signals(master, stdin), _raw(stdin):
            _pump(master, stdin, stdout, popen)
    except (_StoppedError, KeyboardInterrupt):
        _stop(popen)
    finally:
        os.close(master)
    return exit_code(popen.wait())


def _pump(master: int, stdin: int, stdout: int, popen: subprocess.Popen[bytes]) -> None:
    """Copy user -> pty and pty -> user until the command exits and its output is read."""
    os.set_blocking(master, False)
    pending = b""  # typed ahead, not yet taken by the pty
    reading_stdin = True
    exited = False
    while True:
        readers = [master] + ([stdin] if reading_stdin and not pending else [])
        writers = [master] if pending else []
        timeout = DRAIN_SECONDS if exited else POLL_SECONDS
        ready, writable, _ = select.select(readers, writers, [], timeout)
        if master in ready:
            data = _read(master)
            if data is None:
                return  # every holder of the pty is gone
            _write_all(stdout, data)
        elif exited:
            return  # exited and quiet: whatever still holds the pty is not waited for
        if stdin in ready:
            data = _read(stdin)
            if data:
                pending += data
            else:
                reading_stdin = False  # end of input: the terminal's end-of-file
                pending += EOT
        if master in writable and pending:
            with contextlib.suppress(BlockingIOError):
                pending = pending[os.write(master, pending) :]
        exited = exited or popen.poll() is not None


def _read(fd: int) -> bytes | None:
    """Some bytes, b"" at end of file, None when the pty has no holder left (EIO)."""
    try:
        return os.read(fd, CHUNK)
    except BlockingIOError:
        return b""  # nothing after all
    except OSError as exc:
        if exc.errno == errno.EIO:
            return None
        raise


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            select.select([], [fd], [])
