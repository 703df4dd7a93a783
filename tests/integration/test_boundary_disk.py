"""Disk bombs from inside real overlay sandboxes, and include files for a normal user.

As root each sandbox's upper directory and home live in an ext4 image of ``sandbox.disk``
bytes (:mod:`isollm.sandbox.diskimage`) and /tmp is a sized tmpfs: a bomb of many small
files (so RLIMIT_FSIZE is not what stops it) ends with ENOSPC, the host's disk holds at
most the limit for it, other sandboxes keep working and the work from before is kept
across a simulated reboot. Crashes leave nothing that cannot be recovered.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from isollm.sandbox import diskimage, meta, mounts, registry
from isollm.sandbox.base import Limits, Sandbox
from isollm.sandbox.overlay import OverlaySandbox
from tests.integration.sandbox_support import Factory, factory_for
from tests.integration.test_boundary_identity import normal_user, run_as_user, user_workdir

__all__ = ["factory_for", "normal_user"]

ROOT = os.geteuid() == 0
LIMIT = "64M"
LIMIT_BYTES = 64 * 1024**2
MB = 1024**2
# Many 1 MB files into "$1" until a write fails; prints how many made it and why not.
BOMB = (
    'i=0; while err=$(dd if=/dev/zero of="$1/bomb$i" bs=1M count=1 2>&1); do '
    'i=$((i+1)); [ $i -lt 1000 ] || break; done; echo "FILES $i"; echo "$err"'
)
Make = Callable[[str], Factory]


def overlay_sandbox(factory: Factory, name: str = "w1", **changes: object) -> OverlaySandbox:
    sb = factory.make(name, limits=Limits(disk=LIMIT), **changes)
    assert isinstance(sb, OverlaySandbox)
    return sb


def flushed() -> None:
    """Everything written reaches the host's disk: through the loop device, then its file."""
    os.sync()
    os.sync()


def allocated_below(path: Path) -> int:
    """Bytes the files below ``path`` take on the host's disk (mounts not entered)."""
    flushed()
    total = 0
    device = path.stat().st_dev
    for root, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if os.lstat(os.path.join(root, d)).st_dev == device]
        for name in files:
            st = os.lstat(os.path.join(root, name))
            if st.st_dev == device:
                total += st.st_blocks * 512
    return total


def loop_mounts() -> dict[str, str]:
    """Mount point -> source of every loop device mount."""
    found = {}
    for line in Path("/proc/self/mounts").read_text().splitlines():
        source, target = line.split()[:2]
        if source.startswith("/dev/loop"):
            found[target] = source
    return found


def no_loop_device(image: Path) -> bool:
    """No loop device on ``image`` any more (within seconds: a command of another isollm
    home started while it was mounted may hold a copy of the mount until it exits)."""
    for _ in range(100):
        if not diskimage.loop_devices_of(image):
            return True
        time.sleep(0.05)
    return False


def run(sb: Sandbox, script: str, *args: str) -> str:
    result = sb.exec(["sh", "-c", script, "sh", *args], timeout=120)
    assert not result.timed_out
    return result.stdout + result.stderr


@pytest.fixture
def overlay(factory_for: Make) -> Factory:
    return factory_for("overlay")


