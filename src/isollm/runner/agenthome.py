"""Files isollm puts in an agent's HOME inside a sandbox, written from inside.

The agent can write its HOME, so the host never writes there itself (a symlink the agent
left would redirect the write): the files go in as a tar on the standard input of a
command run in the sandbox, unpacked without owners or modes from the archive.

The one-file ``airyra`` program goes under :data:`BIN_DIR`, for sandboxes that do not
show the host's install (containers, and every interactive session).
"""

from __future__ import annotations

import functools
import io
import tarfile
from collections.abc import Mapping
from pathlib import Path

from isollm.errors import SandboxError
from isollm.sandbox.base import Sandbox
from isollm.tasks.agent_cli import bundle

BIN_DIR = ".local/share/isollm/bin"  # under the agent's home inside
AIRYRA = f"{BIN_DIR}/airyra"
WRITE_TIMEOUT = 60.0
# `sh -c UNPACK_SCRIPT sh HOME`: the files on stdin (a tar) into HOME, inside the sandbox.
UNPACK_SCRIPT = 'mkdir -p "$1" && exec tar -x -m --no-same-owner --no-same-permissions -C "$1"'


@functools.cache
def airyra_program() -> str:
    """The ``airyra`` agent CLI as one file run by the sandbox's python3."""
    return "#!/usr/bin/env python3\n" + bundle.source()


def bin_path(home: Path, path: str) -> str:
    """``path`` (a PATH value) with the agent's own bin directory first."""
    return f"{home / BIN_DIR}:{path}"


def write_home_files(sb: Sandbox, home: Path, files: Mapping[str, bytes]) -> None:
    """Put ``files`` (by path under the home) into ``home`` inside ``sb``; programs
    under :data:`BIN_DIR` executable, everything else private."""
    argv = ["sh", "-c", UNPACK_SCRIPT, "sh", str(home)]
    sb.exec(argv, input=_tar(files), timeout=WRITE_TIMEOUT).check(SandboxError)


def _tar(files: Mapping[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel, data in files.items():
            info = tarfile.TarInfo(rel)
            info.size = len(data)
            info.mode = 0o755 if rel.startswith(BIN_DIR) else 0o600
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()
