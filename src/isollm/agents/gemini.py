"""Gemini CLI (``gemini``, npm ``@google/gemini-cli``).

Headless: ``gemini --yolo --skip-trust --output-format stream-json --prompt=PROMPT``
(the ``=`` form, so a prompt starting with ``-`` stays a prompt); the stream ends with
a ``result`` event holding the status and token stats. The CLI needs
``~/.gemini/settings.json`` naming the auth type: :meth:`GeminiAgent.prepare` writes it
under the agent's home, with AGENTS.md as its context file (it reads GEMINI.md
otherwise) and usage statistics and auto-update off. ``GEMINI_API_KEY`` comes from the
environment; a ``base_url`` becomes ``GOOGLE_GEMINI_BASE_URL``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from isollm.agents.base import AgentOutcome, Invocation
from isollm.agents.common import (
    CliAgent,
    as_int,
    by_exit_code,
    flag,
    json_lines,
    readable_error,
    replied,
    write_settings,
)
from isollm.agents.promptfile import from_stdin

GEMINI_DIR = ".gemini"


def settings_document(auth_type: str, context_files: Sequence[str]) -> dict[str, Any]:
    return {
        "security": {"auth": {"selectedType": auth_type}},
        "context": {"fileName": list(context_files)},
        "privacy": {"usageStatisticsEnabled": False},
        "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False},
    }


class GeminiAgent(CliAgent):
    name = "gemini"
    default_binary = "gemini"
    install_hint = "npm install -g @google/gemini-cli"
    secret_keys = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    approve_flags: tuple[str, ...] = ("--yolo",)
    passthrough = (
        "GOOGLE_GEMINI_BASE_URL",
        "GOOGLE_CLOUD_PROJECT",
        "GOOGLE_CLOUD_LOCATION",
        "GOOGLE_GENAI_USE_VERTEXAI",
        "GOOGLE_APPLICATION_CREDENTIALS",
    )

    def headless_argv(self, inv: Invocation) -> list[str]:
        argv = [
            self.binary,
            *self.approve_flags,
            "--skip-trust",
            "--output-format",
            "stream-json",
            *flag("--model", self.model(inv.model)),
            *self.args(inv.extra_args),
        ]
        if inv.prompt_file is not None:  # stdin comes first in the prompt, then --prompt
            return from_stdin(inv.prompt_file, [*argv, "--prompt="])
        return [*argv, f"--prompt={inv.prompt}"]

    def first_prompt(self, prompt: str) -> list[str]:
        return [f"--prompt-interactive={prompt}"]

    def fixed_env(self, inv: Invocation) -> dict[str, str]:
        env = {}
        if self.settings.base_url:
            env["GOOGLE_GEMINI_BASE_URL"] = self.settings.base_url
        if inv.sandboxed:
            env["GEMINI_CLI_TRUST_WORKSPACE"] = "true"
        return env

    def prepare(self, home: Path, workdir: Path | None = None) -> list[Path]:
        return [self.write_settings(home)]

    def write_settings(self, home: Path, extra: Mapping[str, Any] | None = None) -> Path:
        """``~/.gemini/settings.json`` under ``home``, with ``extra`` keys (hooks, say)."""
        document = settings_document("gemini-api-key", [self.instruction_file, "GEMINI.md"])
        text = json.dumps({**document, **(extra or {})}, indent=2) + "\n"
        return write_settings(home / GEMINI_DIR / "settings.json", text)

    def parse_result(self, exit_code: int, output: str) -> AgentOutcome:
        events = list(json_lines(output))
        results = [e for e in events if e.get("type") == "result"]
        if not results:
            return by_exit_code(exit_code, output)
        return _outcome(exit_code, results[-1], _last_reply(events))


def _last_reply(events: list[dict[str, Any]]) -> str:
    """The assistant's text after its last tool call (the stream sends it in pieces)."""
    pieces: list[str] = []
    for event in events:
        if event.get("type") == "tool_use":
            pieces = []
        elif event.get("type") == "message" and event.get("role") == "assistant":
            pieces.append(str(event.get("content", "")))
    return "".join(pieces)


def _outcome(exit_code: int, result: dict[str, Any], reply: str) -> AgentOutcome:
    stats = result.get("stats") or {}
    ok = exit_code == 0 and result.get("status") == "success"
    error = result.get("error")
    problem = error.get("message", "") if isinstance(error, dict) else str(error or "")
    tokens = (as_int(stats.get("input_tokens")), as_int(stats.get("output_tokens")))
    return replied(exit_code, ok, reply, readable_error(str(problem)), tokens if stats else None)
