"""Attempt logs as text (``isollm run log``): each adapter's stream rendered readable."""

from __future__ import annotations

import json
from typing import Any

from isollm.agents.render import RESULT_SHOWN, LogRenderer


def render(agent: str, *events: dict[str, Any] | str) -> list[str]:
    r = LogRenderer(agent)
    return r.lines(e if isinstance(e, str) else json.dumps(e) for e in events)


def test_claude_messages_tool_calls_results_and_the_result() -> None:
    out = render(
        "claude",
        {"type": "system", "subtype": "init", "model": "m1"},
        {
            "type": "assistant",
            "message": {
                "content": [
                    {"type": "text", "text": "Reading.\nTwo lines."},
                    {"type": "tool_use", "name": "Read", "input": {"file_path": "a.py"}},
                ]
            },
        },
        {
            "type": "user",
            "message": {"content": [{"type": "tool_result", "content": "boom", "is_error": True}]},
        },
        {"type": "result", "subtype": "success", "result": "Done.", "total_cost_usd": 0.5},
        "a stderr line, not JSON",
    )
    assert out == [
        "· started (m1)",
        "Reading.",
        "  Two lines.",
        "→ Read(a.py)",
        "  ✗ boom",
        "· result: success, $0.5",
        "Done.",
        "a stderr line, not JSON",
    ]


def test_long_tool_output_is_shortened() -> None:
    big = "x" * (RESULT_SHOWN + 50)
    [line] = render("gemini", {"type": "tool_result", "status": "success", "output": big})
    assert line.endswith("… (50 more)")


def test_gemini_and_codex_streams() -> None:
    assert render(
        "gemini",
        {"type": "message", "role": "user", "content": "the prompt"},
        {"type": "message", "role": "assistant", "content": "Hello"},
        {"type": "tool_use", "tool_name": "run_shell_command", "parameters": {"command": "ls"}},
        {"type": "result", "status": "success"},
    ) == ["Hello", "→ run_shell_command(ls)", "· result: success"]
    assert render(
        "codex",
        {"type": "item.started", "item": {"type": "command_execution", "command": "pytest"}},
        {
            "type": "item.completed",
            "item": {"type": "command_execution", "aggregated_output": "1 failed", "exit_code": 1},
        },
        {"type": "item.completed", "item": {"type": "file_change", "changes": [{"path": "a"}]}},
        {"type": "item.completed", "item": {"type": "agent_message", "text": "Fixed."}},
        {"type": "turn.completed"},
    ) == ["→ $ pytest", "  ✗ 1 failed", "→ edit a", "Fixed."]


def test_plain_agents_and_unknown_shapes_come_out_as_written() -> None:
    line = '{"type": "assistant"}'
    assert render("command", line, "plain") == [line, "plain"]
    assert render("aider", "> edit a.py") == ["> edit a.py"]
    assert render("claude", "{not json") == ["{not json"]
