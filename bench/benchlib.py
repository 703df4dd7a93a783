"""What the bench scripts share: the isollm beside this interpreter, a free port, a
command that must succeed, a throwaway project, the task server and HTTP/1.1 round trips
to it, timing. Imported as ``benchlib`` (a script's folder is on sys.path)."""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

ISOLLM = str(Path(sys.executable).parent / "isollm")
IDENTITY = {
    "GIT_AUTHOR_NAME": "isollm bench",
    "GIT_AUTHOR_EMAIL": "bench@isollm.invalid",
    "GIT_COMMITTER_NAME": "isollm bench",
    "GIT_COMMITTER_EMAIL": "bench@isollm.invalid",
}
OK = (b"HTTP/1.1 200", b"HTTP/1.1 204")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(argv: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None) -> str:
    """``argv``'s output; the bench stops with its output when it fails."""
    done = subprocess.run(
        argv,
        cwd=cwd,
        env=None if env is None else dict(env),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def arguments(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """The parsed arguments. ``./dev bench`` passes its arguments to every script, so
    one a script does not know is skipped, and said so on stderr, not an error."""
    args, unknown = parser.parse_known_args()
    if unknown:
        print(f"{Path(sys.argv[0]).name}: ignoring {' '.join(unknown)}", file=sys.stderr)
    return args


# --- a throwaway project ----------------------------------------------------------------


def private_home(tmp: Path) -> dict[str, str]:
    """This environment with a new HOME under ``tmp``, its ISOLLM_HOME, a git identity."""
    (tmp / "home").mkdir()
    home = {"HOME": str(tmp / "home"), "ISOLLM_HOME": str(tmp / "home/.isollm")}
    return {**os.environ, **home, **IDENTITY}


def new_project(root: Path, env: Mapping[str, str]) -> None:
    """A repository of one commit at ``root``, made an isollm project (on a free port)
    whose task server is started."""
    root.mkdir(parents=True)
    run(["git", "init", "-q", "-b", "main"], root, env)
    (root / "README.md").write_text("bench\n")
    run(["git", "add", "-A"], root, env)
    run(["git", "commit", "-q", "-m", "init"], root, env)
    run([ISOLLM, "init"], root, env)
    config = (root / "isollm.yaml").read_text()
    (root / "isollm.yaml").write_text(config.replace("port: 7432", f"port: {free_port()}"))
    run([ISOLLM, "server", "start"], root, env)


# --- the task server --------------------------------------------------------------------


def start_server(
    home: Path, port: int, ready: Callable[[], bool], *extra: str
) -> subprocess.Popen[bytes]:
    """The task server (no auth) on ``port`` with ISOLLM_HOME ``home`` and ``extra``
    arguments, once ``ready()`` (20 s at most)."""
    env = {**os.environ, "ISOLLM_HOME": str(home)}
    argv = [sys.executable, "-m", "isollm.tasks.server.daemon", "--port", str(port), "--no-auth"]
    proc = subprocess.Popen(
        [*argv, *extra], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if ready():
            return proc
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the task server did not start")


def answers(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


async def response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One HTTP/1.1 response: its head and its body."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = await reader.readexactly(length) if length else b""
    return head, body


async def exchange(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    raw: bytes,
    ok: tuple[bytes, ...] = OK,
) -> bytes:
    """Send the request ``raw``; the response's body (RuntimeError unless its status
    line starts with one of ``ok``)."""
    writer.write(raw)
    head, body = await response(reader)
    if not head.startswith(ok):
        raise RuntimeError((head + body).decode(errors="replace"))
    return body


# --- timing -----------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank ``p``th percentile of ``values`` (any count from one; NaN when
    there is none, so a report shows "nan" rather than a made-up figure)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def median_seconds(action: Callable[[], object], repeat: int) -> float:
    """The median wall time of ``repeat`` calls (the machine may be busy: look at ratios)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
