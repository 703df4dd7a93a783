"""``airyra``: the task CLI agents use inside sandboxes. Standard library only.

airyra's verbs, flags, ``--json`` output and exit codes, plus ``claim-next`` (claim
the most urgent ready task in one call) and ``heartbeat`` (renew the lease). It is
configured only by the environment, so its identity does not depend on the working
directory: AIRYRA_HOST (default localhost), AIRYRA_PORT (7432), AIRYRA_PROJECT
(required), AIRYRA_AGENT (default user@host), AIRYRA_TOKEN (bearer token) and
AIRYRA_SOCKET (the server's Unix socket: used instead of host and port when it exists,
which is how a sandbox without a network reaches the queue).

A claim's fencing token is remembered under $AIRYRA_STATE_DIR (default ~/.airyra)
and sent with done, release and heartbeat, so a worker whose lease ran out cannot
finish a task that was handed to someone else. This file imports nothing from
isollm: it can be copied into a container on its own.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import http.client
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

EXIT_OK, EXIT_ERROR, EXIT_NO_SERVER, EXIT_NO_PROJECT = 0, 1, 2, 3
EXIT_NOT_FOUND, EXIT_DENIED, EXIT_CONFLICT = 4, 5, 6
EXIT_BY_CODE = {
    "TASK_NOT_FOUND": EXIT_NOT_FOUND,
    "DEPENDENCY_NOT_FOUND": EXIT_NOT_FOUND,
    "SPEC_NOT_FOUND": EXIT_NOT_FOUND,
    "SPEC_DEPENDENCY_NOT_FOUND": EXIT_NOT_FOUND,
    "PROJECT_NOT_FOUND": EXIT_NO_PROJECT,
    "NOT_OWNER": EXIT_DENIED,
    "UNAUTHORIZED": EXIT_DENIED,
    "FORBIDDEN": EXIT_DENIED,
    "ALREADY_CLAIMED": EXIT_CONFLICT,
    "NOT_READY": EXIT_CONFLICT,
    "STALE_CLAIM": EXIT_CONFLICT,
    "SPEC_ALREADY_CANCELLED": EXIT_CONFLICT,
}
PRIORITIES = ("critical", "high", "normal", "low", "lowest")


class CliError(Exception):
    def __init__(self, message: str, exit_code: int = EXIT_ERROR, code: str = "") -> None:
        super().__init__(message)
        self.exit_code, self.code = exit_code, code


# --- configuration and HTTP -------------------------------------------------------------


class _UnixConnection(http.client.HTTPConnection):
    """HTTP over a Unix socket (the host part of the URL is only a name)."""

    def __init__(self, path: str) -> None:
        super().__init__("airyra", timeout=30)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class Api:
    def __init__(self, env: dict[str, str]) -> None:
        self.host = env.get("AIRYRA_HOST") or "localhost"
        self.port = int(env.get("AIRYRA_PORT") or 7432)
        self.project = env.get("AIRYRA_PROJECT", "")
        self.agent = env.get("AIRYRA_AGENT") or f"{getpass.getuser()}@{socket.gethostname()}"
        self.token = env.get("AIRYRA_TOKEN", "")
        self.socket = env.get("AIRYRA_SOCKET", "")
        state = env.get("AIRYRA_STATE_DIR") or str(Path.home() / ".airyra")
        self.fences = Path(state) / "fences" / quote(self.project, "") / quote(self.agent, "")

    def path(self, *parts: str, **query: Any) -> str:
        if not self.project:
            raise CliError("AIRYRA_PROJECT is not set: which project?", EXIT_NO_PROJECT)
        path = f"/v1/projects/{quote(self.project, '')}/" + "/".join(quote(p, "") for p in parts)
        params = {k: v for k, v in query.items() if v not in (None, "")}
        return path + (f"?{urlencode(params)}" if params else "")

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any, dict[str, str]]:
        sent = {"X-Airyra-Agent": self.agent, "Accept": "application/json", **(headers or {})}
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        data = None if body is None else json.dumps(body).encode()
        if data is not None:
            sent["Content-Type"] = "application/json"
        where = f"{self.host}:{self.port}"
        conn: http.client.HTTPConnection
        if self.socket and Path(self.socket).exists():
            conn, where = _UnixConnection(self.socket), self.socket
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, path, body=data, headers=sent)
            response = conn.getresponse()
            raw = response.read()
        except OSError as exc:
            raise CliError(
                f"server is not running or unreachable at {where} ({exc})", EXIT_NO_SERVER
            ) from None
        finally:
            conn.close()
        payload = json.loads(raw) if raw.strip().startswith((b"{", b"[")) else None
        if response.status >= 400:
            raise _api_error(response.status, payload, raw)
        return response.status, payload, {k.lower(): v for k, v in response.getheaders()}

    def json(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Any:
        return self.call(method, path, body, headers)[1]

    # fencing tokens of this agent's claims
    def remember(self, task_id: str, fence: Any) -> None:
        try:
            self.fences.mkdir(parents=True, exist_ok=True)
            (self.fences / quote(task_id, "")).write_text(str(int(fence)))
        except (OSError, ValueError, TypeError):
            pass  # without the file, done/release fall back to airyra's owner check

    def fence(self, task_id: str, given: int | None) -> dict[str, str]:
        if given is not None:
            return {"X-Airyra-Fence": str(given)}
        try:
            return {"X-Airyra-Fence": str(int((self.fences / quote(task_id, "")).read_text()))}
        except (OSError, ValueError):
            return {}

    def forget(self, task_id: str) -> None:
        with contextlib.suppress(OSError):
            (self.fences / quote(task_id, "")).unlink()


def _api_error(status: int, payload: Any, raw: bytes) -> CliError:
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return CliError(f"HTTP {status}: {raw.decode(errors='replace').strip()[:200]}")
    code, message = str(error.get("code", "")), str(error.get("message", ""))
    details = (
        (error.get("context") or {}).get("details")
        if isinstance(error.get("context"), dict)
        else None
    )
    if details and message == "Validation failed":
        message += ": " + "; ".join(map(str, details))
    context = error.get("context")
    hint = context.get("hint") if isinstance(context, dict) else None
    if isinstance(hint, str) and hint:
        message = f"{message or code}\n  hint: {hint}"
    return CliError(message or code, EXIT_BY_CODE.get(code, EXIT_ERROR), code)


# --- output ---------------------------------------------------------------------------


def emit(value: Any) -> None:
    print(json.dumps(value, indent=2))


def priority_text(value: Any) -> str:
    return (
        PRIORITIES[value] if isinstance(value, int) and 0 <= value < len(PRIORITIES) else str(value)
    )


def parse_priority(text: str) -> int:
    lowered = text.strip().lower()
    if lowered in PRIORITIES:
        return PRIORITIES.index(lowered)
    if lowered in {"0", "1", "2", "3", "4"}:
        return int(lowered)
    raise CliError(f"invalid priority: {text} (use 0-4 or critical/high/normal/low/lowest)")


def _when(value: str | None) -> str:
    return value.replace("T", " ")[:19] if value else ""


def show_task(task: dict[str, Any], as_json: bool, extra: dict[str, Any] | None = None) -> None:
    if as_json:
        emit({**task, **(extra or {})})
        return
    rows = [
        ("ID", task["id"]),
        ("Title", task["title"]),
        ("Status", task["status"]),
        ("Priority", priority_text(task.get("priority"))),
        ("Description", task.get("description")),
        ("Parent", task.get("parent_id")),
        ("Spec", task.get("spec_id")),
        ("Claimed By", task.get("claimed_by")),
        ("Claimed At", _when(task.get("claimed_at"))),
        ("Lease Ends", _when(task.get("lease_expires_at"))),
        *((k.title(), v) for k, v in (extra or {}).items()),
        ("Created", _when(task.get("created_at"))),
        ("Updated", _when(task.get("updated_at"))),
    ]
    for label, value in rows:
        if value not in (None, ""):
            print(f"{label + ':':<13} {value}")


def table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    for row in [header, ["-" * len(h) for h in header], *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip())


def show_list(result: dict[str, Any], as_json: bool, kind: str = "tasks") -> None:
    if as_json:
        emit(result)
        return
    items, pages = result.get("data") or [], result.get("pagination") or {}
    if not items:
        print(f"No {kind} found")
        return
    if kind == "tasks":
        table(
            ["ID", "TITLE", "STATUS", "PRIORITY"],
            [
                [t["id"], _cut(t["title"], 40), t["status"], priority_text(t["priority"])]
                for t in items
            ],
        )
    else:
        table(
            ["ID", "TITLE", "STATUS", "PROGRESS"],
            [
                [s["id"], _cut(s["title"], 40), s["status"], f"{s['done_count']}/{s['task_count']}"]
                for s in items
            ],
        )
    if pages.get("total_pages", 1) > 1:
        print(f"\nPage {pages['page']} of {pages['total_pages']} ({pages['total']} total {kind})")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def message(text: str, as_json: bool) -> None:
    emit({"message": text}) if as_json else print(text)


def show_deps(deps: list[dict[str, str]], owner: str, as_json: bool, kind: str) -> None:
    if as_json:
        emit(deps)
    elif not deps:
        print(f"{kind} {owner} has no dependencies")
    else:
        table(["TYPE", f"{kind.upper()} ID"], [["depends on", d["parent_id"]] for d in deps])


def show_history(entries: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        emit(entries)
        return
    if not entries:
        print("No history found")
        return
    table(
        ["TIME", "ACTION", "FIELD", "OLD", "NEW", "BY"],
        [
            [
                _when(e["changed_at"]),
                e["action"],
                e.get("field") or "",
                _cut(e.get("old_value") or "", 20),
                _cut(e.get("new_value") or "", 20),
                _cut(e["changed_by"], 30),
            ]
            for e in entries
        ],
    )


# --- commands: each takes (api, args, as_json) ------------------------------------------


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


def _finish(api: Api, a: argparse.Namespace, as_json: bool, action: str, **query: Any) -> None:
    headers = api.fence(a.id, getattr(a, "fence", None))
    try:
        task = api.json("POST", api.path("tasks", a.id, action, **query), None, headers)
    except CliError as exc:
        if exc.code == "STALE_CLAIM":
            api.forget(a.id)
        raise
    api.forget(a.id)
    show_task(task, as_json)


def cmd_done(api: Api, a: argparse.Namespace, as_json: bool) -> None:
    _finish(api, a, as_json, "done")


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


def show_spec(spec: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit(spec)
        return
    for label, value in (
        ("ID", spec["id"]),
        ("Title", spec["title"]),
        ("Status", spec["status"]),
        ("Description", spec.get("description")),
        ("Tasks", f"{spec['done_count']}/{spec['task_count']} done"),
        ("Created", _when(spec["created_at"])),
        ("Updated", _when(spec["updated_at"])),
    ):
        if value:
            print(f"{label + ':':<13} {value}")


# --- arguments --------------------------------------------------------------------------


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
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    as_json = bool(getattr(args, "json", False))
    try:
        COMMANDS[args.handler](Api(dict(os.environ)), args, as_json)
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


if __name__ == "__main__":
    sys.exit(main())
