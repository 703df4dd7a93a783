"""Agent state for isollm's dashboard: ``airyra state`` and the agents' hooks.

``airyra hook claude`` is run by Claude Code's hooks with the event as JSON on stdin;
``airyra hook codex JSON`` by Codex's ``notify``. Each maps the event to the agent's
state (working, waiting for a person, idle, exited) and sends it to the task server as
this agent (its own token). A hook must never break the agent: it reads at most 1 MiB,
ignores what it does not understand, prints nothing, gives up after 2 seconds and
always exits 0. ``airyra state STATE [-m DETAIL]`` sets the state from anything else.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any

from isollm.tasks.agent_cli.api import Api, CliError
from isollm.tasks.agent_cli.render import emit

STATES = ("working", "waiting", "idle", "exited")
HOOK_INPUT_MAX = 1 << 20
HOOK_SECONDS = 2.0
MAX_DETAIL, MAX_SESSION_ID = 200, 100
# Claude Code's hook events: the state each means, and the payload key of its detail.
_CLAUDE_EVENTS = {
    "SessionStart": ("idle", "source"),
    "UserPromptSubmit": ("working", ""),
    "PreToolUse": ("working", "tool_name"),
    "PostToolUse": ("working", "tool_name"),
    "PermissionRequest": ("waiting", "tool_name"),
    "Stop": ("idle", ""),
    # a subagent finished: the agent that started it goes on (its own Stop says idle)
    "SubagentStop": ("working", "agent_type"),
    "SessionEnd": ("exited", "reason"),
}

# Notifications that wait for a person: a permission, a question from a tool (MCP).
_ASKING = frozenset({"permission_prompt", "elicitation_dialog"})

State = tuple[str, str, str | None]  # state, detail, session id


def _text(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    return value if isinstance(value, str) else ""


def claude_state(payload: dict[str, Any]) -> State | None:
    """The state a Claude Code hook event means; None: it says nothing about it."""
    event, session = _text(payload, "hook_event_name"), _text(payload, "session_id") or None
    if event == "Notification":
        note, kind = _text(payload, "message"), _text(payload, "notification_type")
        if kind in _ASKING or (not kind and "permission" in note.lower()):
            return "waiting", note, session
        return None
    if event not in _CLAUDE_EVENTS:
        return None
    state, detail_key = _CLAUDE_EVENTS[event]
    detail = _text(payload, detail_key) if detail_key else ""
    return state, detail or ("permission" if state == "waiting" else ""), session


def codex_state(payload: dict[str, Any]) -> State | None:
    """The state a Codex ``notify`` event means (it reports finished turns only)."""
    if _text(payload, "type") == "agent-turn-complete":
        return "idle", "turn complete", None
    return None


def send_state(
    api: Api, state: str, detail: str = "", session: str | None = None, timeout: float = 30.0
) -> Any:
    body: dict[str, Any] = {"state": state, "detail": detail[:MAX_DETAIL]}
    if session and len(session) <= MAX_SESSION_ID:
        body["session_id"] = session
    path = api.path("agents", api.agent, "state")
    return api.call("PUT", path, body, timeout=timeout)[1]


def _parse(raw: bytes | str) -> dict[str, Any]:
    if len(raw) > HOOK_INPUT_MAX:
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def _run_hook(api: Api, agent: str, argument: str | None) -> None:
    if agent == "claude":
        found = claude_state(_parse(sys.stdin.buffer.read(HOOK_INPUT_MAX + 1)))
    elif agent == "codex":
        found = codex_state(_parse(argument or ""))
    else:
        return
    if found is not None:
        send_state(api, *found, timeout=HOOK_SECONDS)


def cmd_hook(api: Api, a: Any, as_json: bool) -> None:
    """Never fails, never prints, never waits more than HOOK_SECONDS."""

    def run() -> None:
        try:
            _run_hook(api, a.agent, a.payload)
        except Exception:  # a hook must never break the agent
            return

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(HOOK_SECONDS)
    if worker.is_alive():  # stuck on stdin or the server: leave without waiting for it
        os._exit(0)


def cmd_state(api: Api, a: Any, as_json: bool) -> None:
    if len(a.message or "") > MAX_DETAIL:
        raise CliError(f"the detail is over {MAX_DETAIL} characters")
    answer = send_state(api, a.state, a.message or "", a.session)
    if as_json:
        emit(answer)
    else:
        print(f"State of {api.agent}: {a.state}" + (f" ({a.message})" if a.message else ""))
