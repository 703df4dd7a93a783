"""Reading each CLI's output into an outcome; samples are trimmed from real runs."""

from __future__ import annotations

import json

import pytest

from isollm.agents import AgentOutcome, get_agent
from isollm.agents.aider import parse_count
from isollm.agents.common import readable_error


def jsonl(*events: dict[str, object]) -> str:
    return "".join(json.dumps(e) + "\n" for e in events)


CLAUDE_OK = "\n".join(
    [
        '{"type":"system","subtype":"init","cwd":"/w","model":"claude-opus-4-8"}',
        '{"type":"assistant","message":{"content":[{"type":"text","text":"All done."}]}}',
        json.dumps(
            {
                "type": "result",
                "subtype": "success",
                "is_error": False,
                "num_turns": 3,
                "result": "All done: the scripted changes are in place.",
                "total_cost_usd": 0.02055,
                "usage": {
                    "input_tokens": 3600,
                    "cache_creation_input_tokens": 100,
                    "cache_read_input_tokens": 50,
                    "output_tokens": 102,
                },
            }
        ),
    ]
)
CLAUDE_API_ERROR = json.dumps(
    {
        "type": "result",
        "subtype": "success",
        "is_error": True,
        "api_error_status": 400,
        "result": "API Error: 400 bad request",
        "total_cost_usd": 0,
        "usage": {"input_tokens": 0, "output_tokens": 0},
    }
)
CODEX_OK = jsonl(
    {"type": "thread.started", "thread_id": "01a1"},
    {
        "type": "item.completed",
        "item": {
            "id": "item_0",
            "type": "error",
            "message": "Model metadata for `fake-model` not found.",
        },
    },
    {"type": "turn.started"},
    {
        "type": "item.completed",
        "item": {
            "id": "item_1",
            "type": "file_change",
            "changes": [{"path": "/w/hello.txt", "kind": "add"}],
            "status": "completed",
        },
    },
    {
        "type": "item.completed",
        "item": {"id": "item_3", "type": "agent_message", "text": "All done."},
    },
    {
        "type": "turn.completed",
        "usage": {
            "input_tokens": 3600,
            "cached_input_tokens": 0,
            "output_tokens": 102,
            "reasoning_output_tokens": 0,
        },
    },
)

CODEX_FAILED = jsonl(
    {"type": "thread.started", "thread_id": "01a1"},
    {"type": "turn.started"},
    {"type": "error", "message": '{"error": {"message": "bad key"}}'},
    {"type": "turn.failed", "error": {"message": '{"error": {"message": "bad key"}}'}},
)

CODEX_RETRIED = jsonl(
    {"type": "turn.started"},
    {"type": "error", "message": "Reconnecting... 1/5"},
    {
        "type": "item.completed",
        "item": {"id": "item_1", "type": "agent_message", "text": "Done after a retry."},
    },
    {"type": "turn.completed", "usage": {"input_tokens": 10, "output_tokens": 5}},
)

GEMINI_OK = jsonl(
    {"type": "init", "session_id": "8", "model": "auto"},
    {"type": "message", "role": "user", "content": "create hello.txt"},
    {"type": "message", "role": "assistant", "content": "Let me ", "delta": True},
    {
        "type": "tool_use",
        "tool_name": "write_file",
        "tool_id": "w1",
        "parameters": {"file_path": "hello.txt"},
    },
    {"type": "tool_result", "tool_id": "w1", "status": "success"},
    {"type": "message", "role": "assistant", "content": "All ", "delta": True},
    {"type": "message", "role": "assistant", "content": "done.", "delta": True},
    {
        "type": "result",
        "status": "success",
        "stats": {
            "total_tokens": 4936,
            "input_tokens": 4800,
            "output_tokens": 136,
            "tool_calls": 2,
        },
    },
)

GEMINI_ERROR = jsonl(
    {"type": "init", "session_id": "a", "model": "gemini-fake"},
    {
        "type": "result",
        "status": "error",
        "error": {
            "type": "unknown",
            "message": '[API Error: {"error":{"code":400,"message":"quota exceeded"}}]',
        },
        "stats": {"input_tokens": 0, "output_tokens": 0},
    },
)

AIDER_OK = """Aider v0.86.2
Model: openai/fake-model with diff edit format
All done: the scripted changes are in place.
Tokens: 2.8k sent, 29 received. Cost: $0.0029 message, $0.0029 session.
Tokens: 1,024 sent, 1.1k cache write, 12 received. Cost: $0.0010 message, $0.0039 session.

hello.txt
Applied edit to hello.txt
Commit 82e0652 ar-e2e1: add hello.txt
"""
AIDER_API_ERROR = """Aider v0.86.2
Model: openai/fake-model with diff edit format

litellm.BadRequestError: OpenAIException - scripted failure: the fake model
refuses this request


"""


