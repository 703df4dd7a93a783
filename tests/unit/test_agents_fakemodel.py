"""The fake model server speaks each protocol well enough for the real CLIs.

These pin its behaviour with plain HTTP so a failing real-CLI test can be told apart
from a broken server.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.fakemodel import FakeModelServer, RunCommand, Script, WriteFile
from tests.fakemodel.openai_responses import add_file_patch
from tests.fakemodel.script import find_workdir

SCRIPT = Script(
    actions=(WriteFile("notes/a.txt", "one\ntwo\n"), RunCommand("git commit -qam x")),
    final="Finished.",
    commit_message="Add notes",
)


@pytest.fixture
def server() -> Any:
    with FakeModelServer(SCRIPT) as running:
        yield running


def post(server: FakeModelServer, path: str, body: dict[str, Any]) -> tuple[int, str]:
    response = httpx.post(server.url + path, json=body, headers={"x-api-key": "k-1"}, timeout=10)
    return response.status_code, response.text


def sse_data(text: str) -> list[Any]:
    out = []
    for line in text.splitlines():
        if line.startswith("data: "):
            payload = line.removeprefix("data: ")
            out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out


def test_head_and_unknown_paths(server: FakeModelServer) -> None:
    assert httpx.head(server.url + "/", timeout=10).status_code == 200
    status, body = post(server, "/v9/nothing", {})
    assert status == 404
    assert "no route" in body
    assert [r.method for r in server.requests] == ["HEAD", "POST"]


def test_anthropic_replays_one_action_per_turn(server: FakeModelServer) -> None:
    system = "Primary working directory: /work/repo\n"
    first = {"stream": True, "tools": [{"name": "Write"}], "system": system, "messages": []}
    status, text = post(server, "/v1/messages?beta=true", first)
    events = sse_data(text)
    assert status == 200
    assert [e["type"] for e in events][:2] == ["message_start", "content_block_start"]
    block = events[1]["content_block"]
    assert (block["type"], block["name"]) == ("tool_use", "Write")
    assert json.loads(events[2]["delta"]["partial_json"]) == {
        "file_path": "/work/repo/notes/a.txt",
        "content": "one\ntwo\n",
    }
    assert events[-2]["delta"]["stop_reason"] == "tool_use"
    done = {"type": "tool_result", "tool_use_id": "t", "content": "ok"}
    second = {**first, "messages": [{"role": "user", "content": [done]}]}
    assert sse_data(post(server, "/v1/messages", second)[1])[1]["content_block"]["name"] == "Bash"
    third = {**first, "messages": [{"role": "user", "content": [done, done]}]}
    events = sse_data(post(server, "/v1/messages", third)[1])
    assert events[2]["delta"] == {"type": "text_delta", "text": "Finished."}
    assert server.posts("/v1/messages")[0].headers["x-api-key"] == "k-1"


def test_anthropic_side_requests_without_tools_get_plain_text(server: FakeModelServer) -> None:
    status, text = post(server, "/v1/messages", {"messages": [{"role": "user", "content": "t"}]})
    assert status == 200
    assert json.loads(text)["content"] == [{"type": "text", "text": "ok"}]


def test_responses_api_writes_through_the_offered_shell(server: FakeModelServer) -> None:
    body = {
        "stream": True,
        "tools": [{"type": "function", "name": "exec_command"}],
        "input": [{"type": "message", "content": [{"text": "<cwd>/w</cwd>"}]}],
    }
    events = sse_data(post(server, "/v1/responses", body)[1])
    assert events[0]["type"] == "response.created"
    assert events[-1]["type"] == "response.completed"
    call = events[1]["item"]
    assert call["name"] == "exec_command"
    assert add_file_patch("/w/notes/a.txt", "one\ntwo\n") in json.loads(call["arguments"])["cmd"]
    body["input"] += [{"type": "function_call"}, {"type": "function_call_output"}] * 2
    events = sse_data(post(server, "/v1/responses", body)[1])
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "Finished."
    assert events[-1]["response"]["usage"]["input_tokens"] == SCRIPT.usage_in


def test_chat_completions_replies_with_search_replace_blocks(server: FakeModelServer) -> None:
    body = {"stream": True, "messages": [{"role": "user", "content": "go"}]}
    chunks = sse_data(post(server, "/v1/chat/completions", body)[1])
    assert chunks[-1] == "[DONE]"
    text = chunks[0]["choices"][0]["delta"]["content"]
    assert "notes/a.txt\n```\n<<<<<<< SEARCH\n=======\none\ntwo\n>>>>>>> REPLACE\n```" in text
    assert chunks[-2]["usage"]["prompt_tokens"] == SCRIPT.usage_in


def test_chat_completions_answers_commit_message_requests(server: FakeModelServer) -> None:
    system = {"role": "system", "content": "Write a one-line Git commit message."}
    body = {"messages": [system, {"role": "user", "content": "diff"}]}
    reply = json.loads(post(server, "/v1/chat/completions", body)[1])
    assert reply["choices"][0]["message"]["content"] == "Add notes"


def test_gemini_stream_and_structured_side_questions(server: FakeModelServer) -> None:
    contents = [{"role": "user", "parts": [{"text": "Workspace Directories:**\n  - /g/repo"}]}]
    path = "/v1beta/models/gemini-x:streamGenerateContent?alt=sse"
    events = sse_data(post(server, path, {"contents": contents})[1])
    call = events[0]["candidates"][0]["content"]["parts"][0]["functionCall"]
    assert call == {
        "name": "write_file",
        "args": {"file_path": "/g/repo/notes/a.txt", "content": "one\ntwo\n"},
    }
    schema = {
        "type": "OBJECT",
        "properties": {
            "next_speaker": {"type": "STRING", "enum": ["model", "user"]},
            "score": {"type": "INTEGER"},
        },
    }
    body = {"contents": contents, "generationConfig": {"responseJsonSchema": schema}}
    reply = json.loads(post(server, "/v1beta/models/gemini-x:generateContent", body)[1])
    answer = json.loads(reply["candidates"][0]["content"]["parts"][0]["text"])
    assert answer == {"next_speaker": "user", "score": 1}


def test_a_failing_script_refuses_every_model_call() -> None:
    with FakeModelServer(Script(fail_status=429, fail_message="slow down")) as server:
        status, body = post(server, "/v1/messages", {"stream": True})
        assert status == 429
        assert json.loads(body)["error"]["message"] == "slow down"


@pytest.mark.parametrize(
    ("text", "workdir"),
    [
        ("Primary working directory: /a/b\nmore", "/a/b"),
        ("<environment_context><cwd>/c/d</cwd></environment_context>", "/c/d"),
        ("- **Workspace Directories:**\n  - /e/f\n", "/e/f"),
        ("nothing here", ""),
    ],
)
def test_find_workdir(text: str, workdir: str) -> None:
    assert find_workdir(text) == workdir