@pytest.mark.skipif(not ROOT, reason="a loop-mounted disk per sandbox needs root")
class TestDiskBomb:
    @pytest.mark.parametrize("where", ["workspace", "home", "tmp"])
    def test_a_bomb_of_many_files_stops_at_the_limit(self, overlay: Factory, where: str) -> None:
        sb = overlay_sandbox(overlay)
        assert sb.ws.disk is not None
        setup = "echo precious > work.txt && git add work.txt && git commit -qm work && echo OK"
        assert run(sb, setup).strip() == "OK"
        target = {"workspace": sb.workspace, "home": "/home/dev", "tmp": "/tmp"}[where]
        before = allocated_below(sb.record.directory)

        out = run(sb, BOMB, target)

        files = int(out.split("FILES ")[1].split()[0])
        assert "No space left on device" in out or "Disk quota exceeded" in out, out
        assert 16 <= files <= LIMIT_BYTES // MB, out  # many files, none past the limit
        grown = allocated_below(sb.record.directory) - before
        assert grown <= LIMIT_BYTES  # what the host's disk holds for this sandbox
        assert sb.ws.disk.usage() <= LIMIT_BYTES
        if where != "tmp":  # the bomb did reach the host's disk, inside the image
            assert grown >= LIMIT_BYTES // 2
        other = overlay_sandbox(overlay, "w2")
        assert run(other, "echo fine > f && cat f && echo x > ~/h && cat ~/h") == "fine\nx\n"

        # a reboot: every mount and loop device gone, then start() mounts it all again
        sb.stop()
        assert not sb.ws.is_mounted()
        assert not sb.ws.disk.is_mounted()
        assert no_loop_device(sb.ws.disk.image)
        again = registry.open_sandbox(overlay.project, "w1")
        assert again.status().value == "stopped"
        again.start()
        log = run(again, "cat work.txt; git log -1 --format=%s")
        assert log == "precious\nwork\n"
        # the space comes back once the agent deletes its files
        cleanup = f'rm -f "$1"/bomb*; echo more > more.txt && echo OK || echo "{where} FULL"'
        assert run(again, cleanup, target).strip() == "OK"

    def test_tmp_is_fresh_and_sized_per_command(self, overlay: Factory) -> None:
        sb = overlay_sandbox(overlay)
        assert run(sb, "touch /tmp/left; df -B1 --output=size /tmp | tail -1").strip() == str(
            LIMIT_BYTES
        )
        assert run(sb, "[ -e /tmp/left ] || echo FRESH").strip() == "FRESH"

    def test_reset_gives_a_new_empty_disk_and_frees_the_old_one(self, overlay: Factory) -> None:
        sb = overlay_sandbox(overlay)
        assert sb.ws.disk is not None
        run(sb, 'dd if=/dev/zero of="$HOME/big" bs=1M count=20 2>/dev/null')
        flushed()
        assert sb.ws.disk.usage() >= 20 * MB
        sb.reset()
        assert sb.ws.disk.usage() < 8 * MB  # the old image's blocks went back to the host
        assert run(sb, 'ls "$HOME"; cat README.md') == "# sample\n"
        assert len(diskimage.loop_devices_of(sb.ws.disk.image)) == 1


