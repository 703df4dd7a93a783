"""The pty relay on real pseudo-terminals: the user's terminal is one made here."""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import time

RELAY = """
import sys
from isollm.sandbox import ptyrelay
sys.exit(ptyrelay.run(sys.argv[1:]))
"""
INSPECT = """
import os
print("size", os.popen("stty size").read().strip(), flush=True)
st = os.fstat(0)
print("stdin", f"{st.st_dev}:{st.st_rdev}", flush=True)
print("sid", os.getsid(0) == os.getpid(), flush=True)
print("ready", flush=True)
print("line", input(), flush=True)
raise SystemExit(3)
"""


def run_on_terminal(
    argv: list[str], typed: bytes
) -> tuple[int, str, str, list[object], list[object]]:
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 111, 0, 0))
    before = termios.tcgetattr(slave)
    child = subprocess.Popen(["setsid", "--ctty", *argv], stdin=slave, stdout=slave, stderr=slave)
    shown = b""
    deadline = time.monotonic() + 30
    while child.poll() is None:
        assert time.monotonic() < deadline, shown
        if typed and b"ready\r\n" in shown:
            os.write(master, typed)
            typed = b""
        if select.select([master], [], [], 0.1)[0]:
            shown += os.read(master, 65536)
    while select.select([master], [], [], 0.2)[0]:
        shown += os.read(master, 65536)
    after = termios.tcgetattr(slave)
    st = os.fstat(slave)
    device = f"{st.st_dev}:{st.st_rdev}"
    os.close(master)
    os.close(slave)
    return child.returncode, shown.decode(errors="replace"), device, before, after


def test_the_command_gets_its_own_terminal_with_the_users_size_and_input() -> None:
    code, shown, user_tty, before, after = run_on_terminal(
        [sys.executable, "-c", RELAY, sys.executable, "-c", INSPECT], b"hello\r"
    )
    assert code == 3, shown
    lines = dict(line.split(" ", 1) for line in shown.replace("\r", "").splitlines() if " " in line)
    assert {"size", "stdin", "sid", "line"} <= set(lines), shown
    assert lines["size"] == "33 111"
    assert lines["stdin"] != user_tty  # a pty of its own, not the user's terminal
    assert lines["sid"] == "True"  # in a session of its own
    assert lines["line"] == "hello"  # typed on the user's terminal, relayed
    assert after == before  # raw mode undone


def test_without_a_tty_the_command_has_no_controlling_terminal() -> None:
    script = "import os\ntry:\n os.open('/dev/tty', os.O_RDWR)\nexcept OSError:\n print('none')"
    relay = RELAY.replace(
        "ptyrelay.run(sys.argv[1:])", "ptyrelay.run(sys.argv[1:], tty_mode=False)"
    )
    code, shown, *_ = run_on_terminal(
        [sys.executable, "-c", relay, sys.executable, "-c", script], b""
    )
    assert code == 0, shown
    assert "none" in shown
