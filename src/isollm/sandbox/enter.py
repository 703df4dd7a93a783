"""Enter an overlay sandbox: namespaces and mounts first, then bubblewrap as the sandbox user.

Run by path as a program of its own (``python -I -S enter.py PLAN... -- BWRAP...``), with
only the standard library modules Python loads anyway plus ctypes (no json, no typing:
each command pays for every import), so it starts in milliseconds and needs nothing of
isollm importable. The plan, built by :meth:`isollm.sandbox.bwrap.EntryPlan.argv`, is
nine arguments (``-`` for none), then ``--`` and bubblewrap's argv:

- ``UID GID``: the unprivileged host user bubblewrap runs as (from root), or ``- -``
  (run as the caller, who is not root).
- ``STAGE``: an existing directory covered, inside these namespaces only, by a tmpfs
  where every bind source is bound again, so a user that cannot traverse their host
  parents (``/root/.isollm`` is 0700) still reaches them; bubblewrap covers it again.
- ``DETACH``: a directory (isollm's home) whose mounts are detached from these
  namespaces once the sources are staged: the mounts of other sandboxes (their overlays
  and disk images) are then not pinned by this command for as long as it runs, so
  their stop frees them at once.
- ``LOWER UPPER WORK MERGED``: the overlay to mount inside the new namespaces (when the
  caller cannot mount on the host), or four ``-``.
- ``SOURCES``: the indexes in bubblewrap's argv of bind sources, comma-separated.

Steps: a private mount namespace (and, unless root, a user namespace mapping only the
caller's own uid and gid), the overlay, the staged sources, dropping to ``uid``/``gid``
with no supplementary groups, then ``execv`` bubblewrap. No value ever reaches a shell.
"""

import codecs
import ctypes
import os
import stat
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
EXIT_SETUP = 125  # like env(1): the sandbox could not be entered


class SetupFailedError(Exception):
    pass


def _libc() -> ctypes.CDLL:
    try:  # find_library runs ldconfig: tens of milliseconds on every command
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        from ctypes.util import find_library  # noqa: PLC0415 - slow to import, rarely needed

        return ctypes.CDLL(find_library("c"), use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise SetupFailedError(f"{what}: {os.strerror(errno)}")


def mount(libc: ctypes.CDLL, source: str, target: str, fstype: str, flags: int, data: str) -> None:
    result = libc.mount(
        os.fsencode(source),
        os.fsencode(target),
        os.fsencode(fstype) if fstype else None,
        ctypes.c_ulong(flags),
        os.fsencode(data) if data else None,
    )
    _check(result, f"mount {fstype or 'bind'} {source} on {target}")


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="ascii") as f:
        f.write(text)


def new_namespaces(libc: ctypes.CDLL, as_root: bool) -> None:
    """A private mount namespace; unless root, in a user namespace of our own ids only."""
    if as_root:
        _check(libc.unshare(CLONE_NEWNS), "unshare the mount namespace")
    else:
        uid, gid = os.getuid(), os.getgid()
        _check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS), "unshare user and mount namespaces")
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1\n")
        _write("/proc/self/gid_map", f"{gid} {gid} 1\n")
    mount(libc, "none", "/", "", MS_REC | MS_PRIVATE, "")  # nothing leaks to the host


def mount_overlay(libc: ctypes.CDLL, lower: str, upper: str, work: str, merged: str) -> None:
    options = f"lowerdir={lower},upperdir={upper},workdir={work}"
    if os.getuid() != 0:
        options += ",userxattr"  # trusted.* xattrs are root's; a user namespace uses user.*
    mount(libc, "overlay", merged, "overlay", 0, options)


def _unescape(field: str) -> str:
    """A mountinfo path: space, tab, newline and backslash come as octal escapes."""
    if "\\" not in field:
        return field
    raw = codecs.escape_decode(field.encode("utf-8", "surrogateescape"))[0]
    return bytes(raw).decode("utf-8", "surrogateescape")