@pytest.mark.skipif(not ROOT, reason="a loop-mounted disk per sandbox needs root")
class TestCrashes:
    def test_a_stale_loop_device_is_reused_then_freed(self, overlay: Factory) -> None:
        sb = overlay_sandbox(overlay)
        disk = sb.ws.disk
        assert disk is not None
        run(sb, "echo kept > kept.txt")
        sb.stop()
        # a crash left the image attached (losetup does not set autoclear)
        attached = subprocess.run(
            ["losetup", "--find", "--show", str(disk.image)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        assert diskimage.loop_devices_of(disk.image) == [attached]

        again = registry.open_sandbox(overlay.project, "w1")
        again.start()
        assert loop_mounts()[str(disk.mountpoint)] == attached  # reused, not attached twice
        assert diskimage.loop_devices_of(disk.image) == [attached]
        assert run(again, "cat kept.txt") == "kept\n"
        again.destroy()
        assert no_loop_device(disk.image)
        assert not sb.record.directory.exists()

    def test_a_create_killed_before_mounting_the_overlay_is_undone(
        self, overlay: Factory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        class Killed(BaseException):
            pass

        def killed(*_args: object, **_kwargs: object) -> None:
            raise Killed

        directory = meta.sandbox_dir(overlay.project, "w1")
        with monkeypatch.context() as patch:
            patch.setattr(mounts, "mount_overlay", killed)
            with pytest.raises(Killed):
                overlay_sandbox(overlay)
        assert not directory.exists()
        assert no_loop_device(directory / diskimage.IMAGE)
        assert not any(m.startswith(f"{directory}/") for m in loop_mounts())
        assert run(overlay_sandbox(overlay), "cat README.md") == "# sample\n"

    def test_a_sandbox_killed_midway_through_create_is_removed(self, overlay: Factory) -> None:
        """SIGKILL after the disk was mounted, before the overlay: the record is there
        (written first), so `worker remove` finds and frees it all."""
        sb = overlay_sandbox(overlay)
        disk = sb.ws.disk
        assert disk is not None
        sb.ws.unmount()
        disk.ensure()  # as the killed create left it: the disk mounted, no overlay
        (sb.record.directory / f"{diskimage.IMAGE}.new").write_bytes(b"half made")
        again = registry.open_sandbox(overlay.project, "w1")
        again.destroy()
        assert not sb.record.directory.exists()
        assert no_loop_device(disk.image)
        assert str(disk.mountpoint) not in loop_mounts()


# --- isollm run by a normal user: include files, and what the disk limit is then -----
AS_USER = textwrap.dedent(
    """
    import os, subprocess, sys
    from pathlib import Path
    home = Path(sys.argv[1])
    os.environ["ISOLLM_HOME"] = str(home / ".isollm")
    from isollm.git.hub import Hub
    from isollm.git.sync import push_base
    from isollm.sandbox import prepare, registry
    from isollm.sandbox.base import SandboxSpec
    repo = home / "repo"
    repo.mkdir()
    outside = home / "outside"
    outside.mkdir()
    def git(*args):
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)
    git("init", "-q", "-b", "main")
    (repo / ".gitignore").write_text(".env\\nconfig/local.toml\\n")
    (repo / ".worktreeinclude").write_text(".env\\nconfig/\\n")
    (repo / "a.txt").write_text("base\\n")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base")
    (repo / ".env").write_text("API_TOKEN=from-the-host\\n")
    (repo / ".env").chmod(0o600)
    (repo / "config").mkdir()
    (repo / "config" / "local.toml").write_text("debug = true\\n")
    hub = Hub.for_project("p").ensure()
    push_base(repo, hub, "main")
    # a branch on the hub whose checkout has config -> a directory outside
    git("checkout", "-qb", "evil")
    os.rename(repo / "config", home / "config.keep")
    os.symlink(str(outside), repo / "config")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "evil")
    git("push", "-q", str(hub.path), "evil:evil")
    git("checkout", "-q", "main")
    if (repo / "config").is_symlink():
        os.unlink(repo / "config")
    os.rename(home / "config.keep", repo / "config")
    include = prepare.worktree_includes(repo)
    print("INCLUDE", list(include))
    spec = SandboxSpec(name="w1", project="p", hub=hub.path, host_root=repo, include=include)
    sb = registry.create(spec, "overlay")
    print("MODE", sb.record.mode)
    out = sb.exec(["sh", "-c", "cat .env config/local.toml; stat -c '%a %U' .env"])
    print(out.stdout, out.stderr, "EXIT", out.returncode)
    print("NOTES", sb.info().notes)
    evil = registry.create(
        SandboxSpec(name="w2", project="p", hub=hub.path, host_root=repo, include=include,
                    work_branch="evil"), "overlay")
    out = evil.exec(["sh", "-c", "cat .env; readlink config"])
    print("EVIL", out.stdout.replace("\\n", "|"), out.returncode)
    print("OUTSIDE", sorted(p.name for p in outside.iterdir()))
    print("LOG", "not copied: config/local.toml" in evil.record.log_path.read_text())
    sb.destroy()
    evil.destroy()
    """
)


def test_a_normal_user_gets_include_files_and_an_honest_disk_note(
    normal_user: pwd.struct_passwd,
) -> None:
    home = user_workdir(normal_user)
    result = run_as_user(normal_user, AS_USER, str(home), timeout=180)
    out = result.stdout
    assert result.returncode == 0, result.stdout + result.stderr
    assert "INCLUDE ['.env', 'config/local.toml']" in out
    assert "MODE overlay-ns" in out
    assert "API_TOKEN=from-the-host\ndebug = true\n600 " in out  # copied, mode kept
    assert "EXIT 0" in out
    assert "RLIMIT_FSIZE" in out  # the note says the workspace itself has no size limit
    assert f"EVIL API_TOKEN=from-the-host|{home / 'outside'}|" in out  # the symlink is kept
    assert "OUTSIDE []" in out  # and nothing was written through it
    assert "LOG True" in out


@pytest.mark.skipif(not ROOT, reason="the sandbox uid differs from the hub's owner only as root")
def test_the_hub_stays_readable_to_the_sandbox_under_umask_077(factory_for: Make) -> None:
    old = os.umask(0o077)
    try:
        factory = factory_for("overlay")
        sb = overlay_sandbox(factory)
        fetch = "git fetch -q origin && git log -1 --format=%s origin/main"
        assert run(sb, fetch) == "initial commit\n"
        factory.host_commit("later", {"later.txt": "new objects, written under umask 077\n"})
        assert run(sb, fetch) == "later\n"
        mode = (factory.hub.path / "config").stat().st_mode
        assert not mode & 0o022  # readable by the sandbox's group, never writable
    finally:
        os.umask(old)
