"""Escape attempts from inside every isolating backend must fail (and a control must pass).

Each attempt runs as an agent would: a command in the sandbox, here a shell script.
The host side then checks that nothing happened.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.attack_support import attempt, recording
from tests.integration.sandbox_support import (
    ISOLATING,
    Factory,
    container_base,
    factory_for,
    podman_image,
    unmount_under,
)

__all__ = ["container_base", "factory_for", "podman_image"]

Make = Callable[[str], Factory]
SECRET = "s3cret-token-of-the-host"


@pytest.fixture(params=ISOLATING)
def factory(request: pytest.FixtureRequest, factory_for: Make) -> Factory:
    return factory_for(request.param)


@pytest.fixture
def home_outside_tmp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """ISOLLM_HOME away from /tmp (hidden anyway): only hiding it protects workspaces."""
    home = Path(tempfile.mkdtemp(prefix="isollm-data-", dir="/var/tmp"))
    monkeypatch.setenv("ISOLLM_HOME", str(home))
    yield home
    unmount_under(home)
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def listener() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP server on the host's 127.0.0.1 recording what connections send."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    with recording(server) as received:
        yield port, received


CONNECT = 'exec 3<>"/dev/tcp/127.0.0.1/$1" && echo hello >&3 && echo CONNECTED'


class TestEscapes:
    def test_cannot_write_outside_the_workspace(self, factory: Factory, tmp_path: Path) -> None:
        sb = factory.make()
        targets = [
            tmp_path / "escaped.txt",
            factory.repo / "escaped.txt",  # the user's own checkout
            Path("/etc/isollm-escaped"),
            Path("/usr/local/isollm-escaped"),
            Path("/var/tmp/isollm-escaped-" + factory.project),
        ]
        script = 'for p in "$@"; do echo pwned > "$p" && echo "WROTE $p"; done; true'
        attempt(sb, script, *map(str, targets))
        assert [t for t in targets if t.exists()] == []
        assert factory.hub.path.is_dir()

    def test_cannot_read_a_secret_in_the_hosts_home(
        self, factory: Factory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # A HOME outside /tmp, /root and /home: only hiding $HOME itself protects it.
        home = Path(tempfile.mkdtemp(prefix="isollm-home-", dir="/var/tmp"))
        try:
            monkeypatch.setenv("HOME", str(home))
            secret = home / ".config" / "token"
            secret.parent.mkdir(parents=True)
            secret.write_text(SECRET)
            sb = factory.make()
            script = 'cat "$1"; grep -rs s3cret "$2" /root /home; true'
            out = attempt(sb, script, str(secret), str(home))
            assert SECRET not in out
        finally:
            shutil.rmtree(home)

    def test_cannot_remount_root_or_mount_anything(self, factory: Factory) -> None:
        sb = factory.make()
        out = attempt(
            sb,
            "mount -o remount,rw / && echo REMOUNTED; "
            "mount -t tmpfs none /mnt && echo MOUNTED; "
            "touch /usr/isollm-escaped && echo TOUCHED; true",
        )
        assert "REMOUNTED" not in out
        assert "MOUNTED" not in out
        assert "TOUCHED" not in out
        assert not Path("/usr/isollm-escaped").exists()

    def test_network_none_cannot_reach_the_host(
        self, factory: Factory, listener: tuple[int, list[bytes]]
    ) -> None:
        port, received = listener
        sb = factory.make(network="none")
        out = attempt(sb, f"bash -c '{CONNECT}' bash \"$1\"; true", str(port))
        assert "CONNECTED" not in out
        assert received == []

    def test_network_host_does_reach_the_host(
        self, factory: Factory, listener: tuple[int, list[bytes]]
    ) -> None:
        port, received = listener
        sb = factory.make(network="host")
        out = attempt(sb, f"bash -c '{CONNECT}' bash \"$1\"; true", str(port))
        assert "CONNECTED" in out  # the control: the attempt above is a real one
        deadline = time.monotonic() + 5
        while not received and time.monotonic() < deadline:
            time.sleep(0.05)
        assert received == [b"hello\n"]

    def test_cannot_see_another_workers_workspace(
        self, home_outside_tmp: Path, factory: Factory
    ) -> None:
        a, b = factory.make("wa"), factory.make("wb")
        attempt(a, "echo private-to-a > marker.txt")
        # The workspace as the host sees it; mounted only inside a's own commands when
        # the overlay lives in their namespaces (a normal user): then its directory.
        where = a.host_workspace or a.record.directory
        out = attempt(
            b,
            'cat "$1/marker.txt" "$1/upper/marker.txt" marker.txt; ls "$1" "$2"; true',
            str(where),
            str(a.record.directory.parent),
        )
        assert "private-to-a" not in out
        assert "wa" not in out.split()

    def test_cannot_signal_a_host_process(self, factory: Factory) -> None:
        sb = factory.make()
        host = subprocess.Popen(["sleep", "60"])
        try:
            attempt(sb, 'kill -KILL "$1"; kill -TERM "$1"; true', str(host.pid))
            with pytest.raises(subprocess.TimeoutExpired):
                host.wait(0.5)
        finally:
            host.kill()
            host.wait()

    def test_cannot_plant_hooks_or_config_in_the_hub(self, factory: Factory) -> None:
        # The host fetches into and reads the hub: a hook or a config setting there
        # would run on the host.
        hub = factory.hub.path
        sb = factory.make()
        before = (hub / "config").read_text()
        script = (
            'printf "#!/bin/sh\\ntouch /tmp/pwned\\n" > "$1/hooks/post-receive" && echo HOOK; '
            'git --git-dir="$1" config core.hooksPath /tmp && echo CONFIG; true'
        )
        out = attempt(sb, script, str(hub))
        assert "HOOK" not in out
        assert "CONFIG" not in out
        assert not (hub / "hooks" / "post-receive").exists()
        assert (hub / "config").read_text() == before
        pushed = attempt(sb, "git push -q origin HEAD:refs/heads/isollm/nope && echo PUSHED")
        assert "PUSHED" not in pushed  # the hub is read-only: work leaves by the host's intake
        assert "refs/heads/isollm/nope" not in factory.hub.git().out("for-each-ref")

    def test_the_workspace_git_config_never_runs_on_the_host(
        self, factory: Factory, tmp_path: Path
    ) -> None:
        marker = Path(f"/var/tmp/isollm-pwned-{factory.project}")
        sb = factory.make()
        script = (
            'git config core.fsmonitor "touch $1"; '
            'git config filter.x.clean "touch $1; cat"; echo "* filter=x" > .gitattributes; '
            "echo changed >> README.md"
        )
        attempt(sb, script, str(marker))
        try:
            state = sb.work_state()  # the host asks; git runs inside
            assert "README.md" in " ".join(state.uncommitted)
            assert not marker.exists()
        finally:
            marker.unlink(missing_ok=True)


def test_the_worktree_backend_says_it_does_not_isolate(factory_for: Make) -> None:
    sb = factory_for("worktree").make()
    assert sb.info().isolated is False
