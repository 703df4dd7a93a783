"""Each adapter's reading of one output line into the agent's latest activity.

The lines are the shapes the CLIs stream (trimmed from real runs, as in
``test_agents_parse``; Claude Code's ``api_retry`` and Codex's reconnect notice are the
events those CLIs print while a model API keeps failing).
"""

from __future__ import annotations

import json

import pytest

from isollm.agents import activity
from isollm.agents.activity import MAX_ACTIVITY


def js(event: dict[str, object]) -> str:
    return json.dumps(event)


CLAUDE_TOOL = js(
    {
        "type": "assistant",
        "message": {
            "content": [
                {"type": "text", "text": "Let me run the tests."},
                {
                    "type": "tool_use",
                    "id": "toolu_01",
                    "name": "Bash",
                    "input": {"command": "pytest -q tests/", "description": "Run tests"},
                },
            ]
        },
    }
)
CLAUDE_RETRY = js(
    {
        "type": "system",
        "subtype": "api_retry",
        "attempt": 3,
        "max_retries": 10,
        "retry_delay_ms": 2000,
        "error_status": 529,
        "error": "overloaded",
    }
)


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        (CLAUDE_TOOL, "Bash(pytest -q tests/)"),
        (CLAUDE_RETRY, "API retry 3/10 (529)"),
        (
            '{"type":"assistant","message":{"content":[{"type":"text","text":"All\\n done."}]}}',
            "All done.",
        ),
        (
            '{"type":"system","subtype":"init","cwd":"/w","model":"claude-opus-4-8"}',
            "started (claude-opus-4-8)",
        ),
        (js({"type": "result", "subtype": "success", "is_error": False}), "finished: success"),
        ('{"type":"user","message":{"content":[{"type":"tool_result"}]}}', None),
        ("Error: connect ECONNREFUSED 127.0.0.1:9", "Error: connect ECONNREFUSED 127.0.0.1:9"),
        ("", None),
        ("{not json", "{not json"),
        ("[1, 2]", "[1, 2]"),
    ],
)
def test_claude(line: str, shown: str | None) -> None:
    assert activity.claude(line) == shown


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ('{"type":"thread.started","thread_id":"01a1"}', None),
        ('{"type":"turn.started"}', "turn started"),
        (js({"type": "error", "message": "Reconnecting... 1/5"}), "Reconnecting... 1/5"),
        (
            js(
                {
                    "type": "item.started",
                    "item": {
                        "id": "item_2",
                        "type": "command_execution",
                        "command": "bash -lc 'cargo test'",
                        "status": "in_progress",
                    },
                }
            ),
            "$ bash -lc 'cargo test'",
        ),
        (
            js(
                {
                    "type": "item.completed",
                    "item": {
                        "id": "item_1",
                        "type": "file_change",
                        "changes": [{"path": "/w/hello.txt", "kind": "add"}],
                        "status": "completed",
                    },
                }
            ),
            "edit /w/hello.txt",
        ),
        (
            js(
                {
                    "type": "item.completed",
                    "item": {"id": "item_3", "type": "agent_message", "text": "All done."},
                }
            ),
            "All done.",
        ),
        (js({"type": "turn.completed", "usage": {"input_tokens": 10}}), None),
        (js({"type": "item.completed", "item": "odd"}), None),
    ],
)
def test_codex(line: str, shown: str | None) -> None:
    assert activity.codex(line) == shown


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        (
            js(
                {
                    "type": "tool_use",
                    "tool_name": "write_file",
                    "tool_id": "w1",
                    "parameters": {"file_path": "hello.txt"},
                }
            ),
            "write_file(hello.txt)",
        ),
        (js({"type": "tool_result", "tool_id": "w1", "status": "success"}), None),
        (js({"type": "message", "role": "assistant", "content": "Let ", "delta": True}), None),
        (js({"type": "message", "role": "user", "content": "create hello.txt"}), None),
        (js({"type": "result", "status": "error"}), "finished: error"),
        (js({"type": "init", "session_id": "8", "model": "auto"}), "started (auto)"),
        (
            "Attempt 1 failed with status 429. Retrying with backoff...",
            "Attempt 1 failed with status 429. Retrying with backoff...",
        ),
    ],
)
def test_gemini(line: str, shown: str | None) -> None:
    assert activity.gemini(line) == shown


def test_plain_text_agents_show_their_line() -> None:
    assert activity.of("aider")("Applied edit to hello.txt\n") == "Applied edit to hello.txt"
    assert activity.of("command")("   \n") is None
    assert activity.of("no-such-agent") is activity.text


def test_what_is_shown_is_short_and_on_one_line() -> None:
    long = js(
        {
            "type": "assistant",
            "message": {
                "content": [{"type": "tool_use", "name": "Bash", "input": {"command": "x" * 5000}}]
            },
        }
    )
    for shown in (activity.claude(long), activity.text("y" * 5000 + "\nz")):
        assert shown is not None
        assert len(shown) <= MAX_ACTIVITY
        assert "\n" not in shown
