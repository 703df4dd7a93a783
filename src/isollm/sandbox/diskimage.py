"""A per-sandbox filesystem of ``sandbox.disk`` bytes: the overlay's disk limit (as root).

An agent writes into the overlay's upper directory, its persistent home and its /tmp;
without a bound it fills the host's disk. As root, each sandbox gets an ext4 filesystem
in a sparse image file of its own (``disk.img`` in the sandbox's directory) mounted
through a loop device at ``disk/``, holding the upper, work and home directories: a
write past the limit fails with ENOSPC inside the sandbox, and the host's disk grows by
at most the limit (only what was written takes space: the file is sparse).

Made to cost little per sandbox (about 20 ms): ``mkfs.ext4`` with lazy inode table and
journal initialisation and no discard (a new sparse file reads as zeros already), few
inodes; the kernel's background zeroing of inode tables is off (``noinit_itable``).

Loop devices are attached with the kernel's ioctls and marked *autoclear*: the device is
freed when the filesystem is unmounted, or when a process dies between attaching and
mounting. A device left attached anyway (a crash of another tool, a lazy unmount that
finished later) is found by its backing file and reused for the next mount (never a
second device on the same image: two mounts of one ext4 corrupt it), and detached on
unmount. The image survives reboots and is mounted again by ``start``.

A normal user cannot mount a loop device: there is no per-sandbox disk limit then (see
docs/sandboxes.md), only ``RLIMIT_FSIZE`` per file.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import functools
import logging
import os
import shutil
import struct
import time
from pathlib import Path

from isollm import fsutil, proc
from isollm.errors import SandboxError

log = logging.getLogger(__name__)

IMAGE = "disk.img"
MOUNTPOINT = "disk"
MIN_SIZE = 16 * 1024**2  # ext4 with a journal needs a few MB; smaller limits round up
INODE_RATIO = 32 * 1024  # one inode per 32 KiB: 327,680 in 10G, a large node_modules fits
MOUNT_OPTIONS = "noinit_itable"  # no background writes zeroing inode tables
LOOP_CTL_GET_FREE = 0x4C82
LOOP_SET_FD = 0x4C00
LOOP_CLR_FD = 0x4C01
LOOP_SET_STATUS64 = 0x4C04
LOOP_CONFIGURE = 0x4C0A  # Linux 5.8+: fd and status in one call
LO_FLAGS_AUTOCLEAR = 4
LO_NAME_SIZE = 64
# struct loop_info64: 5 u64, 4 u32, file name, crypt name, key, 2 u64 (232 bytes)
_INFO64 = struct.Struct(f"=5Q4I{LO_NAME_SIZE}s{LO_NAME_SIZE}s32s2Q")
_INFO_FLAGS_OFFSET = 5 * 8 + 3 * 4  # lo_flags
MS_NOSUID = 2
MS_NODEV = 4
MNT_DETACH = 2
ATTACH_ATTEMPTS = 20


class DiskImageError(SandboxError):
    """The sandbox's disk image could not be made or mounted."""


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _oserror(what: str) -> OSError:
    code = ctypes.get_errno()
    return OSError(code, f"{what}: {os.strerror(code)}")


def mkfs_argv(image: Path, *, prezeroed: bool = True) -> list[str]:
    """``mkfs.ext4`` as fast as it goes on a new sparse file (no discard, lazy init)."""
    extended = "lazy_itable_init=1,lazy_journal_init=1,nodiscard"
    if prezeroed:  # e2fsprogs 1.47+: marks the tables zeroed, nothing left to initialise
        extended += ",assume_storage_prezeroed=1"
    mkfs = shutil.which("mkfs.ext4") or "/sbin/mkfs.ext4"
    # -m 0: no blocks reserved for root (the sandbox user would stop short of the limit)
    options = ["-q", "-F", "-T", "default", "-m", "0", "-i", str(INODE_RATIO)]
    return [mkfs, *options, "-E", extended, str(image)]


def loop_devices_of(image: Path) -> list[str]:
    """The loop devices (``/dev/loopN``) whose backing file is ``image``."""
    found = []
    wanted = str(image)
    for entry in sorted(Path("/sys/block").glob("loop*")):
        with contextlib.suppress(OSError):
            backing = (entry / "loop" / "backing_file").read_text(encoding="utf-8").rstrip("\n")
            if backing == wanted:
                found.append(f"/dev/{entry.name}")
    return found


def _status_with_autoclear(name: str) -> bytes:
    info = bytearray(_INFO64.size)
    struct.pack_into("=I", info, _INFO_FLAGS_OFFSET, LO_FLAGS_AUTOCLEAR)
    raw = os.fsencode(name)[: LO_NAME_SIZE - 1]
    start = _INFO_FLAGS_OFFSET + 4
    info[start : start + len(raw)] = raw
    return bytes(info)


def _configure(loop_fd: int, image_fd: int, name: str) -> None:
    """Bind ``image_fd`` to the loop device, autoclear set (LOOP_CONFIGURE, else the
    two calls older kernels have)."""
    status = _status_with_autoclear(name)
    config = struct.pack("=II", image_fd, 0) + status + bytes(64)
    try:
        fcntl.ioctl(loop_fd, LOOP_CONFIGURE, config)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTTY):
            raise
    else:
        return
    fcntl.ioctl(loop_fd, LOOP_SET_FD, image_fd)
    try:
        fcntl.ioctl(loop_fd, LOOP_SET_STATUS64, status)
    except OSError:
        with contextlib.suppress(OSError):
            fcntl.ioctl(loop_fd, LOOP_CLR_FD, 0)
        raise


