"""The LXC base container: built once per image with debootstrap, then only cloned.

``isollm-base-debian-bookworm`` is a stopped container holding Debian with git, python3
(what the ``airyra`` program of an interactive session runs with), a ``dev`` user
(uid 1000) and ``tini`` as init (no services: nothing touches the host's network
when a worker shares it). Building takes about a minute the first time (debootstrap is
cached by LXC afterwards); a lock file makes concurrent callers wait for one build, and a
marker written last means a half-built base is rebuilt rather than used. A base built
before python3 was in it gets it installed in place (its clones keep working).
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from functools import cache
from pathlib import Path

from isollm import fsutil, proc
from isollm.errors import SandboxError
from isollm.sandbox.base import SandboxCommandError

log = logging.getLogger(__name__)

PACKAGES = "git,tini,ca-certificates,procps,less,python3"
PYTHON = "usr/bin/python3"  # added to bases built without it
INIT = "/usr/bin/tini -- /bin/sleep infinity"
MARKER = "etc/isollm-base"
BUILD_TIMEOUT = 1800.0
ADD_TIMEOUT = 300.0
BASE_CONFIG = "lxc.net.0.type = empty\nlxc.apparmor.profile = unconfined\n"
_RELEASE = re.compile(r"^[a-z]+$")


@cache
def lxc_path() -> Path:
    """Where LXC keeps containers (``lxc.lxcpath``)."""
    result = proc.run(["lxc-config", "lxc.lxcpath"], check=False, error=SandboxCommandError)
    return Path(result.stdout.strip() or "/var/lib/lxc")


def parse_image(image: str) -> str:
    """The Debian release of an image name like ``debian:bookworm``."""
    distro, _, release = image.partition(":")
    if distro != "debian" or not _RELEASE.match(release):
        raise SandboxError(
            f"the lxc backend builds Debian containers; {image!r} is not one",
            hint="set image to debian:<release> (for example debian:bookworm) in isollm.yaml",
        )
    return release


def base_name(image: str) -> str:
    return f"isollm-base-debian-{parse_image(image)}"


def base_ready(name: str) -> bool:
    return (lxc_path() / name / "rootfs" / MARKER).is_file()


def has_python(name: str) -> bool:
    return (lxc_path() / name / "rootfs" / PYTHON).exists()


def ensure_base(image: str) -> str:
    """The name of the base container for ``image``, building it if needed."""
    name = base_name(image)
    if base_ready(name) and has_python(name):
        return name
    with fsutil.file_lock(lxc_path() / f".{name}.lock"):
        if not base_ready(name):
            log.warning("building the LXC base container %s (once; about a minute)", name)
            _build(name, parse_image(image))
        elif not has_python(name):
            log.warning("adding python3 to the LXC base container %s (once)", name)
            _add_python(lxc_path() / name / "rootfs")
    return name


_APT = "apt-get update -q && apt-get install -y -q --no-install-recommends python3 && apt-get clean"


def _add_python(rootfs: Path) -> None:
    """python3 installed into an existing base's root filesystem. It needs the Debian
    mirror; without it the base stays usable (only a session's ``airyra`` needs python3,
    and ``isollm up`` says so) and the next worker made tries again."""
    argv = ["chroot", str(rootfs), "env", "DEBIAN_FRONTEND=noninteractive", "sh", "-c", _APT]
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    result = proc.run(argv, env=env, check=False, timeout=ADD_TIMEOUT, error=SandboxCommandError)
    if not result.ok:
        log.warning("could not install python3 in the LXC base: %s", result.stderr.strip()[-500:])


def _build(name: str, release: str) -> None:
    if (lxc_path() / name).exists():
        proc.run(["lxc-destroy", "-f", "-n", name], check=False, error=SandboxCommandError)
        shutil.rmtree(lxc_path() / name, ignore_errors=True)
    with tempfile.NamedTemporaryFile("w", suffix=".conf", prefix="isollm-lxc-") as conf:
        conf.write(BASE_CONFIG)
        conf.flush()
        argv = ["lxc-create", "-n", name, "-f", conf.name, "-t", "debian", "--"]
        argv += ["-r", release, f"--packages={PACKAGES}"]
        proc.run(argv, timeout=BUILD_TIMEOUT, error=SandboxCommandError, hint=_BUILD_HINT)
    _customize(lxc_path() / name)


_BUILD_HINT = "building needs debootstrap and the Debian mirror (apt-get install lxc debootstrap)"


def _customize(directory: Path) -> None:
    rootfs = directory / "rootfs"
    chroot = ["chroot", str(rootfs)]
    proc.run([*chroot, "groupadd", "-g", "1000", "dev"], error=SandboxCommandError)
    proc.run([*chroot, "useradd", "-m", "-u", "1000", "-g", "1000", "-s", "/bin/bash", "dev"])
    (rootfs / "etc/gitconfig").write_text("[safe]\n\tdirectory = *\n", encoding="utf-8")
    with (directory / "config").open("a", encoding="utf-8") as f:
        f.write(f"\n# isollm: no services, just a reaper\nlxc.init.cmd = {INIT}\n")
    (rootfs / MARKER).write_text("built by isollm\n", encoding="utf-8")
