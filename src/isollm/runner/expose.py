"""Which host paths an agent needs to see inside a sandbox that hides home directories.

An agent CLI installed under a home directory (nvm, pipx, a virtualenv, pyenv) lives in
a path the overlay sandbox hides. Its install root is shown read-only instead: the
folder holding its ``node_modules``, or the prefix above its ``bin``; the same for the
interpreter its ``#!`` line names. Never a home directory itself, and never ``/``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

_SHEBANG_READ = 256


def install_root(path: Path) -> Path:
    """``lib/node_modules/pkg/cli.js`` -> ``lib``; ``venv/bin/python`` -> ``venv``."""
    parts = path.parts
    if "node_modules" in parts:
        return Path(*parts[: parts.index("node_modules")])
    if path.parent.name == "bin":
        return path.parent.parent
    return path.parent


def shebang_program(path: Path) -> str | None:
    """The interpreter a script's ``#!`` line runs (``/usr/bin/env node`` -> ``node``)."""
    try:
        with path.open("rb") as f:
            head = f.read(_SHEBANG_READ)
    except OSError:
        return None
    if not head.startswith(b"#!"):
        return None
    words = head[2:].split(b"\n", 1)[0].decode(errors="replace").split()
    if not words:
        return None
    if Path(words[0]).name == "env":
        rest = [w for w in words[1:] if not w.startswith("-")]
        return rest[0] if rest else None
    return words[0]


def _locate(program: str, path_env: str | None) -> Path | None:
    found = program if "/" in program else shutil.which(program, path=path_env)
    return Path(found) if found else None


def program_roots(program: str, path_env: str | None = None) -> list[Path]:
    """Install roots of ``program`` and of the interpreter that runs it."""
    located = _locate(program, path_env)
    if located is None:
        return []
    real = Path(os.path.realpath(located))
    roots = [install_root(located), install_root(real)]
    interpreter = shebang_program(real)
    if interpreter:
        where = _locate(interpreter, path_env)
        if where is not None:
            roots += [install_root(where), install_root(Path(os.path.realpath(where)))]
    return roots


def _unsafe(path: Path, homes: Iterable[Path]) -> bool:
    return path == Path("/") or any(path == h or h.is_relative_to(path) for h in homes)


def exposed_paths(
    programs: Sequence[str], configured: Sequence[str], path_env: str | None = None
) -> tuple[str, ...]:
    """Paths to show inside: the configured ones and the programs' install roots."""
    homes = [Path.home(), Path("/root"), Path("/home")]
    found: list[Path] = [Path(p) for p in configured]
    for program in programs:
        found += [r for r in program_roots(program, path_env) if not _unsafe(r, homes)]
    unique = dict.fromkeys(str(p) for p in found if p.is_dir())
    return tuple(unique)
