"""What the attack tests share: a script run inside a sandbox as an agent would run it,
and a host-side server recording what a sandbox managed to send it."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

from isollm.sandbox.base import Sandbox

# The start of a Python script an agent runs to talk HTTP to the task server over
# $AIRYRA_SOCKET as it likes (class Unix: an http.client connection on that socket).
UNIX_HTTP = r"""
import http.client, json, os, socket, sys
class Unix(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(os.environ["AIRYRA_SOCKET"])
"""


def attempt(sb: Sandbox, script: str, *args: str) -> str:
    """Run ``script`` inside (as ``sh -c script sh ARGS...``); its combined output."""
    result = sb.exec(["sh", "-c", script, "sh", *args], timeout=60)
    assert not result.timed_out
    return result.stdout + result.stderr


@contextlib.contextmanager
def recording(server: socket.socket) -> Iterator[list[bytes]]:
    """What each connection to the listening ``server`` sends first (up to 100 bytes),
    recorded by a thread until the block ends; the server is closed then."""
    got: list[bytes] = []
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    got.append(conn.recv(100))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield got
    finally:
        stop.set()
        thread.join()
        server.close()
