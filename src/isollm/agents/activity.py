"""What an agent is doing right now, read from one line of its output as it streams.

Each adapter's CLI writes its own stream: Claude Code and Gemini CLI ``stream-json``
events, Codex ``exec --json`` events, aider and ``command`` agents plain text. The
functions here are pure: one line in, a short description of the activity out (a tool
call, a message, an API retry), or None when the line says nothing worth showing
(a JSON line of no interest, an empty line). Lines that are not JSON (the CLI's
stderr, merged into the same pipe: retries, warnings) are shown as they are.

The result is short (:data:`MAX_ACTIVITY` characters) but not yet made safe for a
terminal or redacted: the caller does that (the log pump's text is already redacted).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

MAX_ACTIVITY = 120

Activity = Callable[[str], str | None]


def _short(text: object, limit: int = MAX_ACTIVITY) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _event(line: str) -> dict[str, Any] | str | None:
    """The JSON object on ``line``; the stripped line when it is not JSON; None if empty."""
    text = line.strip()
    if not text:
        return None
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except ValueError:
            return _short(text)
        return value if isinstance(value, dict) else None
    return _short(text)


def _call(name: object, args: object) -> str:
    """``Bash(pytest -q)``: a tool's name with its most telling argument."""
    shown = ""
    if isinstance(args, Mapping):
        for key in ("command", "file_path", "path", "pattern", "url", "query", "description"):
            if isinstance(args.get(key), str) and args[key]:
                shown = args[key]
                break
    return _short(f"{name}({_short(shown, 80)})" if shown else f"{name}()")


def claude(line: str) -> str | None:
    """Claude Code ``stream-json``: tool calls, assistant text, API retries, the result."""
    event = _event(line)
    if not isinstance(event, dict):
        return event
    kind, subtype = event.get("type"), event.get("subtype")
    if kind == "system" and subtype == "api_retry":
        why = event.get("error_status") or event.get("error") or "error"
        return _short(
            f"API retry {event.get('attempt')}/{event.get('max_retries')} ({why})"
            if event.get("max_retries")
            else f"API retry {event.get('attempt')} ({why})"
        )
    if kind == "system" and subtype == "init":
        return _short(f"started ({event.get('model') or 'default model'})")
    if kind == "assistant":
        return _claude_message(event.get("message"))
    if kind == "result":
        return _short(f"finished: {subtype or 'result'}")
    return None


def _claude_message(message: object) -> str | None:
    content = message.get("content") if isinstance(message, Mapping) else None
    found: str | None = None
    for block in content if isinstance(content, list) else ():
        if not isinstance(block, Mapping):
            continue
        if block.get("type") == "tool_use":
            found = _call(block.get("name"), block.get("input"))
        elif block.get("type") == "text" and str(block.get("text", "")).strip():
            found = _short(block["text"])
    return found


def codex(line: str) -> str | None:
    """Codex ``exec --json``: commands, file changes, messages, reconnects (retries)."""
    event = _event(line)
    if not isinstance(event, dict):
        return event
    kind, item = event.get("type"), event.get("item")
    if kind == "error":
        return _short(event.get("message", "error"))
    if kind == "turn.started":
        return "turn started"
    if kind in ("item.started", "item.completed") and isinstance(item, Mapping):
        read = _CODEX_ITEMS.get(str(item.get("type")))
        return read(item) if read is not None else None
    return None


def _codex_files(item: Mapping[str, Any]) -> str:
    changes = item.get("changes")
    paths = [c.get("path", "") for c in changes or () if isinstance(c, Mapping)]
    return _short(f"edit {', '.join(map(str, paths))}")


def _codex_text(item: Mapping[str, Any]) -> str | None:
    return _short(item.get("text", "")) or None


_CODEX_ITEMS: dict[str, Callable[[Mapping[str, Any]], str | None]] = {
    "command_execution": lambda item: _short(f"$ {item.get('command', '')}"),
    "file_change": _codex_files,
    "agent_message": _codex_text,
    "reasoning": _codex_text,
    "mcp_tool_call": lambda item: _call(item.get("tool"), item.get("arguments")),
    "error": lambda item: _short(item.get("message", "error")),
}


def gemini(line: str) -> str | None:
    """Gemini CLI ``stream-json``: tool calls, messages, the end; its retries come on
    stderr, as plain lines."""
    event = _event(line)
    if not isinstance(event, dict):
        return event
    kind = event.get("type")
    if kind == "tool_use":
        return _call(event.get("tool_name"), event.get("parameters"))
    if kind == "message" and event.get("role") == "assistant" and not event.get("delta"):
        return _short(event.get("content", "")) or None
    note = _GEMINI_NOTES.get(str(kind))
    return _short(note(event)) if note is not None else None


_GEMINI_NOTES: dict[str, Callable[[dict[str, Any]], str]] = {
    "init": lambda e: f"started ({e.get('model') or 'default model'})",
    "result": lambda e: f"finished: {e.get('status') or 'result'}",
    "error": lambda e: str(e.get("message", "error")),
}


def text(line: str) -> str | None:
    """aider and ``command`` agents: the line itself, on one line, shortened."""
    return _short(line) or None


_BY_AGENT: dict[str, Activity] = {
    "claude": claude,
    "codex": codex,
    "gemini": gemini,
    "aider": text,
    "command": text,
}


def of(agent_name: str) -> Activity:
    """The activity reader for an adapter (by its ``name``); plain text when unknown."""
    return _BY_AGENT.get(agent_name, text)
