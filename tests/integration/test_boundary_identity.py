"""Who a sandbox is on the host: never root, no sockets, no new user namespaces.

Attacks run from inside real overlay sandboxes; the host then checks what happened. The
last test runs isollm as a normal user (made here when the suite runs as root).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from isollm.sandbox import identity
from isollm.sandbox.base import TASK_SOCKET
from tests.integration.attack_support import attempt, recording
from tests.integration.sandbox_support import Factory, factory_for

__all__ = ["factory_for"]

ROOT = os.geteuid() == 0
CONNECT = textwrap.dedent(
    """
    import socket, sys
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(sys.argv[1]); s.sendall(b"hello from inside"); print("CONNECTED")
    except OSError as exc:
        print("REFUSED", exc)
    """
)


@pytest.fixture
def overlay(factory_for: object) -> Factory:
    return factory_for("overlay")  # type: ignore[operator] # the fixture is a callable


@contextlib.contextmanager
def unix_listener(path: Path, mode: int) -> Iterator[list[bytes]]:
    """A root-owned Unix socket at ``path`` with ``mode``, recording what it receives."""
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    os.chmod(path, mode)
    server.listen()
    try:
        with recording(server) as got:
            yield got
    finally:
        path.unlink(missing_ok=True)


@pytest.mark.skipif(not ROOT, reason="the dedicated sandbox uid exists only when run as root")
class TestNeverHostRoot:
    def test_root_only_files_are_unreadable(self, overlay: Factory) -> None:
        secret = Path(tempfile.mkdtemp(prefix="isollm-secret-", dir="/var/tmp"))
        try:
            secret.chmod(0o755)
            (secret / "key").write_text("root-only-secret\n")
            (secret / "key").chmod(0o600)
            sb = overlay.make()
            out = attempt(sb, 'cat /etc/shadow; cat "$1"; echo DONE', str(secret / "key"))
            assert "DONE" in out
            assert "root:" not in out
            assert "root-only-secret" not in out
        finally:
            shutil.rmtree(secret)

    def test_the_sandbox_runs_and_writes_as_the_projects_unprivileged_uid(
        self, overlay: Factory
    ) -> None:
        sb = overlay.make()
        expected = identity.for_project(overlay.project).uid
        assert expected >= identity.ID_FIRST
        assert identity.for_project(overlay.project).uid == expected  # stable
        job = sb.spawn(["sh", "-c", "touch made-inside && sleep 30"])
        try:
            for _ in range(100):
                if sb.host_workspace and (sb.host_workspace / "made-inside").exists():
                    break
                threading.Event().wait(0.05)
            uids = {_uid_of(pid) for pid in [job.pid, *_descendants(job.pid)]}
        finally:
            job.kill()
        assert uids == {expected}
        assert sb.host_workspace is not None
        assert (sb.host_workspace / "made-inside").stat().st_uid == expected
        assert (sb.host_workspace / "README.md").stat().st_uid == expected

    @pytest.mark.parametrize("network", ["none", "host"])
    def test_host_unix_sockets_are_out_of_reach(self, overlay: Factory, network: str) -> None:
        visible = Path(tempfile.mkdtemp(prefix="isollm-sock-", dir="/var/tmp"))
        run_dir = Path(tempfile.mkdtemp(prefix="isollm-sock-", dir="/run"))
        try:
            visible.chmod(0o755)
            run_dir.chmod(0o755)
            with (
                unix_listener(visible / "daemon.sock", 0o660) as got_a,
                unix_listener(run_dir / "open.sock", 0o666) as got_b,
            ):
                sb = overlay.make(network=network)
                out_a = attempt(sb, 'python3 -c "$1" "$2"', CONNECT, str(visible / "daemon.sock"))
                out_b = attempt(sb, 'python3 -c "$1" "$2"', CONNECT, str(run_dir / "open.sock"))
            assert "REFUSED" in out_a  # root-owned 0660: the sandbox is not root
            assert "REFUSED" in out_b  # /run is hidden
            assert got_a == got_b == []
        finally:
            shutil.rmtree(visible)
            shutil.rmtree(run_dir)


class TestInside:
    def test_no_new_user_namespaces(self, overlay: Factory) -> None:
        sb = overlay.make()
        out = attempt(
            sb,
            "unshare -U true && echo UNSHARED; unshare -Ur true && echo ROOTED; "
            "bwrap --ro-bind / / true && echo NESTED; echo DONE",
        )
        assert "DONE" in out
        assert "UNSHARED" not in out
        assert "ROOTED" not in out
        assert "NESTED" not in out

    def test_the_task_servers_socket_is_bound_in_even_without_network(
        self, overlay: Factory
    ) -> None:
        where = Path(tempfile.mkdtemp(prefix="isollm-task-", dir="/var/tmp"))
        try:
            with unix_listener(where / "server.sock", 0o666) as got:
                sb = overlay.make(network="none", task_socket=str(where / "server.sock"))
                out = attempt(sb, 'python3 -c "$1" "$2"', CONNECT, TASK_SOCKET)
                assert "CONNECTED" in out
                for _ in range(50):
                    if got:
                        break
                    threading.Event().wait(0.05)
            assert got == [b"hello from inside"]
        finally:
            shutil.rmtree(where)

    def test_commands_have_no_controlling_terminal(self, overlay: Factory) -> None:
        sb = overlay.make()
        out = attempt(sb, "(: < /dev/tty) 2>/dev/null && echo HAS_TTY; echo DONE")
        assert out.strip() == "DONE"


def _uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for {pid}")


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


# --- isollm run by a normal user -------------------------------------------------------
NORMAL_USER = "isollm-test"
AS_USER = textwrap.dedent(
    """
    import os, subprocess, sys
    from pathlib import Path
    home = Path(sys.argv[1])
    os.environ["ISOLLM_HOME"] = str(home / ".isollm")
    from isollm.git.hub import Hub
    from isollm.git.sync import push_base
    from isollm.sandbox import registry
    from isollm.sandbox.base import SandboxSpec
    repo = home / "repo"
    repo.mkdir()
    def git(*args):
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)
    git("init", "-q", "-b", "main")
    (repo / "a.txt").write_text("from the base\\n")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base")
    hub = Hub.for_project("p").ensure()
    push_base(repo, hub, "main")
    sb = registry.create(SandboxSpec(name="w1", project="p", hub=hub.path), "overlay")
    print("MODE", sb.record.mode, "NOTES", sb.record.notes)
    out = sb.exec(["sh", "-c", "cat a.txt; echo new > b.txt; git status --short; "
                   "unshare -U true || echo NO_USERNS"])
    print(out.stdout, out.stderr, "EXIT", out.returncode)
    upper = sb.record.directory / "upper"
    print("UPPER", sorted(p.name for p in upper.iterdir()))
    print("OWNER", (upper / "b.txt").stat().st_uid == os.getuid())
    sb.destroy()
    print("GONE", not sb.record.directory.exists())
    """
)


def _python_for(user: pwd.struct_passwd) -> str:
    """This Python, or the system's of the same version when the user cannot run it
    (a virtualenv over a Python installed in root's home)."""
    for candidate in (
        sys.executable,
        f"/usr/bin/python{sys.version_info[0]}.{sys.version_info[1]}",
    ):
        probe = ["setpriv", "--reuid", str(user.pw_uid), "--regid", str(user.pw_gid)]
        again = "import subprocess, sys; subprocess.run([sys.executable, '-c', ''], check=True)"
        probe += ["--clear-groups", "--", candidate, "-c", again]
        if not ROOT or subprocess.run(probe, capture_output=True, check=False).returncode == 0:
            return candidate
    pytest.skip(f"no Python {sys.version_info[:2]} that user {user.pw_name} can run")


@pytest.fixture
def normal_user() -> Iterator[pwd.struct_passwd]:
    """A normal user to run isollm as (made with useradd when the suite runs as root)."""
    if not ROOT:
        yield pwd.getpwuid(os.getuid())
        return
    if shutil.which("useradd") is None:
        pytest.skip("running as root without useradd: no normal user can be made")
    with contextlib.suppress(KeyError):
        pwd.getpwnam(NORMAL_USER)
        subprocess.run(["userdel", "-r", NORMAL_USER], check=False, capture_output=True)
    subprocess.run(["useradd", "-m", "-s", "/bin/sh", NORMAL_USER], check=True)
    try:
        yield pwd.getpwnam(NORMAL_USER)
    finally:
        subprocess.run(["userdel", "-r", NORMAL_USER], check=False, capture_output=True)


def user_workdir(user: pwd.struct_passwd) -> Path:
    """A fresh directory of ``user``'s, in its home."""
    home = Path(tempfile.mkdtemp(prefix="work-", dir=user.pw_dir))
    os.chown(home, user.pw_uid, user.pw_gid)
    return home


def run_as_user(
    user: pwd.struct_passwd, script: str, *args: str, timeout: float
) -> subprocess.CompletedProcess[str]:
    """``python -c script args...`` as ``user`` (through setpriv when run as root), with
    this checkout's isollm and the test environment's packages importable."""
    argv = [_python_for(user), "-c", script, *args]
    if ROOT:
        ids = ["--reuid", str(user.pw_uid), "--regid", str(user.pw_gid)]
        argv = ["setpriv", *ids, "--clear-groups", "--", *argv]
    env = {"HOME": user.pw_dir, "PATH": os.environ["PATH"], "GIT_CONFIG_NOSYSTEM": "1"}
    site = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2] / "src"), *site])
    return subprocess.run(
        argv, check=False, capture_output=True, text=True, env=env, timeout=timeout
    )


def test_a_normal_user_gets_the_overlay_in_its_own_namespaces(
    normal_user: pwd.struct_passwd,
) -> None:
    home = user_workdir(normal_user)
    result = run_as_user(normal_user, AS_USER, str(home), timeout=120)
    out = result.stdout
    assert result.returncode == 0, result.stdout + result.stderr
    assert "MODE overlay-ns NOTES []" in out  # the overlay, not a full clone, no warning
    assert "from the base" in out
    assert "?? b.txt" in out
    assert "NO_USERNS" in out
    assert "UPPER ['.git', 'b.txt']" in out  # the work went to the upper directory only
    assert "OWNER True" in out
    assert "GONE True" in out
