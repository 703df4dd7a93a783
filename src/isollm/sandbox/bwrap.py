"""The bubblewrap command line for a sandbox, as a pure function of what it should see.

Inside: the host filesystem read-only; the homes (``/root``, ``/home``, ``$HOME``) and
isollm's own directory hidden under empty tmpfs; a private ``/tmp`` (a tmpfs of
``tmp_size`` bytes, or a directory of the sandbox's disk image); a persistent private
HOME at ``/home/dev``; the workspace bound writable and the hub read-only at their host
paths (so ``origin`` resolves for fetches; work leaves only through the host's intake);
new user, pid, ipc, uts and cgroup namespaces, uid 1000 and every
capability dropped (as root, bubblewrap without ``--cap-drop ALL`` can be escaped by a
remount), no further user namespaces; the network namespace shared only with
``network: host``. ``/run`` (and so ``/var/run``) is an empty tmpfs: the host's
filesystem sockets are out of reach, except the task server's, bound at TASK_SOCKET.

Bubblewrap itself is started by :mod:`~.enter` as the sandbox's unprivileged host user
(:mod:`~.identity`), so uid 1000 inside is never root outside.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from isollm import proc
from isollm.errors import CommandError
from isollm.sandbox.base import DEV_UID, TASK_SOCKET, Network

SANDBOX_HOME = "/home/dev"
ALWAYS_HIDDEN = ("/root", "/home", "/var/lib/lxc", "/var/lib/containers", "/run")
ENTER = Path(__file__).with_name("enter.py")
STAGE = "/tmp"  # noqa: S108 - covered by a tmpfs in the entry's own mount namespace only
NONE = "-"  # an absent value in the plan :mod:`~.enter` reads


@dataclass(frozen=True)
class BwrapLayout:
    workspace: Path  # bound read-write at the same path
    hub: Path  # bound read-only at the same path: never writable by an agent
    home: Path  # bound read-write at SANDBOX_HOME
    hide: tuple[Path, ...] = ()  # covered by empty tmpfs
    files: tuple[tuple[Path, str], ...] = ()  # (host file, path inside), read-only
    expose: tuple[Path, ...] = ()  # shown read-only at the same path, even inside `hide`
    network: Network = "host"
    hostname: str = "sandbox"
    uid: int = DEV_UID
    task_socket: Path | None = None  # the task server's socket, bound at TASK_SOCKET
    tmp_size: int = 0  # bytes the /tmp tmpfs may hold (0: no limit; needs bubblewrap 0.8)
    tmp: Path | None = None  # bound read-write at /tmp instead of a tmpfs


@functools.cache
def tmpfs_size_supported(bwrap: str) -> bool:
    """Whether ``bwrap`` has ``--size`` for a tmpfs (bubblewrap 0.8 and later)."""
    try:
        result = proc.run([bwrap, "--help"], check=False)
    except CommandError:  # not installed: nothing runs anyway
        return False
    return "--size" in result.stdout + result.stderr


def hidden_paths(candidates: Sequence[Path]) -> tuple[Path, ...]:
    """``candidates`` without duplicates or paths inside another one, shallowest first."""
    kept: list[Path] = []
    for path in sorted(set(candidates), key=lambda p: (len(p.parts), str(p))):
        if path == Path("/"):
            continue
        if not any(path == k or path.is_relative_to(k) for k in kept):
            kept.append(path)
    return tuple(kept)


def bwrap_argv(
    layout: BwrapLayout,
    argv: Sequence[str],
    *,
    cwd: str,
    interactive: bool = False,
    bwrap: str = "bwrap",
) -> list[str]:
    """The full command line running ``argv`` in ``cwd`` inside the sandbox."""
    return bwrap_plan(layout, argv, cwd=cwd, interactive=interactive, bwrap=bwrap)[0]


def bwrap_plan(
    layout: BwrapLayout,
    argv: Sequence[str],
    *,
    cwd: str,
    interactive: bool = False,
    bwrap: str = "bwrap",
) -> tuple[list[str], list[int]]:
    """:func:`bwrap_argv` and the indexes in it of every bind source but ``/``."""
    args = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    sources: list[int] = []

    def bind(option: str, source: Path, target: str) -> None:
        sources.append(len(args) + 1)
        args.extend([option, str(source), target])

    if layout.tmp is not None:
        bind("--bind", layout.tmp, "/tmp")  # noqa: S108 - the sandbox's own, in its disk image
    else:
        if layout.tmp_size:
            args += ["--size", str(layout.tmp_size)]
        args += ["--tmpfs", "/tmp"]  # noqa: S108 - a private, empty /tmp inside the sandbox
    for path in hidden_paths(layout.hide):
        args += ["--tmpfs", str(path)]
    for path in layout.expose:
        bind("--ro-bind", path, str(path))
    for source, target in layout.files:
        bind("--ro-bind", source, target)
    bind("--bind", layout.home, SANDBOX_HOME)
    bind("--bind", layout.workspace, str(layout.workspace))
    bind("--ro-bind", layout.hub, str(layout.hub))
    if layout.task_socket is not None:
        bind("--bind", layout.task_socket, TASK_SOCKET)  # connect(2) needs it writable
    args += ["--unshare-all", "--unshare-user", "--disable-userns"]
    args += ["--uid", str(layout.uid), "--gid", str(layout.uid)]
    if layout.network == "host":
        args.append("--share-net")
    args += ["--hostname", layout.hostname, "--cap-drop", "ALL", "--die-with-parent"]
    if not interactive:
        # No controlling terminal to push keystrokes into (TIOCSTI). An interactive
        # command keeps the terminal: it must be given a pty of its own by the caller.
        args.append("--new-session")
    args += ["--chdir", cwd, "--", *argv]
    return args, sources


@dataclass(frozen=True)
class EntryPlan:
    """What :mod:`~.enter` does before it becomes bubblewrap (see its docstring)."""

    bwrap: list[str]
    sources: list[int]
    uid: int | None = None  # switch to this unprivileged host user (from root)
    gid: int | None = None
    overlay: tuple[Path, Path, Path, Path] | None = None  # lower, upper, work, merged
    detach: Path | None = None  # mounts below it are dropped from the command's namespaces

    def argv(self, python: str = sys.executable) -> list[str]:
        """``python -I -S enter.py PLAN... -- BWRAP...``: the plan as plain arguments
        (``-`` for none), parsed by :class:`~.enter.Plan` without importing json."""

        def given(value: object) -> str:
            return NONE if value is None else str(value)

        overlay = [str(p) for p in self.overlay] if self.overlay else [NONE] * 4
        sources = ",".join(str(i) for i in self.sources) or NONE
        plan = [given(self.uid), given(self.gid), STAGE, given(self.detach), *overlay, sources]
        return [python, "-I", "-S", str(ENTER), *plan, "--", *self.bwrap]


def passwd_entries(host_passwd: str, uid: int, user: str) -> str:
    """The host's /etc/passwd with ``uid`` renamed to ``user`` (home /home/dev)."""
    lines = [line for line in host_passwd.splitlines() if line.split(":")[2:3] != [str(uid)]]
    lines = [line for line in lines if not line.startswith(f"{user}:")]
    lines.append(f"{user}:x:{uid}:{uid}:isollm sandbox:{SANDBOX_HOME}:/bin/bash")
    return "\n".join(lines) + "\n"


def group_entries(host_group: str, gid: int, group: str) -> str:
    lines = [line for line in host_group.splitlines() if line.split(":")[2:3] != [str(gid)]]
    lines = [line for line in lines if not line.startswith(f"{group}:")]
    lines.append(f"{group}:x:{gid}:")
    return "\n".join(lines) + "\n"
