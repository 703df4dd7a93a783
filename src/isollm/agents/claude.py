"""Claude Code (``claude``, npm ``@anthropic-ai/claude-code``).

Headless: ``claude -p --output-format stream-json --verbose
--dangerously-skip-permissions -- PROMPT``; the last line of the stream is a
``result`` event carrying the outcome, token usage and cost. Claude Code refuses to
skip permissions when run as root unless ``IS_SANDBOX=1`` is set, which the adapter
does only for a sandboxed invocation. It reads CLAUDE.md from its working directory.
Credentials: ``ANTHROPIC_API_KEY``, ``ANTHROPIC_AUTH_TOKEN`` or a long-lived
``CLAUDE_CODE_OAUTH_TOKEN`` (from ``claude setup-token``), passed by environment only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from isollm.agents.base import AgentOutcome, Invocation
from isollm.agents.common import (
    CliAgent,
    as_int,
    by_exit_code,
    clip,
    flag,
    json_lines,
    write_settings,
)


class ClaudeAgent(CliAgent):
    name = "claude"
    instruction_file = "CLAUDE.md"
    default_binary = "claude"
    install_hint = "npm install -g @anthropic-ai/claude-code"
    secret_keys = (
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "CLAUDE_CODE_OAUTH_TOKEN",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    )
    approve_flags: tuple[str, ...] = ("--dangerously-skip-permissions",)
    passthrough = (
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_MODEL",
        "ANTHROPIC_SMALL_FAST_MODEL",
        "CLAUDE_CODE_USE_BEDROCK",
        "CLAUDE_CODE_USE_VERTEX",
        "ANTHROPIC_VERTEX_PROJECT_ID",
        "CLOUD_ML_REGION",
        "AWS_REGION",
    )

    def headless_argv(self, inv: Invocation) -> list[str]:
        return [
            self.binary,
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
            *self.approve_flags,
            *flag("--model", self.model(inv.model)),
            *self.args(inv.extra_args),
            "--",
            inv.prompt,
        ]

    def fixed_env(self, inv: Invocation) -> dict[str, str]:
        env = {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1"}
        if self.settings.base_url:
            env["ANTHROPIC_BASE_URL"] = self.settings.base_url
        if inv.sandboxed:
            env["IS_SANDBOX"] = "1"
        return env

    def prepare(self, home: Path) -> list[Path]:
        """Mark onboarding done so an interactive pane starts at the prompt."""
        state = {"hasCompletedOnboarding": True, "bypassPermissionsModeAccepted": True}
        return [write_settings(home / ".claude.json", json.dumps(state, indent=2) + "\n")]

    def parse_result(self, exit_code: int, output: str) -> AgentOutcome:
        results = [e for e in json_lines(output) if e.get("type") == "result"]
        if not results:
            return by_exit_code(exit_code, output)
        return _outcome(exit_code, results[-1])


def _outcome(exit_code: int, result: dict[str, Any]) -> AgentOutcome:
    usage = result.get("usage") or {}
    tokens_in = sum(
        as_int(usage.get(k))
        for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )
    ok = exit_code == 0 and result.get("subtype") == "success" and not result.get("is_error")
    summary = result.get("result") or result.get("subtype") or ""
    cost = result.get("total_cost_usd")
    return AgentOutcome(
        success=ok,
        summary=clip(str(summary)),
        tokens_in=tokens_in if usage else None,
        tokens_out=as_int(usage.get("output_tokens")) if usage else None,
        cost_usd=float(cost) if isinstance(cost, int | float) else None,
    )
