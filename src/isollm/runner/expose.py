"""Which host paths an agent needs to see inside a sandbox that hides home directories.

An agent CLI installed under a home directory (npm's ``~/.local``, nvm, pipx, a
virtualenv, pyenv) lives where the overlay sandbox hides everything. Exactly its install
is shown read-only instead, nothing around it:

- an npm package: the package's own directory (``…/node_modules/@scope/pkg``), the
  installed packages it depends on (:mod:`isollm.sandbox.npm`), and the ``node``
  binary its ``#!`` line asks for (that one file);
- a virtualenv (a ``pyvenv.cfg`` above its ``bin``): the virtualenv, and the Python
  installation it was made from when that is hidden too (pyenv);
- anything else: the program's file itself.

The name found on PATH is often a symlink in a directory the sandbox hides
(``~/.local/bin/claude``); :func:`sandbox_binary` gives the real path to run instead, so
that directory never needs to be shown. Never a home directory itself, and never ``/``.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

from isollm import fsutil
from isollm.agents.base import Agent
from isollm.sandbox import npm
from isollm.sandbox.bwrap import ALWAYS_HIDDEN

_SHEBANG_READ = 256
# Backends whose sandboxes see nothing of the host but what is bound in.
CONTAINER_BACKENDS = ("lxc", "podman")
# A container has a system of its own: a program installed there on the host (tmux,
# sh) is the container's to have, never bound over it (npm packages aside).
_SYSTEM = tuple(Path(p) for p in ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc"))


def _system(path: Path) -> bool:
    if path.is_relative_to("/usr/local") or package_dir(path) is not None:
        return False
    return any(path.is_relative_to(s) for s in _SYSTEM)


def _hidden_roots() -> list[Path]:
    """What an overlay sandbox covers: the homes, the container stores, /run, and /tmp
    (its own). isollm's home is never exposed, whatever is installed there."""
    return [Path.home(), *(Path(p) for p in ALWAYS_HIDDEN), Path("/tmp")]  # noqa: S108


def _hidden(path: Path) -> bool:
    return any(path == h or path.is_relative_to(h) for h in _hidden_roots())


def package_dir(path: Path) -> Path | None:
    """``…/node_modules/@scope/pkg/bin/cli.js`` -> ``…/node_modules/@scope/pkg`` (the
    innermost package holding ``path``), or None outside ``node_modules``."""
    parts = path.parts
    if "node_modules" not in parts:
        return None
    at = len(parts) - 1 - parts[::-1].index("node_modules")
    size = 3 if at + 1 < len(parts) and parts[at + 1].startswith("@") else 2
    return Path(*parts[: at + size]) if at + size <= len(parts) else None


def venv_dir(path: Path) -> Path | None:
    """The virtualenv ``path`` is in (``venv/bin/aider`` -> ``venv``), or None."""
    root = path.parent.parent
    return root if path.parent.name == "bin" and (root / "pyvenv.cfg").is_file() else None


def venv_base(venv: Path) -> Path | None:
    """The Python installation a virtualenv was made from (``home = …/bin`` in its
    ``pyvenv.cfg`` -> ``…``), or None if it does not say."""
    try:
        text = (venv / "pyvenv.cfg").read_text(encoding="utf-8", errors="replace")[:4096]
    except OSError:
        return None
    for line in text.splitlines():
        key, eq, value = line.partition("=")
        if eq and key.strip() == "home" and value.strip():
            home = Path(value.strip())
            return home.parent if home.name == "bin" else home
    return None


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


def install_paths(real: Path) -> list[Path]:
    """What must be shown for the real file ``real`` of a program to run."""
    package = package_dir(real)
    if package is not None:
        return [package, *npm.dependencies(package)]  # codex: its native program's
    venv = venv_dir(real)
    if venv is not None:
        base = venv_base(venv)
        return [venv, *([base] if base is not None and _hidden(base) else [])]
    return [real]


def program_paths(program: str, path_env: str | None = None) -> list[Path]:
    """The install of ``program`` and of the interpreter its ``#!`` line names."""
    located = _locate(program, path_env)
    if located is None:
        return []
    real = Path(os.path.realpath(located))
    found = install_paths(real)
    if venv_dir(located) is not None and located != real:  # venv/bin/python -> base python
        found += [p for p in install_paths(located) if p not in found]
    interpreter = shebang_program(real)
    if interpreter:
        where = _locate(interpreter, path_env)
        if where is not None and not any(where.is_relative_to(p) for p in found):
            found += install_paths(Path(os.path.realpath(where)))
    return found


def sandbox_binary(program: str, path_env: str | None = None, *, container: bool = False) -> str:
    """What a sandbox should run for ``program``: its real path when the name found on
    PATH is a symlink under a hidden home (whose directory is not shown inside; in a
    ``container`` the whole host is hidden), else ``program`` as given (also for a
    program in a virtualenv, which is shown whole)."""
    located = _locate(program, path_env)
    hidden = located is not None and (container or _hidden(located))
    if located is None or not hidden or venv_dir(located) is not None:
        return program  # a virtualenv is shown whole, and its python must run as itself
    real = os.path.realpath(located)
    if container and _system(Path(real)):
        return program  # the container's own program
    return real if real != str(located) else program


def sandboxed(agent: Agent, path_env: str | None = None, *, container: bool = False) -> Agent:
    """``agent`` running its CLI by :func:`sandbox_binary` (a new adapter)."""
    binary = sandbox_binary(agent.binary, path_env, container=container) if agent.binary else ""
    if binary == agent.binary:
        return agent
    return type(agent)(dataclasses.replace(agent.settings, binary=binary))  # type: ignore[call-arg]


def _unsafe(path: Path, homes: Iterable[Path]) -> bool:
    return path == Path("/") or any(path == h or h.is_relative_to(path) for h in homes)


def exposed_paths(
    programs: Sequence[str],
    configured: Sequence[str],
    path_env: str | None = None,
    *,
    container: bool = False,
) -> tuple[str, ...]:
    """Paths to show inside: the configured ones and the programs' installs (those in
    a hidden home: anything else is visible anyway; a ``container`` sees nothing of the
    host, so all of them, but never a top-level directory such as ``/usr``)."""
    homes = _hidden_roots()
    found: list[Path] = [Path(p) for p in configured]
    for program in programs:
        paths = program_paths(program, path_env)
        if container and paths and _system(paths[0]):
            continue  # the container's own
        wanted = [p for p in paths if len(p.parts) > 2] if container else paths
        found += [p for p in wanted if (container or _hidden(p)) and not _unsafe(p, homes)]
    private = fsutil.isollm_home().resolve()  # tokens, hubs, other sandboxes: never shown
    shown = [p for p in found if p.exists() and not _overlaps(p.resolve(), private)]
    return tuple(dict.fromkeys(str(p) for p in shown))


def _overlaps(path: Path, private: Path) -> bool:
    return path == private or path.is_relative_to(private) or private.is_relative_to(path)
