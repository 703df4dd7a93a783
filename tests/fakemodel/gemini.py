"""Gemini API (Gemini CLI): ``models/M:streamGenerateContent`` (SSE) and side calls.

Besides the agent loop, Gemini CLI asks small structured questions through
``generateContent`` with a JSON schema (who speaks next, which model to route to);
those get an object synthesised from the schema, choosing ``user`` as next speaker.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.fakemodel.script import Action, Context, RunCommand, Script, find_workdir, texts
from tests.fakemodel.sse import Reply, json_reply, sse_event


def turn(body: dict[str, Any]) -> int:
    count = 0
    for content in body.get("contents", []):
        count += sum(1 for part in content.get("parts", []) if "functionResponse" in part)
    return count


def _text_of(body: dict[str, Any]) -> str:
    return texts([body.get("contents"), body.get("systemInstruction")])


def _part(action: Action | None, body: dict[str, Any], script: Script) -> dict[str, Any]:
    if action is None:
        return {"text": script.final}
    if isinstance(action, RunCommand):
        return {"functionCall": {"name": "run_shell_command", "args": {"command": action.command}}}
    ctx = Context(workdir=find_workdir(_text_of(body)))
    args = {"file_path": ctx.absolute(action.path, script), "content": action.content}
    return {"functionCall": {"name": "write_file", "args": args}}


def _usage(script: Script) -> dict[str, int]:
    return {
        "promptTokenCount": script.usage_in,
        "candidatesTokenCount": script.usage_out,
        "totalTokenCount": script.usage_in + script.usage_out,
    }


def _response(parts: list[dict[str, Any]], script: Script, finish: str | None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {
        "candidates": [candidate],
        "usageMetadata": _usage(script),
        "modelVersion": "fake-model",
    }


def stream(body: dict[str, Any], script: Script) -> Reply:
    part = _part(script.action_at(turn(body)), body, script)
    return Reply(events=[sse_event(None, _response([part], script, "STOP"))])


def _schema_value(schema: dict[str, Any]) -> Any:
    if schema.get("enum"):
        choices = schema["enum"]
        return "user" if "user" in choices else choices[0]
    kind = str(schema.get("type", "string")).lower()
    if kind == "object":
        props = schema.get("properties", {})
        return {name: _schema_value(sub) for name, sub in props.items()}
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    return {"array": [], "boolean": False}.get(kind, "")


def generate(body: dict[str, Any], script: Script) -> Reply:
    config = body.get("generationConfig", {})
    schema = config.get("responseJsonSchema") or config.get("responseSchema")
    if schema:
        part = {"text": json.dumps(_schema_value(schema))}
    elif config.get("responseMimeType") == "application/json":
        part = {"text": "{}"}
    else:
        part = _part(script.action_at(turn(body)), body, script)
    return json_reply(_response([part], script, "STOP"))


def count_tokens(body: dict[str, Any], script: Script) -> Reply:
    return json_reply({"totalTokens": script.usage_in})


def embed(body: dict[str, Any], script: Script) -> Reply:
    return json_reply({"embedding": {"values": [0.0] * 8}})


_METHODS: dict[str, Callable[[dict[str, Any], Script], Reply]] = {
    "streamGenerateContent": stream,
    "generateContent": generate,
    "countTokens": count_tokens,
    "embedContent": embed,
}


def handler_for(method: str) -> Callable[[dict[str, Any], Script], Reply] | None:
    return _METHODS.get(method)
