"""Claude Code (``claude``, npm ``@anthropic-ai/claude-code``).

Headless: ``claude -p --output-format stream-json --verbose
--dangerously-skip-permissions -- PROMPT``; the last line of the stream is a
``result`` event carrying the outcome, token usage and cost. Claude Code refuses to
skip permissions when run as root unless ``IS_SANDBOX=1`` is set, which the adapter
does only for a sandboxed invocation. It reads CLAUDE.md from its working directory
and its settings from ``CLAUDE_CONFIG_DIR``, which :meth:`ClaudeAgent.prepare` fills.
Credentials: ``ANTHROPIC_API_KEY``, ``ANTHROPIC_AUTH_TOKEN`` or a long-lived
``CLAUDE_CODE_OAUTH_TOKEN`` (from ``claude setup-token``), passed by environment only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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
from isollm.agents.envvars import AgentEnv
from isollm.agents.promptfile import from_stdin

CONFIG_DIR = ".claude"
KEY_HELPER_CONFIG_DIR = ".claude-keyhelper"
ROUTED_KEY = "ISOLLM_ANTHROPIC_API_KEY"


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
    # Its own agent teams would split the multiplexer window the pane runs in (a hidden
    # flag, present in the installed 2.1 CLI).
    session_flags: tuple[str, ...] = ("--teammate-mode", "in-process")
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

    def resume_args(self) -> list[str]:
        return ["--continue"]

    def headless_argv(self, inv: Invocation) -> list[str]:
        argv = [
            self.binary,
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
            *self.approve_flags,
            *flag("--model", self.model(inv.model)),
            *self.args(inv.extra_args),
        ]
        if inv.prompt_file is not None:  # without a prompt argument, stdin is the prompt
            return from_stdin(inv.prompt_file, argv)
        return [*argv, "--", inv.prompt]

    def env(self, host_env: Mapping[str, str], inv: Invocation) -> AgentEnv:
        """In an interactive session an ``ANTHROPIC_API_KEY`` would stop Claude Code at a
        "use this key?" question (answering it stores part of the key on disk), so the key
        travels as ``ISOLLM_ANTHROPIC_API_KEY`` and an ``apiKeyHelper`` prints it."""
        env = super().env(host_env, inv)
        config_dir = CONFIG_DIR
        if inv.interactive and "ANTHROPIC_API_KEY" in env:
            env[ROUTED_KEY] = env.pop("ANTHROPIC_API_KEY")
            config_dir = KEY_HELPER_CONFIG_DIR
        if inv.home:
            env["CLAUDE_CONFIG_DIR"] = str(inv.home / config_dir)
        return env

    def fixed_env(self, inv: Invocation) -> dict[str, str]:
        env = {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1"}
        if self.settings.base_url:
            env["ANTHROPIC_BASE_URL"] = self.settings.base_url
        if inv.sandboxed:
            env["IS_SANDBOX"] = "1"
        return env

    def prepare(self, home: Path, workdir: Path | None = None) -> list[Path]:
        """Config dirs that start an interactive pane at the prompt: onboarding done,
        ``workdir`` trusted; the second one reads the key through the helper."""
        state: dict[str, Any] = {
            "hasCompletedOnboarding": True,
            "bypassPermissionsModeAccepted": True,
        }
        if workdir is not None:
            state["projects"] = {str(workdir): {"hasTrustDialogAccepted": True}}
        text = json.dumps(state, indent=2) + "\n"
        return [
            write_settings(home / CONFIG_DIR / ".claude.json", text),
            write_settings(home / KEY_HELPER_CONFIG_DIR / ".claude.json", text),
            *write_user_settings(home),
        ]

    def parse_result(self, exit_code: int, output: str) -> AgentOutcome:
        results = [e for e in json_lines(output) if e.get("type") == "result"]
        if not results:
            return by_exit_code(exit_code, output)
        return _outcome(exit_code, results[-1])


def write_user_settings(home: Path, extra: Mapping[str, Any] | None = None) -> list[Path]:
    """``settings.json`` in both config dirs under ``home``: ``extra`` (hooks, say) and,
    in the one for a routed key, the ``apiKeyHelper`` that prints it."""
    documents = {
        CONFIG_DIR: dict(extra or {}),
        KEY_HELPER_CONFIG_DIR: {"apiKeyHelper": f"printenv {ROUTED_KEY}", **(extra or {})},
    }
    return [
        write_settings(home / folder / "settings.json", json.dumps(document, indent=2) + "\n")
        for folder, document in documents.items()
    ]


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