def parse(name: str, code: int, output: str) -> AgentOutcome:
    return get_agent(name).parse_result(code, output)


def test_claude_success_with_tokens_and_cost() -> None:
    outcome = parse("claude", 0, CLAUDE_OK)
    assert outcome.success
    assert outcome.summary == "All done: the scripted changes are in place."
    assert outcome.tokens_in == 3750  # fresh + cache writes + cache reads
    assert outcome.tokens_out == 102
    assert outcome.cost_usd == pytest.approx(0.02055)


def test_claude_api_error_is_a_failure_even_with_exit_zero() -> None:
    outcome = parse("claude", 0, CLAUDE_API_ERROR)
    assert not outcome.success
    assert outcome.summary == "API Error: 400 bad request"


def test_claude_success_result_with_a_failing_exit_is_a_failure() -> None:
    assert not parse("claude", 1, CLAUDE_OK).success


def test_claude_text_output_falls_back_to_the_exit_code() -> None:
    outcome = parse("claude", 0, "I changed two files.\n")
    assert outcome.success
    assert outcome.summary == "I changed two files."
    assert outcome.tokens_in is None


def test_codex_success_sums_usage_and_takes_the_last_message() -> None:
    outcome = parse("codex", 0, CODEX_OK + CODEX_RETRIED)
    assert outcome.success
    assert outcome.summary == "Done after a retry."
    assert (outcome.tokens_in, outcome.tokens_out) == (3610, 107)
    assert outcome.cost_usd is None


def test_codex_failed_turn_reports_the_inner_message() -> None:
    outcome = parse("codex", 1, CODEX_FAILED)
    assert not outcome.success
    assert outcome.summary == "bad key"
    assert outcome.tokens_in is None


def test_codex_retry_errors_before_a_completed_turn_are_not_failures() -> None:
    assert parse("codex", 0, CODEX_RETRIED).success


def test_gemini_success_takes_the_reply_after_the_last_tool_call() -> None:
    outcome = parse("gemini", 0, GEMINI_OK)
    assert outcome.success
    assert outcome.summary == "All done."
    assert (outcome.tokens_in, outcome.tokens_out) == (4800, 136)


def test_gemini_error_result_is_a_readable_failure() -> None:
    outcome = parse("gemini", 144, GEMINI_ERROR)
    assert not outcome.success
    assert outcome.summary == "API Error: quota exceeded"


def test_aider_sums_tokens_and_takes_the_session_cost() -> None:
    outcome = parse("aider", 0, AIDER_OK)
    assert outcome.success
    assert outcome.summary == "Commit 82e0652 ar-e2e1: add hello.txt"
    assert (outcome.tokens_in, outcome.tokens_out) == (2800 + 1024, 29 + 12)
    assert outcome.cost_usd == pytest.approx(0.0039)


def test_aider_model_error_is_a_failure_although_it_exits_zero() -> None:
    outcome = parse("aider", 0, AIDER_API_ERROR)
    assert not outcome.success
    assert outcome.summary == (
        "litellm.BadRequestError: OpenAIException - scripted failure: the fake model "
        "refuses this request"
    )


def test_command_outcome_is_its_exit_code_and_last_line() -> None:
    agent = get_agent("command")
    assert agent.parse_result(0, "step 1\nfinished ar-1\n").summary == "finished ar-1"
    failed = agent.parse_result(3, "oops\n")
    assert not failed.success
    assert failed.summary == "exit 3: oops"


def test_long_summaries_are_clipped() -> None:
    outcome = get_agent("command").parse_result(0, "x" * 5000)
    assert len(outcome.summary) <= 500


@pytest.mark.parametrize(
    ("text", "count"), [("29", 29), ("2.3k", 2300), ("1,024", 1024), ("12.5k", 12500)]
)
def test_aider_token_counts(text: str, count: int) -> None:
    assert parse_count(text) == count


@pytest.mark.parametrize(
    ("text", "readable"),
    [
        ('[API Error: {"error": {"message": "no quota"}}]', "API Error: no quota"),
        ('{"message": "plain"}', "plain"),
        ("no json at all", "no json at all"),
        ("{not json}", "{not json}"),
        ('{"error": {"code": 3}}', '{"error": {"code": 3}}'),
    ],
)
def test_readable_error(text: str, readable: str) -> None:
    assert readable_error(text) == readable
