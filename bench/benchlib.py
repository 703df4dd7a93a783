"""What the bench scripts share: the isollm beside this interpreter, a free port, a
command that must succeed. Imported as ``benchlib`` (a script's folder is on sys.path)."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

ISOLLM = str(Path(sys.executable).parent / "isollm")
IDENTITY = {
    "GIT_AUTHOR_NAME": "isollm bench",
    "GIT_AUTHOR_EMAIL": "bench@isollm.invalid",
    "GIT_COMMITTER_NAME": "isollm bench",
    "GIT_COMMITTER_EMAIL": "bench@isollm.invalid",
}


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