def attach(image: Path) -> tuple[str, int]:
    """A free loop device bound to ``image``: (its path, an open fd on it)."""
    control = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
    try:
        image_fd = os.open(image, os.O_RDWR | os.O_CLOEXEC)
        try:
            for _ in range(ATTACH_ATTEMPTS):
                number = fcntl.ioctl(control, LOOP_CTL_GET_FREE)
                device = f"/dev/loop{number}"
                for _ in range(50):  # udev/devtmpfs may take a moment to add the node
                    if os.path.exists(device):
                        break
                    time.sleep(0.01)
                loop_fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
                try:
                    _configure(loop_fd, image_fd, str(image))
                except OSError as exc:
                    os.close(loop_fd)
                    if exc.errno == errno.EBUSY:  # another process took it first
                        continue
                    raise
                return device, loop_fd
        finally:
            os.close(image_fd)
    finally:
        os.close(control)
    raise OSError(errno.EBUSY, "no free loop device")


def detach(device: str) -> bool:
    """Free ``device`` unless it is in use (mounted); True if it was freed."""
    try:
        fd = os.open(device, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.ioctl(fd, LOOP_CLR_FD, 0)
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


class DiskImage:
    """The image file ``directory/disk.img`` of ``size`` bytes, mounted at ``directory/disk``."""

    def __init__(self, directory: Path, size: int) -> None:
        self.directory = directory
        self.size = max(size, MIN_SIZE)
        self.image = directory / IMAGE
        self.mountpoint = directory / MOUNTPOINT

    def exists(self) -> bool:
        return self.image.is_file()

    def is_mounted(self) -> bool:
        return os.path.ismount(self.mountpoint)

    def _lock(self) -> contextlib.AbstractContextManager[bool]:
        return fsutil.file_lock(self.directory / ".disk.lock")

    def ensure(self) -> None:
        """The image made (when missing) and mounted. Idempotent, safe to run concurrently."""
        if self.is_mounted():
            return
        with self._lock():
            if self.is_mounted():
                return
            if not self.exists():
                self._create()
            self._mount()

    def _create(self) -> None:
        """A new empty filesystem, renamed into place only once complete."""
        staged = self.image.with_name(f"{IMAGE}.new")
        staged.unlink(missing_ok=True)
        try:
            with staged.open("wb") as f:
                f.truncate(self.size)  # sparse: no block is written
            os.chmod(staged, 0o600)
            result = proc.run(mkfs_argv(staged), check=False)
            if result.returncode != 0 and "assume_storage_prezeroed" in result.stderr:
                result = proc.run(mkfs_argv(staged, prezeroed=False), check=False)
            if result.returncode != 0:
                raise DiskImageError(
                    f"could not make the sandbox's disk image: {proc.describe_failure(result)}",
                    hint='install e2fsprogs (mkfs.ext4), or set `sandbox.disk: ""` for no limit',
                )
            os.rename(staged, self.image)
        except OSError as exc:
            raise DiskImageError(
                f"could not make the sandbox's disk image {self.image}: {exc}",
                hint="is there room on the disk of ISOLLM_HOME?",
            ) from exc
        finally:
            staged.unlink(missing_ok=True)

    def _mount(self) -> None:
        self.mountpoint.mkdir(mode=0o755, exist_ok=True)
        stale = loop_devices_of(self.image)
        fd = -1
        try:
            if stale:  # left by a crash: reuse it, never attach the image twice
                device = stale[0]
                log.info("reusing loop device %s left attached to %s", device, self.image)
            else:
                device, fd = attach(self.image)
            flags = ctypes.c_ulong(MS_NOSUID | MS_NODEV)
            result = _libc().mount(
                os.fsencode(device),
                os.fsencode(self.mountpoint),
                b"ext4",
                flags,
                MOUNT_OPTIONS.encode(),
            )
            if result != 0:
                raise _oserror(f"mount {device} on {self.mountpoint}")
        except OSError as exc:
            raise DiskImageError(
                f"could not mount the sandbox's disk image {self.image}: {exc}",
                hint="loop devices are needed for `sandbox.disk` (run as root, `modprobe loop`)"
                '; or set `sandbox.disk: ""` for no limit',
            ) from exc
        finally:
            if fd >= 0:
                os.close(fd)  # autoclear: the device now lives exactly as long as the mount

    def unmount(self) -> None:
        """Unmount (lazily if busy) and free the loop devices left on the image."""
        target = os.fsencode(self.mountpoint)
        if self.is_mounted() and _libc().umount2(target, 0) != 0:
            error = _oserror(f"unmount {self.mountpoint}")
            if _libc().umount2(target, MNT_DETACH) != 0:
                raise SandboxError(
                    f"could not unmount the disk of sandbox {self.directory.name}: {error}",
                    hint="is a process still using it? see `fuser -vm` on that directory",
                )
        for device in loop_devices_of(self.image):
            detach(device)  # a busy one (lazily unmounted) clears itself once released

    def remove(self) -> None:
        """Unmount and delete the image and everything in it. Idempotent."""
        self.unmount()
        self.image.unlink(missing_ok=True)
        self.image.with_name(f"{IMAGE}.new").unlink(missing_ok=True)
        if self.mountpoint.is_dir() and not self.is_mounted():
            shutil.rmtree(self.mountpoint, ignore_errors=True)

    def usage(self) -> int:
        """Bytes the image takes on the host's disk."""
        try:
            return self.image.stat().st_blocks * 512
        except FileNotFoundError:
            return 0
