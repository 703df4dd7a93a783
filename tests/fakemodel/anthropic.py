"""Anthropic Messages API (Claude Code): ``POST /v1/messages``, streamed as SSE."""

from __future__ import annotations

import json
from typing import Any

from tests.fakemodel.script import Action, Context, RunCommand, Script, find_workdir, texts
from tests.fakemodel.sse import Reply, json_reply, sse_event


def turn(body: dict[str, Any]) -> int:
    """How many tool results the conversation already holds."""
    count = 0
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, list):
            count += sum(1 for block in content if block.get("type") == "tool_result")
    return count


def _tool_use(action: Action, ctx: Context, script: Script, n: int) -> dict[str, Any]:
    if isinstance(action, RunCommand):
        args: dict[str, Any] = {"command": action.command, "description": "scripted command"}
        name = "Bash"
    else:
        args = {"file_path": ctx.absolute(action.path, script), "content": action.content}
        name = "Write"
    return {"type": "tool_use", "id": f"toolu_fake_{n:04d}", "name": name, "input": args}


def _blocks(body: dict[str, Any], script: Script) -> tuple[list[dict[str, Any]], str]:
    if not body.get("tools"):
        return [{"type": "text", "text": "ok"}], "end_turn"
    n = turn(body)
    action = script.action_at(n)
    if action is None:
        return [{"type": "text", "text": script.final}], "end_turn"
    ctx = Context(workdir=find_workdir(texts(body.get("system"))))
    return [_tool_use(action, ctx, script, n)], "tool_use"


def _usage(script: Script) -> dict[str, int]:
    return {
        "input_tokens": script.usage_in,
        "output_tokens": script.usage_out,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def _message(
    body: dict[str, Any], content: list[dict[str, Any]], stop: str | None
) -> dict[str, Any]:
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "fake-model"),
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
    }


def _stream_block(index: int, block: dict[str, Any]) -> list[bytes]:
    if block["type"] == "text":
        start = {"type": "text", "text": ""}
        delta = {"type": "text_delta", "text": block["text"]}
    else:
        start = {**block, "input": {}}
        delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
    return [
        sse_event(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": start},
        ),
        sse_event(
            "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
        ),
        sse_event("content_block_stop", {"type": "content_block_stop", "index": index}),
    ]


def messages(body: dict[str, Any], script: Script) -> Reply:
    content, stop = _blocks(body, script)
    usage = _usage(script)
    if not body.get("stream"):
        return json_reply({**_message(body, content, stop), "usage": usage})
    start = {**_message(body, [], None), "usage": {**usage, "output_tokens": 1}}
    events = [sse_event("message_start", {"type": "message_start", "message": start})]
    for index, block in enumerate(content):
        events += _stream_block(index, block)
    delta = {"stop_reason": stop, "stop_sequence": None}
    events.append(
        sse_event(
            "message_delta",
            {"type": "message_delta", "delta": delta, "usage": {"output_tokens": script.usage_out}},
        )
    )
    events.append(sse_event("message_stop", {"type": "message_stop"}))
    return Reply(events=events)


def count_tokens(body: dict[str, Any], script: Script) -> Reply:
    return json_reply({"input_tokens": script.usage_in})
