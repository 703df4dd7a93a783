"""The agent CLI's commands: each takes ``(api, args, as_json)`` and prints its result."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from isollm.tasks.agent_cli.api import Api, CliError
from isollm.tasks.agent_cli.deliver import cmd_push, push_summary, push_work
from isollm.tasks.agent_cli.hooks import STATES, cmd_hook, cmd_state
from isollm.tasks.agent_cli.render import (
    emit,
    message,
    parse_priority,
    show_deps,
    show_history,
    show_list,
    show_spec,
    show_task,
)


def cmd_init(api: Api, a: argparse.Namespace, as_json: bool) -> None:
    env = {
        "AIRYRA_PROJECT": a.name,
        "AIRYRA_HOST": a.host or api.host,
        "AIRYRA_PORT": str(a.port or api.port),
    }
    if as_json:
        emit(env)
    else:
        print("# airyra is configured by the environment; add these to your shell profile:")
        for key, value in env.items():
            print(f"export {key}={value}")


def cmd_create(api: Api, a: argparse.Namespace, as_json: bool) -> None:
    if not a.title:
        raise CliError("title cannot be empty")
    body: dict[str, Any] = {"title": a.title, "priority": parse_priority(a.priority or "2")}
    for key, value in (
        ("description", a.description),
        ("parent_id", a.parent),
        ("spec_id", a.spec),
    ):
        if value:
            body[key] = value
    show_task(api.json("POST", api.path("tasks"), body), as_json)


def cmd_list(api: Api, a: argparse.Namespace, as_json: bool) -> None:
    path = api.path("tasks", status=a.status, page=a.page, per_page=a.per_page)
    show_list(api.json("GET", path), as_json)


def cmd_show(api: Api, a: argparse.Namespace, as_json: bool) -> None:
    show_task(api.json("GET", api.path("tasks", a.id)), as_json)


def cmd_edit(api: Api, a: argparse.Namespace, as_json: bool) -> None:
    body: dict[str, Any] = {
        k: v for k, v in (("title", a.title), ("description", a.description)) if v is not None
    }
    if a.priority is not None:
        body["priority"] = parse_priority(a.priority)
    show_task(api.json("PATCH", api.path("tasks", a.id), body), as_json)


def cmd_delete(api: Api, a: argparse.Namespace, as_json: bool) -> None:
    api.call("DELETE", api.path("tasks", a.id))
    message(f"Task {a.id} deleted", as_json)


def _lease(a: argparse.Namespace) -> dict[str, Any] | None:
    return {"lease_seconds": a.lease} if getattr(a, "lease", None) else None


def cmd_claim(api: Api, a: argparse.Namespace, as_json: bool) -> None:
    _, task, headers = api.call("POST", api.path("tasks", a.id, "claim"), _lease(a))
    fence = headers.get("x-airyra-fence")
    if fence:
        api.remember(task["id"], fence)
    show_task(task, as_json, {"fence": int(fence)} if fence else None)


def cmd_claim_next(api: Api, a: argparse.Namespace, as_json: bool) -> None:
    status, claim, _ = api.call("POST", api.path("tasks", "claim-next"), _lease(a) or {})
    if status == 204 or not claim:
        message("No ready tasks", as_json)
        return
    api.remember(claim["task"]["id"], claim["fence"])
    show_task(claim["task"], as_json, {"fence": claim["fence"]})


def cmd_heartbeat(api: Api, a: argparse.Namespace, as_json: bool) -> None:
    while True:
        body = {"lease_seconds": a.lease} if a.lease else {}
        claim = api.json(
            "POST", api.path("tasks", a.id, "heartbeat"), body, api.fence(a.id, a.fence)
        )
        if not a.every:
            show_task(claim["task"], as_json, {"fence": claim["fence"]})
            return
        time.sleep(a.every)


def _finish(
    api: Api,
    a: argparse.Namespace,
    as_json: bool,
    action: str,
    extra: dict[str, Any] | None = None,
    **query: Any,
) -> None:
    headers = api.fence(a.id, getattr(a, "fence", None))
    try:
        task = api.json("POST", api.path("tasks", a.id, action, **query), None, headers)
    except CliError as exc:
        if exc.code == "STALE_CLAIM":
            api.forget(a.id)
        raise
    api.forget(a.id)
    show_task(task, as_json, extra)


def cmd_done(api: Api, a: argparse.Namespace, as_json: bool) -> None:
    """Inside an isollm sandbox, the work is pushed first: no push, no done."""
    if not api.delivers or getattr(a, "no_push", False):
        _finish(api, a, as_json, "done")
        return
    try:
        pushed = push_work(api, a.id, a.fence)
    except CliError as exc:
        raise CliError(
            f"{exc}\n  the task was not marked done: fix this and run `airyra done {a.id}` "
            "again (`--no-push` finishes it without delivering the work)",
            exc.exit_code,
            exc.code,
        ) from None
    if not as_json:
        print(push_summary(pushed))
    _finish(api, a, as_json, "done", {"push": pushed} if as_json else None)


def cmd_release(api: Api, a: argparse.Namespace, as_json: bool) -> None:
    _finish(api, a, as_json, "release", force="true" if a.force else None)


def cmd_block(api: Api, a: argparse.Namespace, as_json: bool) -> None:
    body = {"reason": a.reason} if a.reason else None
    show_task(api.json("POST", api.path("tasks", a.id, "block"), body), as_json)


def cmd_unblock(api: Api, a: argparse.Namespace, as_json: bool) -> None:
    show_task(api.json("POST", api.path("tasks", a.id, "unblock")), as_json)


def cmd_dep(api: Api, a: argparse.Namespace, as_json: bool) -> None:
    kind, base = ("Spec", "specs") if a.handler.startswith("spec") else ("Task", "tasks")
    if a.action == "list":
        show_deps(api.json("GET", api.path(base, a.id, "deps")), a.id, as_json, kind)
    elif a.action == "add":
        api.call("POST", api.path(base, a.child, "deps"), {"parent_id": a.parent})
        message(f"Added dependency: {a.child} depends on {a.parent}", as_json)
    else:
        api.call("DELETE", api.path(base, a.child, "deps", a.parent))
        message(f"Removed dependency: {a.child} no longer depends on {a.parent}", as_json)


def cmd_ready(api: Api, a: argparse.Namespace, as_json: bool) -> None:
    show_list(
        api.json("GET", api.path("tasks", "ready", page=a.page, per_page=a.per_page)), as_json
    )


def cmd_next(api: Api, a: argparse.Namespace, as_json: bool) -> None:
    result = api.json("GET", api.path("tasks", "ready", page=1, per_page=1))
    if not result["data"]:
        message("No ready tasks", as_json)
        return
    show_task(result["data"][0], as_json)
    if not as_json and result["pagination"]["total"] > 1:
        print(f"\n({result['pagination']['total'] - 1} more ready tasks)", file=sys.stderr)


def cmd_history(api: Api, a: argparse.Namespace, as_json: bool) -> None:
    show_history(api.json("GET", api.path("tasks", a.id, "history")), as_json)


def cmd_log(api: Api, a: argparse.Namespace, as_json: bool) -> None:
    result = api.json("GET", api.path("audit", page=a.page, per_page=a.per_page))
    emit(result) if as_json else show_history(result["data"], as_json)


def cmd_spec(api: Api, a: argparse.Namespace, as_json: bool) -> None:
    action = a.action
    if action == "new":
        body = {"title": a.title, **({"description": a.description} if a.description else {})}
        spec = api.json("POST", api.path("specs"), body)
    elif action == "list":
        path = api.path("specs", status=a.status, page=a.page, per_page=a.per_page)
        return show_list(api.json("GET", path), as_json, "specs")
    elif action == "edit":
        body = {
            k: v for k, v in (("title", a.title), ("description", a.description)) if v is not None
        }
        spec = api.json("PATCH", api.path("specs", a.id), body)
    elif action == "delete":
        api.call("DELETE", api.path("specs", a.id))
        return message(f"Spec {a.id} deleted", as_json)
    elif action in ("cancel", "reopen"):
        spec = api.json("POST", api.path("specs", a.id, action))
    else:
        spec = api.json("GET", api.path("specs", a.id))
    show_spec(spec, as_json)
    if action == "show" and a.tasks:
        print("\nTasks:")
        show_list(api.json("GET", api.path("specs", a.id, "tasks", per_page=100)), as_json)
    return None


COMMANDS = {
    "init": cmd_init,
    "create": cmd_create,
    "list": cmd_list,
    "show": cmd_show,
    "edit": cmd_edit,
    "delete": cmd_delete,
    "claim": cmd_claim,
    "claim-next": cmd_claim_next,
    "heartbeat": cmd_heartbeat,
    "done": cmd_done,
    "release": cmd_release,
    "block": cmd_block,
    "unblock": cmd_unblock,
    "dep": cmd_dep,
    "ready": cmd_ready,
    "next": cmd_next,
    "history": cmd_history,
    "log": cmd_log,
    "spec": cmd_spec,
    "spec-dep": cmd_dep,
    "push": cmd_push,
    "hook": cmd_hook,
    "state": cmd_state,
}


def add_session_parsers(add: Any, sub: Any) -> None:
    """The commands of isollm's interactive sessions (``add`` makes a subcommand)."""
    sub.choices["done"].add_argument(
        "--no-push",
        action="store_true",
        help="inside isollm: mark done without pushing the work first",
    )
    p = add("push", "deliver HEAD of this git repository to the task's branch (isollm)")
    p.add_argument("id")
    p.add_argument("--fence", type=int, help="the claim's fencing token (default: remembered)")
    p = add("state", "tell isollm this agent's state (shown by `isollm status`)")
    p.add_argument("state", choices=STATES)
    p.add_argument("-m", "--message", help="what it is doing or waiting for (200 characters)")
    p.add_argument("--session", help="the agent's session id (to resume it)")
    p = add("hook", "an agent's hook: report its state from the event (always exits 0)")
    p.add_argument("agent", help="claude (event JSON on stdin) or codex (JSON argument)")
    p.add_argument("payload", nargs="?", help="codex: the notify JSON")
