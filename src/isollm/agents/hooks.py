"""Agent settings for an interactive session: the CLI reports its own state.

In a session every worker's agent tells the task server what it is doing, so nobody
has to guess it from the screen. Its CLI runs ``airyra hook <agent>`` inside the sandbox
at each lifecycle event; that command reads the event, maps it to a state (working,
waiting, idle, exited) and sends it with the worker's own token (see
``isollm.tasks.agent_cli``). It prints nothing and always exits 0, within seconds.

- **Claude Code**: ``hooks`` in its user settings (``$CLAUDE_CONFIG_DIR/settings.json``,
  the worker's own, never yours): SessionStart, UserPromptSubmit, PreToolUse,
  PostToolUse, PermissionRequest, Notification (``permission_prompt``, which older
  versions send instead of PermissionRequest), Stop and SessionEnd.
- **Codex**: ``$CODEX_HOME/hooks.json`` with SessionStart, UserPromptSubmit,
  PreToolUse, PostToolUse, PermissionRequest and Stop. Codex sends the same payload as
  Claude Code (``hook_event_name``, ``session_id``, ``tool_name``), so the same
  ``airyra hook claude`` reads it. Codex runs a hook only once a person has reviewed and
  trusted it, which would stop the pane at a dialog: its session argv carries
  ``--dangerously-bypass-hook-trust`` (every hook runs inside the sandbox anyway).
  Its ``notify`` (``airyra hook codex``) is not used: Codex also sends it for side
  threads, mid-turn, which would report a working agent as idle. Its commands run in
  a plain shell (``allow_login_shell = false``): a login shell would reset PATH and
  lose the session's ``airyra``.
- **Gemini CLI**: ``hooks`` in its ``settings.json``. Its events and payloads are its
  own, so each hook states its meaning itself: ``airyra state working`` on BeforeAgent,
  BeforeTool and AfterTool, ``waiting`` on a ToolPermission notification, ``idle`` on
  SessionStart and AfterAgent, ``exited`` on SessionEnd (output discarded: Gemini CLI
  reads a hook's stdout as its answer; failures ignored).
- aider and ``command`` agents: no hooks; :mod:`isollm.agents.panestate` reads their
  panes.

:func:`session_settings` writes everything :meth:`Agent.prepare` writes plus the hooks:
call it instead of ``prepare`` for a session. No file holds a secret.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from isollm.agents.base import Agent
from isollm.agents.claude import ClaudeAgent, write_user_settings
from isollm.agents.codex import CODEX_DIR, CodexAgent
from isollm.agents.common import write_settings
from isollm.agents.gemini import GeminiAgent

HOOK_PROGRAM = "airyra"
# Seconds Claude Code waits for one hook command (the command itself gives up sooner).
HOOK_TIMEOUT = 5

# Codex hook events (no matcher: every tool); Codex has no SessionEnd.
CODEX_EVENTS = (
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PostToolUse",
    "PermissionRequest",
    "Stop",
)

# Gemini CLI hook event -> (the state it means, the matcher its entry needs).
GEMINI_EVENTS: dict[str, tuple[str, str | None]] = {
    "SessionStart": ("idle", None),
    "BeforeAgent": ("working", None),
    "BeforeTool": ("working", "*"),
    "AfterTool": ("working", "*"),
    "Notification": ("waiting", "ToolPermission"),
    "AfterAgent": ("idle", None),
    "SessionEnd": ("exited", None),
}
# Gemini CLI counts hook timeouts in milliseconds.
GEMINI_TIMEOUT_MS = HOOK_TIMEOUT * 1000

# Claude Code hook event -> the matcher its entry needs (None: the event takes none).
CLAUDE_EVENTS: dict[str, str | None] = {
    "SessionStart": None,
    "UserPromptSubmit": None,
    "PreToolUse": "*",
    "PostToolUse": "*",
    "PermissionRequest": "*",
    "Notification": "permission_prompt",
    "Stop": None,
    "SessionEnd": None,
}


def hook_argv(agent: str) -> list[str]:
    """The command an agent's hooks run inside the sandbox."""
    return [HOOK_PROGRAM, "hook", agent]


def supports_hooks(agent: Agent | str) -> bool:
    """Whether the agent reports all of its states (working, waiting, idle) through hooks;
    for the others the pane text is the signal (:mod:`isollm.agents.panestate`)."""
    name = agent if isinstance(agent, str) else agent.name
    return name in ("claude", "codex", "gemini")


def _hook_command() -> dict[str, Any]:
    return {"type": "command", "command": " ".join(hook_argv("claude")), "timeout": HOOK_TIMEOUT}


def codex_hooks() -> dict[str, Any]:
    """Codex's ``hooks.json``."""
    return {"hooks": {event: [{"hooks": [_hook_command()]}] for event in CODEX_EVENTS}}


def gemini_hooks() -> dict[str, Any]:
    """The ``hooks`` section of Gemini CLI's settings."""
    sections: dict[str, Any] = {}
    for event, (state, matcher) in GEMINI_EVENTS.items():
        command = f"{HOOK_PROGRAM} state {state} >/dev/null 2>&1 </dev/null || true"
        entry: dict[str, Any] = {
            "hooks": [{"type": "command", "command": command, "timeout": GEMINI_TIMEOUT_MS}]
        }
        if matcher is not None:
            entry = {"matcher": matcher, **entry}
        sections[event] = [entry]
    return sections


def claude_hooks() -> dict[str, Any]:
    """The ``hooks`` section of Claude Code's settings."""
    command = _hook_command()
    sections: dict[str, Any] = {}
    for event, matcher in CLAUDE_EVENTS.items():
        entry: dict[str, Any] = {"hooks": [command]}
        if matcher is not None:
            entry = {"matcher": matcher, **entry}
        sections[event] = [entry]
    return sections


def session_settings(agent: Agent, home: Path, workdir: Path | None = None) -> list[Path]:
    """Write the agent's settings under ``home`` for an interactive session: what
    ``agent.prepare(home, workdir)`` writes, with the state hooks where the CLI has them.
    Returns every file written."""
    written = agent.prepare(home, workdir)
    if isinstance(agent, ClaudeAgent):
        written += write_user_settings(home, {"hooks": claude_hooks()})
    elif isinstance(agent, GeminiAgent):
        written.append(agent.write_settings(home, {"hooks": gemini_hooks()}))
    elif isinstance(agent, CodexAgent):
        config = agent.config_toml(workdir, login_shell=False)
        written.append(write_settings(home / CODEX_DIR / "config.toml", config))
        hooks = json.dumps(codex_hooks(), indent=2) + "\n"
        written.append(write_settings(home / CODEX_DIR / "hooks.json", hooks))
    return list(dict.fromkeys(written))