def open_mounts_below(top: str) -> list[int]:
    """O_PATH fds on every mount at or below ``top``, deepest first."""
    with open("/proc/self/mountinfo", "rb") as f:  # one read, not one per line
        text = f.read().decode("utf-8", "surrogateescape")
    fields = (line.split() for line in text.splitlines())
    points = [_unescape(f[4]) for f in fields if len(f) > 4]
    below = [p for p in points if p == top or p.startswith(top.rstrip("/") + "/")]
    fds = []
    for point in sorted(set(below), key=len, reverse=True):
        try:
            fds.append(os.open(point, os.O_PATH | os.O_CLOEXEC))
        except OSError:
            continue
    return fds


def detach_mounts(libc: ctypes.CDLL, fds: list[int]) -> None:
    """Lazily unmount the mounts ``fds`` were opened on (by fd: they may be hidden now)."""
    for fd in fds:
        libc.umount2(os.fsencode(f"/proc/self/fd/{fd}"), MNT_DETACH)  # locked ones stay
        os.close(fd)


def stage_sources(
    libc: ctypes.CDLL, argv: list[str], sources: list[int], stage: str, detach: str | None = None
) -> None:
    """Bind each source in ``argv`` into a fresh tmpfs at ``stage`` and point ``argv`` there,
    then detach the mounts below ``detach``.

    The sources (and mounts to detach) are opened first: one may lie below ``stage``.
    """
    fds = [os.open(argv[i], os.O_PATH | os.O_CLOEXEC) for i in sources]
    mounted = open_mounts_below(detach) if detach else []
    try:
        mount(libc, "isollm-stage", stage, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k")
        for n, (index, fd) in enumerate(zip(sources, fds, strict=True)):
            target = os.path.join(stage, str(n))
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                os.mkdir(target, 0o755)
            else:
                os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            mount(libc, f"/proc/self/fd/{fd}", target, "", MS_BIND | MS_REC, "")
            argv[index] = target
        detach_mounts(libc, mounted)
        mounted = []
    finally:
        for fd in fds + mounted:
            os.close(fd)


def drop_to(uid: int, gid: int) -> None:
    if uid <= 0 or gid <= 0:
        raise SetupFailedError(f"refusing to run a sandbox as uid {uid} gid {gid}")
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getuid() != uid or os.geteuid() != uid:  # pragma: no cover - the kernel refused
        raise SetupFailedError(f"could not switch to uid {uid}")


NONE = "-"
PLAN_ARGS = 9  # UID GID STAGE DETACH LOWER UPPER WORK MERGED SOURCES


class Plan:
    """The parsed command line (see the module docstring)."""

    def __init__(self, args: list[str]) -> None:
        if len(args) < PLAN_ARGS + 2 or args[PLAN_ARGS] != "--":
            raise SetupFailedError(
                "usage: enter.py UID GID STAGE DETACH LOWER UPPER WORK "
                "MERGED SOURCES -- BWRAP [ARG...]"
            )
        uid, gid, stage, detach, *overlay, sources = args[:PLAN_ARGS]
        self.bwrap = args[PLAN_ARGS + 1 :]
        self.user = None if NONE in (uid, gid) else (int(uid), int(gid))
        self.stage = None if stage == NONE else stage
        self.detach = None if detach == NONE else detach
        self.overlay = None if NONE in overlay else overlay
        self.sources = [] if sources == NONE else [int(i) for i in sources.split(",")]


def enter(plan: Plan) -> None:
    libc = _libc()
    argv = plan.bwrap
    as_root = os.geteuid() == 0
    if as_root and plan.user is None:
        raise SetupFailedError("a sandbox entered by root needs a uid and gid to run as")
    new_namespaces(libc, as_root)
    if plan.overlay:
        mount_overlay(libc, *plan.overlay)
    if plan.stage and plan.sources:
        stage_sources(libc, argv, plan.sources, plan.stage, plan.detach)
    if as_root and plan.user is not None:
        drop_to(*plan.user)
    os.execv(argv[0], argv)  # noqa: S606 - bubblewrap's own argv, no shell


def main(args: list[str]) -> int:
    try:
        enter(Plan(args))
    except (SetupFailedError, OSError, ValueError, IndexError) as exc:
        sys.stderr.write(f"isollm: cannot enter the sandbox: {exc}\n")
        return EXIT_SETUP
    return EXIT_SETUP  # pragma: no cover - execv does not return


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
