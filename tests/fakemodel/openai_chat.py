"""OpenAI chat/completions (aider): ``POST /v1/chat/completions``, SSE or one JSON body.

aider edits files from SEARCH/REPLACE blocks in the reply text, so every scripted
file becomes one block with an empty SEARCH (a new file). A request asking for a
commit message (aider's auto-commit) gets the script's commit message instead.
"""

from __future__ import annotations

import time
from typing import Any

from tests.fakemodel.script import Script
from tests.fakemodel.sse import Reply, json_reply, sse_event

_COMMIT_PROMPT = "commit message"


def _system_text(body: dict[str, Any]) -> str:
    parts = [m.get("content") for m in body.get("messages", []) if m.get("role") == "system"]
    return "\n".join(p for p in parts if isinstance(p, str))


def search_replace_block(path: str, content: str) -> str:
    body = content if content.endswith("\n") else content + "\n"
    return f"{path}\n```\n<<<<<<< SEARCH\n=======\n{body}>>>>>>> REPLACE\n```\n"


def reply_text(body: dict[str, Any], script: Script) -> str:
    if _COMMIT_PROMPT in _system_text(body).lower():
        return script.commit_message
    blocks = [search_replace_block(f.path, f.content) for f in script.files()]
    return "\n".join([*blocks, script.final])


def _usage(script: Script) -> dict[str, int]:
    return {
        "prompt_tokens": script.usage_in,
        "completion_tokens": script.usage_out,
        "total_tokens": script.usage_in + script.usage_out,
    }


def _chunk(body: dict[str, Any], delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model", "fake-model"),
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def completions(body: dict[str, Any], script: Script) -> Reply:
    text = reply_text(body, script)
    if not body.get("stream"):
        message = {"role": "assistant", "content": text}
        return json_reply(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "fake-model"),
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": _usage(script),
            }
        )
    events = [
        sse_event(None, _chunk(body, {"role": "assistant", "content": text}, None)),
        sse_event(None, _chunk(body, {}, "stop")),
    ]
    final = {**_chunk(body, {}, None), "choices": [], "usage": _usage(script)}
    events += [sse_event(None, final), sse_event(None, "[DONE]")]
    return Reply(events=events)
