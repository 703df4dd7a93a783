"""The agent CLI's arguments and ``main``: parse, run the command, errors to exit codes."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from isollm.tasks.agent_cli.api import EXIT_OK, Api, CliError
from isollm.tasks.agent_cli.commands import COMMANDS, add_session_parsers
from isollm.tasks.agent_cli.coord import COORD_COMMANDS, add_coord_parsers


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="output as JSON"
    )
    parser = argparse.ArgumentParser(
        prog="airyra",
        parents=[common],
        description="Task queue CLI for agents (airyra v1 API). Configured by AIRYRA_HOST, "
        "AIRYRA_PORT, AIRYRA_PROJECT, AIRYRA_AGENT and AIRYRA_TOKEN.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str, handler: str | None = None) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        p.set_defaults(handler=handler or name)
        return p

    def pages(p: argparse.ArgumentParser) -> None:
        p.add_argument("--page", type=int, default=1)
        p.add_argument("--per-page", type=int, default=50)

    _task_parsers(add, pages)
    pages(add("ready", "list ready tasks"))
    add("next", "show the most urgent ready task (without claiming it)")
    pages(add("log", "show recent activity"))
    _dep_parsers(add("dep", "manage task dependencies"), common, "dep")
    _spec_parsers(add("spec", "manage specs (epics)"), common, pages)
    add_coord_parsers(add, common)
    add_session_parsers(add, sub)
    return parser


def _task_parsers(add: Any, pages: Any) -> None:
    p = add("init", "print the environment that points airyra at a project")
    p.add_argument("name")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p = add("create", "create a task")
    p.add_argument("title")
    p.add_argument("-p", "--priority", help="0-4 or critical/high/normal/low/lowest")
    p.add_argument("-d", "--description")
    p.add_argument("--parent")
    p.add_argument("--spec")
    p = add("list", "list tasks")
    p.add_argument("--status", choices=["open", "in_progress", "blocked", "done"])
    pages(p)
    for name, text in (
        ("show", "show a task"),
        ("delete", "delete a task"),
        ("unblock", "unblock a task"),
        ("history", "show a task's history"),
    ):
        add(name, text).add_argument("id")
    p = add("edit", "edit a task")
    p.add_argument("id")
    p.add_argument("-t", "--title")
    p.add_argument("-d", "--description")
    p.add_argument("-p", "--priority")
    p = add("claim", "claim a task")
    p.add_argument("id")
    p.add_argument("--lease", type=float, help="lease in seconds (default: the server's)")
    p = add("claim-next", "claim the most urgent ready task, atomically")
    p.add_argument("--lease", type=float, help="lease in seconds (default: the server's)")
    p = add("heartbeat", "renew the lease of your claim")
    p.add_argument("id")
    p.add_argument("--lease", type=float, help="new lease in seconds (default: the server's)")
    p.add_argument("--fence", type=int, help="the claim's fencing token (default: remembered)")
    p.add_argument("--every", type=float, help="keep renewing every SECONDS until stopped")
    done = add("done", "mark your task done")
    release = add("release", "release your claim")
    for p in (done, release):
        p.add_argument("id")
        p.add_argument("--fence", type=int, help="the claim's fencing token (default: remembered)")
    release.add_argument("--force", action="store_true", help="release another agent's claim")
    p = add("block", "block a task")
    p.add_argument("id")
    p.add_argument("--reason")


def _dep_parsers(
    parent: argparse.ArgumentParser, common: argparse.ArgumentParser, handler: str
) -> None:
    sub = parent.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name in ("add", "rm"):
        p = sub.add_parser(name, parents=[common], help=f"{name} a dependency")
        p.add_argument("child")
        p.add_argument("parent")
        p.set_defaults(handler=handler)
    p = sub.add_parser("list", parents=[common], help="list dependencies")
    p.add_argument("id")
    p.set_defaults(handler=handler)


def _spec_parsers(
    parent: argparse.ArgumentParser, common: argparse.ArgumentParser, pages: Any
) -> None:
    sub = parent.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = sub.add_parser("new", parents=[common], help="create a spec")
    p.add_argument("title")
    p.add_argument("-d", "--description")
    p = sub.add_parser("list", parents=[common], help="list specs")
    p.add_argument("--status", choices=["draft", "active", "done", "cancelled"])
    pages(p)
    p = sub.add_parser("show", parents=[common], help="show a spec")
    p.add_argument("id")
    p.add_argument("--tasks", action="store_true", help="also list its tasks")
    p = sub.add_parser("edit", parents=[common], help="edit a spec")
    p.add_argument("id")
    p.add_argument("-t", "--title")
    p.add_argument("-d", "--description")
    for name in ("cancel", "reopen", "delete"):
        sub.add_parser(name, parents=[common], help=f"{name} a spec").add_argument("id")
    dep = sub.add_parser("dep", parents=[common], help="manage spec dependencies")
    _dep_parsers(dep, common, "spec-dep")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    as_json = bool(getattr(args, "json", False))
    try:
        {**COMMANDS, **COORD_COMMANDS}[args.handler](Api(dict(os.environ)), args, as_json)
    except CliError as exc:
        if as_json:
            json.dump({"error": {"code": exc.code, "message": str(exc)}}, sys.stderr, indent=2)
            sys.stderr.write("\n")
        else:
            print(f"Error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into head & co: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_OK
