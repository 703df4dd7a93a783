"""The bubblewrap command line for a sandbox, as a pure function of what it should see.

Inside: the host filesystem read-only; the homes (``/root``, ``/home``, ``$HOME``) and
isollm's own directory hidden under empty tmpfs; a private ``/tmp``; a persistent private
HOME at ``/home/dev``; the workspace and the hub bound writable at their host paths (so
``origin`` resolves); new user, pid, ipc, uts and cgroup namespaces, uid 1000 and every
capability dropped (as root, bubblewrap without ``--cap-drop ALL`` can be escaped by a
remount); the network namespace shared only with ``network: host``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from isollm.sandbox.base import DEV_UID, Network

SANDBOX_HOME = "/home/dev"
ALWAYS_HIDDEN = ("/root", "/home", "/var/lib/lxc", "/var/lib/containers", "/run/user")


@dataclass(frozen=True)
class BwrapLayout:
    workspace: Path  # bound read-write at the same path
    hub: Path  # bound read-write at the same path
    home: Path  # bound read-write at SANDBOX_HOME
    hide: tuple[Path, ...] = ()  # covered by empty tmpfs
    protect: tuple[Path, ...] = ()  # inside a writable bind, but read-only
    files: tuple[tuple[Path, str], ...] = ()  # (host file, path inside), read-only
    expose: tuple[Path, ...] = ()  # shown read-only at the same path, even inside `hide`
    network: Network = "host"
    hostname: str = "sandbox"
    uid: int = DEV_UID


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
    args = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    args += ["--tmpfs", "/tmp"]  # noqa: S108 - a private, empty /tmp inside the sandbox
    for path in hidden_paths(layout.hide):
        args += ["--tmpfs", str(path)]
    for path in layout.expose:
        args += ["--ro-bind", str(path), str(path)]
    for source, target in layout.files:
        args += ["--ro-bind", str(source), target]
    args += ["--bind", str(layout.home), SANDBOX_HOME]
    args += ["--bind", str(layout.hub), str(layout.hub)]
    args += ["--bind", str(layout.workspace), str(layout.workspace)]
    for path in layout.protect:
        args += ["--ro-bind", str(path), str(path)]
    args += ["--unshare-all", "--unshare-user", "--uid", str(layout.uid), "--gid", str(layout.uid)]
    if layout.network == "host":
        args.append("--share-net")
    args += ["--hostname", layout.hostname, "--cap-drop", "ALL", "--die-with-parent"]
    if not interactive:
        args.append("--new-session")  # no controlling terminal to inject keystrokes into
    args += ["--chdir", cwd, "--", *argv]
    return args


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
