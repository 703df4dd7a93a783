"""Codex CLI (``codex``, npm ``@openai/codex``).

Headless: ``codex exec --json --dangerously-bypass-approvals-and-sandbox
--skip-git-repo-check -- PROMPT`` with stdin closed (it reads stdin otherwise); its
JSON lines end with ``turn.completed`` (token usage) or ``turn.failed``. Codex reads
``$CODEX_HOME/config.toml``: :meth:`CodexAgent.prepare` writes one under the agent's
home, naming a model provider for a configured ``base_url`` (Responses API) and the
*name* of the variable holding its key, never the key. It reads AGENTS.md.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
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

CODEX_DIR = ".codex"
PROVIDER = "isollm"
KEY_VARIABLE = "OPENAI_API_KEY"


# Commands Codex runs inherit its environment: keep AIRYRA_TOKEN (for `airyra`) whatever
# Codex's default excludes become, but not the model keys. Shell snapshots (interactive
# sessions) would write the whole environment, keys included, under CODEX_HOME, and an
# interactive session would leave an app-server daemon running after the pane closes.
SAFE_DEFAULTS = [
    "",
    "[features]",
    "shell_snapshot = false",
    "daemon_auto_start = false",
    "",
    "[shell_environment_policy]",
    "ignore_default_excludes = true",
    'exclude = ["OPENAI_API_KEY", "CODEX_API_KEY", "*_API_KEY", "*_SECRET*", "*PASSWORD*"]',
]


def toml_string(value: str) -> str:
    """A TOML basic string (JSON's escapes are valid TOML)."""
    return json.dumps(value)


class CodexAgent(CliAgent):
    name = "codex"
    default_binary = "codex"
    install_hint = "npm install -g @openai/codex"
    secret_keys = ("OPENAI_API_KEY", "CODEX_API_KEY")
    approve_flags: tuple[str, ...] = ("--dangerously-bypass-approvals-and-sandbox",)
    # Hooks (a session's state reports, a project's own) run without a trust dialog
    # stopping the pane: everything runs inside the sandbox (see isollm.agents.hooks).
    session_flags: tuple[str, ...] = ("--dangerously-bypass-hook-trust",)
    passthrough = ("OPENAI_BASE_URL", "OPENAI_ORGANIZATION", "OPENAI_PROJECT")

    def headless_argv(self, inv: Invocation) -> list[str]:
        argv = [
            self.binary,
            "exec",
            "--json",
            *self.approve_flags,
            "--skip-git-repo-check",
            *flag("--model", self.model(inv.model)),
            *self.args(inv.extra_args),
            "--",
        ]
        if inv.prompt_file is not None:  # a prompt of "-" is read from stdin
            return from_stdin(inv.prompt_file, [*argv, "-"])
        return [*argv, inv.prompt]

    def interactive_argv(
        self,
        prompt: str = "",
        *,
        model: str = "",
        extra_args: Sequence[str] = (),
        auto_approve: bool = False,
        resume: bool | str = False,
    ) -> list[str]:
        """``resume`` an id: ``codex resume ID [options] -- PROMPT`` continues that
        conversation with ``prompt`` as its next message. ``resume=True``: ``codex resume
        --last``, without a first prompt (after ``--last`` a positional argument could be
        read as a session name)."""
        if isinstance(resume, str) and resume:
            argv = super().interactive_argv(
                prompt, model=model, extra_args=extra_args, auto_approve=auto_approve
            )
            return [argv[0], "resume", resume, *argv[1:]]
        return super().interactive_argv(
            "" if resume else prompt,
            model=model,
            extra_args=extra_args,
            auto_approve=auto_approve,
            resume=bool(resume),
        )

    def resume_args(self) -> list[str]:
        return ["resume", "--last"]

    def fixed_env(self, inv: Invocation) -> dict[str, str]:
        return {"CODEX_HOME": str(inv.home / CODEX_DIR)} if inv.home else {}

    def config_toml(self, workdir: Path | None = None, *, login_shell: bool = True) -> str:
        """The whole config.toml. Without ``login_shell`` Codex runs commands in a plain
        shell, keeping the PATH it was given (a login shell resets it from /etc/profile,
        hiding the session's ``airyra``)."""
        lines = ["# Written by isollm. Holds no secrets: keys come from the environment."]
        if not login_shell:
            lines.append("allow_login_shell = false")
        if self.settings.model:
            lines.append(f"model = {toml_string(self.settings.model)}")
        if self.settings.base_url:
            lines.append(f"model_provider = {toml_string(PROVIDER)}")
        lines += SAFE_DEFAULTS
        if workdir is not None:
            lines += ["", f"[projects.{toml_string(str(workdir))}]", 'trust_level = "trusted"']
        if self.settings.base_url:
            lines += [
                "",
                f"[model_providers.{PROVIDER}]",
                f"name = {toml_string('isollm: ' + self.settings.base_url)}",
                f"base_url = {toml_string(self.settings.base_url)}",
                f"env_key = {toml_string(KEY_VARIABLE)}",
                'wire_api = "responses"',
            ]
        return "\n".join(lines) + "\n"

    def prepare(self, home: Path, workdir: Path | None = None) -> list[Path]:
        return [write_settings(home / CODEX_DIR / "config.toml", self.config_toml(workdir))]

    def parse_result(self, exit_code: int, output: str) -> AgentOutcome:
        events = list(json_lines(output))
        if not any(e.get("type", "").startswith(("turn.", "thread.")) for e in events):
            return by_exit_code(exit_code, output)
        return _outcome(exit_code, events)


def _outcome(exit_code: int, events: list[dict[str, Any]]) -> AgentOutcome:
    """Success is a last turn that completed; ``error`` events before it were retries."""
    tokens_in = tokens_out = 0
    message = error = last_turn = ""
    for event in events:
        kind = str(event.get("type", ""))
        if kind == "turn.completed":
            usage = event.get("usage") or {}
            tokens_in += as_int(usage.get("input_tokens"))
            tokens_out += as_int(usage.get("output_tokens"))
        if kind in ("turn.completed", "turn.failed"):
            last_turn = kind
        if kind in ("turn.failed", "error"):
            error = _error_text(event) or error
        elif kind == "item.completed" and event.get("item", {}).get("type") == "agent_message":
            message = str(event["item"].get("text", ""))
    ok = exit_code == 0 and last_turn == "turn.completed"
    counted = any(e.get("type") == "turn.completed" for e in events)
    return replied(exit_code, ok, message, error, (tokens_in, tokens_out) if counted else None)


def _error_text(event: dict[str, Any]) -> str:
    error = event.get("error")
    if isinstance(error, dict):
        return readable_error(str(error.get("message", "")))
    return readable_error(str(event.get("message", error or "")))
