"""An attempt's log as readable text (``isollm run log``), whatever the agent's CLI wrote.

Claude Code and Gemini CLI write ``stream-json`` events, Codex ``exec --json`` events,
aider and ``command`` agents plain text. :class:`LogRenderer` turns each line into lines
of text: the assistant's messages, each tool call with its arguments, what the tool gave
back (shortened), the result; a line that is not JSON (stderr, plain agents) stays as
it is. Pure: text in, text out; the caller makes it terminal-safe.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

RESULT_SHOWN = 400  # characters of a tool's output shown
ARGS_SHOWN = 300

Event = dict[str, Any]
Render = Callable[[Event], list[str]]


def _clip(text: object, limit: int) -> str:
    flat = str(text).rstrip()
    return flat if len(flat) <= limit else flat[:limit] + f"… ({len(flat) - limit} more)"


def _indent(prefix: str, text: object, limit: int = 0) -> list[str]:
    body = _clip(text, limit) if limit else str(text).rstrip()
    lines = body.splitlines() or [""]
    return [prefix + lines[0], *("  " + line for line in lines[1:])]


def _args(args: object) -> str:
    if isinstance(args, Mapping):
        for key in ("command", "file_path", "path", "pattern", "url", "query"):
            if isinstance(args.get(key), str) and args[key]:
                return _clip(args[key], ARGS_SHOWN)
        return _clip(json.dumps(args, ensure_ascii=False), ARGS_SHOWN)
    return _clip(args, ARGS_SHOWN) if args else ""


def _call(name: object, args: object) -> list[str]:
    return [f"→ {name}({_args(args)})"]


def _result(output: object, error: bool = False) -> list[str]:
    if isinstance(output, list):  # Claude's content blocks
        output = "\n".join(str(b.get("text", "")) for b in output if isinstance(b, Mapping))
    return _indent("  ✗ " if error else "  ← ", output, RESULT_SHOWN)


# --- Claude Code ------------------------------------------------------------------------


def claude(event: Event) -> list[str]:
    kind, subtype = event.get("type"), event.get("subtype")
    if kind == "system" and subtype == "init":
        return [f"· started ({event.get('model') or 'default model'})"]
    if kind == "system" and subtype == "api_retry":
        return [f"· API retry {event.get('attempt')} ({event.get('error_status') or 'error'})"]
    if kind == "result":
        usage = f", ${event['total_cost_usd']}" if "total_cost_usd" in event else ""
        return [f"· result: {subtype or 'done'}{usage}", *_text(event.get("result"))]
    message = event.get("message")
    content = message.get("content") if isinstance(message, Mapping) else None
    lines: list[str] = []
    for block in content if isinstance(content, list) else ():
        if not isinstance(block, Mapping):
            continue
        btype = block.get("type")
        if btype == "text":
            lines += _text(block.get("text"))
        elif btype == "tool_use":
            lines += _call(block.get("name"), block.get("input"))
        elif btype == "tool_result":
            lines += _result(block.get("content", ""), bool(block.get("is_error")))
    return lines


def _text(text: object) -> list[str]:
    return _indent("", text) if isinstance(text, str) and text.strip() else []


# --- Gemini CLI -------------------------------------------------------------------------


def _gemini_tool_result(event: Event) -> list[str]:
    failed = event.get("status") not in (None, "success")
    return _result(event.get("output") or event.get("error") or "", failed)


def _gemini_message(event: Event) -> list[str]:
    return _text(event.get("content")) if event.get("role") == "assistant" else []


_GEMINI: dict[str, Render] = {
    "init": lambda e: [f"· started ({e.get('model') or 'default model'})"],
    "message": _gemini_message,
    "tool_use": lambda e: _call(e.get("tool_name"), e.get("parameters")),
    "tool_result": _gemini_tool_result,
    "result": lambda e: [f"· result: {e.get('status') or 'done'}"],
    "error": lambda e: [f"· error: {e.get('message', '')}"],
}


def gemini(event: Event) -> list[str]:
    render = _GEMINI.get(str(event.get("type")))
    return render(event) if render is not None else []


# --- Codex ------------------------------------------------------------------------------


def _codex_command(item: Mapping[str, Any], started: bool) -> list[str]:
    if started:
        return [f"→ $ {_clip(item.get('command', ''), ARGS_SHOWN)}"]
    code = item.get("exit_code")
    return _result(item.get("aggregated_output", ""), code not in (None, 0))


def _codex_files(item: Mapping[str, Any]) -> list[str]:
    changes = item.get("changes") or ()
    return [
        f"→ edit {', '.join(str(c.get('path', '')) for c in changes if isinstance(c, Mapping))}"
    ]


_CODEX_DONE: dict[str, Callable[[Mapping[str, Any]], list[str]]] = {
    "file_change": _codex_files,
    "agent_message": lambda item: _text(item.get("text")),
    "reasoning": lambda item: _text(item.get("text")),
    "mcp_tool_call": lambda item: _call(item.get("tool"), item.get("arguments")),
    "error": lambda item: [f"· error: {item.get('message', '')}"],
}


def codex(event: Event) -> list[str]:
    kind, item = event.get("type"), event.get("item")
    if kind in ("error", "turn.failed"):
        return [f"· {kind}: {event.get('message') or event.get('error') or ''}"]
    if not isinstance(item, Mapping) or kind not in ("item.started", "item.completed"):
        return []
    if item.get("type") == "command_execution":
        return _codex_command(item, kind == "item.started")
    render = _CODEX_DONE.get(str(item.get("type"))) if kind == "item.completed" else None
    return render(item) if render is not None else []


_BY_AGENT: dict[str, Render] = {"claude": claude, "gemini": gemini, "codex": codex}


def _parse(line: str) -> Event | None:
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class LogRenderer:
    """Renders the log lines of agent ``agent`` (by adapter name); aider, ``command``
    and unknown agents, and any line that is not a JSON event, come out as they are."""

    def __init__(self, agent: str) -> None:
        self._render = _BY_AGENT.get(agent)

    def line(self, line: str) -> list[str]:
        event = _parse(line) if self._render is not None else None
        if event is None or self._render is None:
            return [line.rstrip("\n")]
        return self._render(event)

    def lines(self, lines: Iterable[str]) -> list[str]:
        return [out for line in lines for out in self.line(line)]
