"""The agent CLI's coordination commands: file locks and the context board.

``airyra lock PATH… [--wait S]`` locks paths (or globs) for the agent's claim, all or
none; ``airyra unlock [PATH…]`` releases the agent's own; ``airyra locks`` lists them;
``airyra context set --status S -m MSG [--file F]…`` publishes what the agent works on
and ``airyra context show`` reads the board. What other agents wrote is shown with
every control character escaped: it is untrusted text on this terminal.
"""

from __future__ import annotations

import argparse
import re
import time
from typing import Any

from isollm.tasks.agent_cli.api import EXIT_CONFLICT, Api, CliError
from isollm.tasks.agent_cli.render import emit, table

CONFLICT_CODES = frozenset({"LOCK_HELD", "NO_CLAIM"})
FIRST_WAIT, LONGEST_WAIT = 0.2, 2.0  # seconds between tries of `lock --wait`
# C0/C1 controls, DEL, bidi marks and overrides, line separators, BOM: shown escaped.
_UNSAFE_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


def printable(text: Any) -> str:
    """``text`` for one line of a terminal: every control or bidi character escaped."""

    def show(match: re.Match[str]) -> str:
        code = ord(match.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _UNSAFE_TEXT.sub(show, str(text))


def add_coord_parsers(add: Any, common: argparse.ArgumentParser) -> None:
    """The coordination commands, on the parser of cli.py (``add`` makes one command)."""
    p = add("lock", "lock files (paths or globs) for your claim: all of them or none")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--wait", type=float, default=0.0, metavar="S", help="keep trying S seconds")
    p.add_argument("--task", help="the claimed task to hold them by (default: your one claim)")
    p = add("unlock", "release your locks on PATHs (all of them without PATH)")
    p.add_argument("paths", nargs="*", metavar="PATH")
    add("locks", "list the file locks agents hold")
    context = add("context", "the context board: what each agent works on")
    sub = context.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = sub.add_parser("set", parents=[common], help="publish what you work on")
    p.add_argument("--file", action="append", default=[], metavar="F", dest="files")
    p.add_argument("--status", required=True, choices=["working", "blocked", "done"])
    p.add_argument("-m", "--message", required=True, help="at most 500 characters")
    p.add_argument("--task", help="the claimed task (default: your one claim)")
    sub.add_parser("show", parents=[common], help="show the board")


def _conflict(exc: CliError) -> CliError:
    if exc.code in CONFLICT_CODES:
        return CliError(str(exc), EXIT_CONFLICT, exc.code)
    return exc


def cmd_lock(api: Api, a: argparse.Namespace, as_json: bool) -> None:
    body: dict[str, Any] = {"paths": a.paths}
    if a.task:
        body["task_id"] = a.task
    deadline, pause = time.monotonic() + max(a.wait, 0.0), FIRST_WAIT
    while True:
        try:
            locks = api.json("POST", api.path("locks"), body)
            break
        except CliError as exc:
            left = deadline - time.monotonic()
            if exc.code != "LOCK_HELD" or left <= 0:
                raise _conflict(exc) from None
            time.sleep(min(pause, left))
            pause = min(pause * 2, LONGEST_WAIT)
    if as_json:
        emit(locks)
    else:
        print("Locked: " + ", ".join(printable(lock["path"]) for lock in locks))


def cmd_unlock(api: Api, a: argparse.Namespace, as_json: bool) -> None:
    body = {"paths": a.paths} if a.paths else {}
    try:
        released = api.json("DELETE", api.path("locks"), body)["released"]
    except CliError as exc:
        raise _conflict(exc) from None
    if as_json:
        emit({"released": released})
    elif released:
        print("Released: " + ", ".join(printable(p) for p in released))
    else:
        print("Nothing to release")


def cmd_locks(api: Api, a: argparse.Namespace, as_json: bool) -> None:
    locks = api.json("GET", api.path("locks"))
    if as_json:
        emit(locks)
    elif not locks:
        print("No file locks")
    else:
        rows = [
            [printable(lock[k]) for k in ("path", "agent", "task_id")]
            + [printable(lock["acquired_at"]).replace("T", " ")[:19]]
            for lock in locks
        ]
        table(["PATH", "AGENT", "TASK", "SINCE"], rows)


def cmd_context(api: Api, a: argparse.Namespace, as_json: bool) -> None:
    if a.action == "set":
        if len(a.message) > 500:
            raise CliError("the message is longer than 500 characters")
        body: dict[str, Any] = {"status": a.status, "message": a.message, "files": a.files}
        if a.task:
            body["task_id"] = a.task
        try:
            entry = api.json("PUT", api.path("context"), body)
        except CliError as exc:
            raise _conflict(exc) from None
        if as_json:
            emit(entry)
        else:
            print(f"Published: {printable(entry['status'])} on {printable(entry['task_id'])}")
        return
    board = api.json("GET", api.path("context"))
    if as_json:
        emit(board)
        return
    if not board:
        print("The context board is empty")
    for entry in board:
        files = ", ".join(printable(f) for f in entry.get("files") or []) or "-"
        print(
            f"{printable(entry['agent'])}  {printable(entry['task_id'])}  "
            f"{printable(entry['status'])}  {files}"
        )
        if entry.get("message"):
            print(f"    {printable(entry['message'])}")


COORD_COMMANDS = {
    "lock": cmd_lock,
    "unlock": cmd_unlock,
    "locks": cmd_locks,
    "context": cmd_context,
}
