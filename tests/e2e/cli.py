"""Run the installed ``isollm`` command as a user does (shared by the e2e CLI tests)."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

# The installed command beside this interpreter; ISOLLM_TEST_CLI names another (the escape
# suite run as a normal user has the system python and no installed command).
ISOLLM = os.environ.get("ISOLLM_TEST_CLI") or str(Path(sys.executable).parent / "isollm")


def isollm(cwd: Path, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    """Run ``isollm *args`` in ``cwd``; assert it exits with ``code``."""
    result = subprocess.run(
        [ISOLLM, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == code, result
    return result


def as_json(cwd: Path, *args: str) -> Any:
    """The ``data`` of ``isollm *args --json`` after checking the schema version."""
    doc = json.loads(isollm(cwd, *args, "--json").stdout)
    assert doc["schema"] == 1
    return doc["data"]


def on_a_terminal(
    cwd: Path, argv: list[str], *, answer: tuple[bytes, str] | None = None
) -> tuple[int, str]:
    """Run ``argv`` with a pseudo-terminal as stdin, stdout and stderr; its exit code and
    what it showed. ``answer``: (a prompt, what to type once it shows)."""
    main_fd, child_fd = pty.openpty()
    child = subprocess.Popen(
        argv, cwd=cwd, stdin=child_fd, stdout=child_fd, stderr=child_fd, start_new_session=True
    )
    os.close(child_fd)
    shown = bytearray()
    with contextlib.suppress(OSError):  # EIO once the child is gone
        while chunk := os.read(main_fd, 65536):
            shown += chunk
            if answer is not None and answer[0] in shown:
                os.write(main_fd, answer[1].encode())
                answer = None
    os.close(main_fd)
    return child.wait(timeout=60), shown.decode(errors="replace")
