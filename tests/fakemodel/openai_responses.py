"""OpenAI Responses API (Codex CLI): ``POST /v1/responses``, streamed as SSE.

Codex offers its own tools; a file is written with ``apply_patch`` (a freeform custom
tool or a JSON function, whichever the request lists) and a command runs through
whichever shell tool is offered (``shell``, ``shell_command`` or ``exec_command``).
"""

from __future__ import annotations

import json
from typing import Any

from tests.fakemodel.script import (
    Action,
    Context,
    RunCommand,
    Script,
    WriteFile,
    find_workdir,
    texts,
)
from tests.fakemodel.sse import Reply, json_reply, sse_event


def turn(body: dict[str, Any]) -> int:
    items = body.get("input", [])
    if not isinstance(items, list):
        return 0
    return sum(1 for item in items if str(item.get("type", "")).endswith("_call_output"))


def _tools(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t.get("name", t.get("type", "")): t for t in body.get("tools", [])}


def _text_of(body: dict[str, Any]) -> str:
    return texts([body.get("input"), body.get("instructions")])


def add_file_patch(path: str, content: str) -> str:
    lines = content.splitlines() or [""]
    added = "".join(f"+{line}\n" for line in lines)
    return f"*** Begin Patch\n*** Add File: {path}\n{added}*** End Patch\n"


def _shell_call(command: str, tools: dict[str, dict[str, Any]], call_id: str) -> dict[str, Any]:
    if "exec_command" in tools:
        name, args = "exec_command", {"cmd": command}
    elif "shell_command" in tools:
        name, args = "shell_command", {"command": command}
    else:
        name, args = "shell", {"command": ["bash", "-lc", command]}
    return _function_call(name, args, call_id)


def _function_call(name: str, args: dict[str, Any], call_id: str) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": f"fc_{call_id}",
        "call_id": call_id,
        "name": name,
        "arguments": json.dumps(args),
        "status": "completed",
    }


def _write_call(
    action: WriteFile, ctx: Context, tools: dict[str, dict[str, Any]], call_id: str, script: Script
) -> dict[str, Any]:
    patch = add_file_patch(ctx.absolute(action.path, script), action.content)
    tool = tools.get("apply_patch")
    if tool is not None and tool.get("type") == "custom":
        return {
            "type": "custom_tool_call",
            "id": f"ctc_{call_id}",
            "call_id": call_id,
            "name": "apply_patch",
            "input": patch,
            "status": "completed",
        }
    if tool is not None:
        return _function_call("apply_patch", {"input": patch}, call_id)
    return _shell_call(f"apply_patch <<'PATCH'\n{patch}PATCH", tools, call_id)


def _item(action: Action | None, body: dict[str, Any], script: Script) -> dict[str, Any]:
    n = turn(body)
    call_id = f"call_fake_{n:04d}"
    if action is None:
        text = {"type": "output_text", "text": script.final, "annotations": []}
        return {
            "type": "message",
            "id": "msg_fake",
            "role": "assistant",
            "status": "completed",
            "content": [text],
        }
    tools = _tools(body)
    if isinstance(action, RunCommand):
        return _shell_call(action.command, tools, call_id)
    ctx = Context(workdir=find_workdir(_text_of(body)))
    return _write_call(action, ctx, tools, call_id, script)


def _response(
    body: dict[str, Any], output: list[dict[str, Any]], status: str, script: Script
) -> dict[str, Any]:
    usage = {
        "input_tokens": script.usage_in,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": script.usage_out,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": script.usage_in + script.usage_out,
    }
    return {
        "id": "resp_fake",
        "object": "response",
        "created_at": 0,
        "status": status,
        "model": body.get("model", "fake-model"),
        "output": output,
        "usage": usage if status == "completed" else None,
    }


def _text_delta(item: dict[str, Any]) -> list[bytes]:
    if item["type"] != "message":
        return []
    delta = {
        "type": "response.output_text.delta",
        "item_id": item["id"],
        "output_index": 0,
        "content_index": 0,
        "delta": item["content"][0]["text"],
    }
    return [sse_event("response.output_text.delta", delta)]


def responses(body: dict[str, Any], script: Script) -> Reply:
    item = _item(script.action_at(turn(body)), body, script)
    done = _response(body, [item], "completed", script)
    if not body.get("stream"):
        return json_reply(done)
    created = _response(body, [], "in_progress", script)
    events = [sse_event("response.created", {"type": "response.created", "response": created})]
    events.append(
        sse_event(
            "response.output_item.added",
            {"type": "response.output_item.added", "output_index": 0, "item": item},
        )
    )
    events += _text_delta(item)
    events.append(
        sse_event(
            "response.output_item.done",
            {"type": "response.output_item.done", "output_index": 0, "item": item},
        )
    )
    events.append(sse_event("response.completed", {"type": "response.completed", "response": done}))
    return Reply(events=events)
