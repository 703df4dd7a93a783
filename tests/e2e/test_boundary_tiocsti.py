"""Keystroke injection (TIOCSTI) from a sandbox never reaches the user's terminal.

The user's terminal is a real pty made here; ``isollm worker exec|shell`` runs on it as
its controlling terminal, as from an interactive shell. Code inside pushes a command
into "its" terminal with TIOCSTI; afterwards nothing may be waiting in the user's
terminal's input (where the user's shell would read and run it). A control runs the
same injector straight on the user's terminal and shows the check sees an injection.
"""

from __future__ import annotations

import dataclasses
import os
import select
import subprocess
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from isollm import config as cfg
from isollm import fsutil
from isollm.sandbox import registry
from tests.conftest import git
from tests.e2e.cli import ISOLLM, isollm
from tests.integration.sandbox_support import (
    ISOLATING,
    container_base,
    podman_image,
    require_backend,
    unique_project,
    unmount_under,
)

__all__ = ["container_base", "podman_image"]
BACKENDS = ISOLATING

PAYLOAD = b"echo PWNED\n"
# Pushes PAYLOAD into the controlling terminal (or fd 0 when there is none) with TIOCSTI
# (0x5412), and tells which terminal its stdin is and whether the kernel took the
# keystrokes. Perl, not Python: the container images have only perl (essential in Debian).
INJECT = r"""
$| = 1;
my $t;
if (!open($t, "+<", "/dev/tty")) { print "no-ctty\n"; open($t, "+<&=", 0) or die "fd 0: $!"; }
my @st = stat(STDIN);
print "stdin $st[0]:$st[6]\n";
my $ok = 1;
for my $c (split //, "echo PWNED\n") { $ok = 0 unless ioctl($t, 0x5412, $c); }
print $ok ? "INJECTED\n" : "refused $!\n";
"""
TIMEOUT = 60.0


@pytest.fixture(scope="module")
def legacy_tiocsti() -> None:
    knob = Path("/proc/sys/dev/tty/legacy_tiocsti")
    if knob.exists() and knob.read_text().strip() == "0":
        pytest.skip("this kernel refuses TIOCSTI altogether (dev.tty.legacy_tiocsti = 0)")


@pytest.fixture(params=BACKENDS)
def project(git_repo: Path, legacy_tiocsti: None, request: pytest.FixtureRequest) -> Iterator[Path]:
    backend = request.param
    require_backend(request, backend)
    isollm(git_repo, "init")
    loaded = cfg.load(git_repo)  # a project name of its own: containers are host-wide
    sandbox = dataclasses.replace(loaded.config.sandbox, backend=backend)
    cfg.save(
        loaded.path, dataclasses.replace(loaded.config, project=unique_project(), sandbox=sandbox)
    )
    (git_repo / ".gitignore").write_text(".isollm/\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "isollm init")
    isollm(git_repo, "worker", "add", "w1")
    yield git_repo
    for sb in registry.list_sandboxes(cfg.load(git_repo).config.project)[0]:
        sb.destroy()
    unmount_under(fsutil.isollm_home())


class Terminal:
    """A pty standing for the user's terminal; commands run with it as controlling tty."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        st = os.fstat(self.slave)
        self.device = f"{st.st_dev}:{st.st_rdev}"  # as the injector prints its stdin

    def close(self) -> None:
        os.close(self.master)
        os.close(self.slave)

    def run(
        self, argv: list[str], cwd: Path, typed: bytes = b"", after: bytes = b""
    ) -> tuple[int, str]:
        """Run ``argv`` on this terminal, typing ``typed`` once it showed ``after``; its
        exit code and everything it showed."""
        child = subprocess.Popen(
            ["setsid", "--ctty", *argv],
            cwd=cwd,
            stdin=self.slave,
            stdout=self.slave,
            stderr=self.slave,
        )
        shown = b""
        deadline = time.monotonic() + TIMEOUT
        while child.poll() is None:
            assert time.monotonic() < deadline, shown
            if typed and after in shown:
                os.write(self.master, typed)
                typed = b""
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                shown += os.read(self.master, 65536)
        while select.select([self.master], [], [], 0.3)[0]:
            shown += os.read(self.master, 65536)
        return child.returncode, shown.decode(errors="replace")

    def pending_input(self) -> bytes:
        """What the user's shell would read next from this terminal."""
        attrs = termios.tcgetattr(self.slave)
        attrs[3] &= ~termios.ICANON  # whatever is there, line complete or not
        termios.tcsetattr(self.slave, termios.TCSANOW, attrs)
        os.set_blocking(self.slave, False)
        try:
            return (
                os.read(self.slave, 65536) if select.select([self.slave], [], [], 0.5)[0] else b""
            )
        finally:
            os.set_blocking(self.slave, True)


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    term = Terminal()
    yield term
    term.close()


def test_control_an_injector_on_the_users_terminal_is_seen(
    terminal: Terminal, tmp_path: Path, legacy_tiocsti: None
) -> None:
    code, shown = terminal.run(["perl", "-e", INJECT], tmp_path)
    assert code == 0, shown
    assert "INJECTED" in shown, shown
    assert terminal.pending_input() == PAYLOAD


def test_worker_exec_on_a_terminal_gives_the_sandbox_a_terminal_of_its_own(
    project: Path, terminal: Terminal
) -> None:
    argv = [ISOLLM, "worker", "exec", "w1", "--", "perl", "-e", INJECT]
    code, shown = terminal.run(argv, project)
    assert code == 0, shown
    assert "INJECTED" in shown, shown  # the kernel took them: into the sandbox's own pty
    stdin = next(line for line in shown.splitlines() if line.startswith("stdin "))
    assert stdin.split()[1] != terminal.device  # not the user's terminal
    assert terminal.pending_input() == b""


def test_worker_exec_without_a_tty_has_no_controlling_terminal(
    project: Path, terminal: Terminal
) -> None:
    argv = [ISOLLM, "worker", "exec", "-T", "w1", "--", "perl", "-e", INJECT]
    code, shown = terminal.run(argv, project)
    assert code == 0, shown
    assert "no-ctty" in shown, shown
    assert "refused" in shown, shown
    stdin = next(line for line in shown.splitlines() if line.startswith("stdin "))
    assert stdin.split()[1] != terminal.device  # a pipe: the terminal is never handed over
    assert "INJECTED" not in shown
    assert terminal.pending_input() == b""


def test_a_profile_in_the_sandbox_home_cannot_type_into_the_users_shell(
    project: Path, terminal: Terminal
) -> None:
    plant = 'printf "%s\\n" "$1" > ~/inject.pl; echo "perl ~/inject.pl" > ~/.profile'
    isollm(project, "worker", "exec", "-T", "w1", "--", "sh", "-c", plant, "sh", INJECT)
    code, shown = terminal.run([ISOLLM, "worker", "shell", "w1"], project, b"exit 7\n", b"INJECTED")
    assert "INJECTED" in shown, shown
    assert "PWNED" in shown  # the sandbox's own shell read what was pushed: its input
    assert terminal.pending_input() == b""
    assert code == 7, shown
