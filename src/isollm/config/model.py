"""The shape of ``isollm.yaml``: one frozen dataclass per section, defaults included.

A field's ``metadata["help"]`` is the comment ``isollm init`` writes above it. To add a
section, add a dataclass here and a field on :class:`Config`; the loader
(:mod:`isollm.config.coerce`) reads any dataclass, and rules go in
:mod:`isollm.config.rules`. Every field must reach what it configures
(``tests/unit/test_config_reach.py``); a key that stops being used moves to
:mod:`isollm.config.retired`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

DEFAULT_IMAGE = "debian:bookworm"
# Limits per sandbox (the same values as isollm.sandbox.base.Limits' defaults).
DEFAULT_MEMORY = "4G"
DEFAULT_PIDS = 1024
DEFAULT_DISK = "10G"

Layout = Literal["auto", "horizontal", "vertical", "grid"]
SandboxBackendName = Literal["overlay", "lxc", "podman", "worktree"]
NetworkMode = Literal["host", "none"]
AgentName = Literal["claude", "codex", "gemini", "aider", "command"]
OnConflict = Literal["fail", "partial"]
OnEmpty = Literal["done", "fail"]
StallAction = Literal["flag", "stop"]
MuxName = Literal["auto", "zellij", "tmux", "none"]


def doc(text: str, default: Any = None, factory: Any = None) -> Any:
    """A dataclass field with help text (the comment written by ``isollm init``)."""
    if factory is not None:
        return field(default_factory=factory, metadata={"help": text})
    return field(default=default, metadata={"help": text})


@dataclass(frozen=True)
class GitConfig:
    base_branch: str = doc("Branch that task branches start from and merge back into.", "main")
    branch_prefix: str = doc("Task branches are named <branch_prefix><task-id>.", "isollm/")


@dataclass(frozen=True)
class ClaudeConfig:
    context: str = doc("Project context added to every agent's instruction file.", "")


@dataclass(frozen=True)
class AiryraConfig:
    host: str = doc("Address the task server binds to and agents connect to.", "127.0.0.1")
    port: int = doc("Task server port.", 7432)
    external: bool = doc("Use an airyra server you run yourself instead of isollm's.", False)
    lease_seconds: int = doc("How long a claim lasts without a heartbeat.", 300)
    auth: bool = doc(
        "Require bearer tokens (each agent gets its own; false turns this off on loopback).",
        True,
    )


@dataclass(frozen=True)
class ZellijConfig:
    layout: Layout = doc("Pane layout: auto, horizontal, vertical or grid.", "auto")


# The first prompt of each worker's agent in a session (`isollm up`; `--idle` sends none).
DEFAULT_SESSION_PROMPT = (
    "Work through the task queue as your instruction file describes: claim the next ready "
    "task (airyra claim-next), do it on its task branch, commit, deliver it (airyra done ID), "
    "then claim the next one. Stop when no task is ready."
)


@dataclass(frozen=True)
class SessionConfig:
    prompt: str = doc(
        "First prompt each worker's agent gets in a session (`isollm up`); it sets the "
        "agent to work through the queue. `isollm up --idle` starts agents without it.",
        DEFAULT_SESSION_PROMPT,
    )
    notify: list[str] = doc(
        "Command (argv list, no shell) run when a worker starts waiting for you; its "
        "environment has ISOLLM_WORKER, ISOLLM_TASK and ISOLLM_STATE. Empty for none.",
        factory=list,
    )
    mux: MuxName = doc(
        "Terminal multiplexer of sessions: auto (zellij when installed, else tmux), zellij, "
        "tmux, or none (no panes; `isollm attach WORKER` opens one).",
        "auto",
    )


@dataclass(frozen=True)
class SandboxConfig:
    backend: SandboxBackendName = doc(
        "Where agents run: overlay (copy-on-write + bubblewrap), lxc, podman, or worktree "
        "(no isolation).",
        "overlay",
    )
    network: NetworkMode = doc("host (agents reach model APIs) or none (no network).", "host")
    # Defaults: room for an agent CLI (Claude Code peaks above 1 GB) plus a build or test
    # run beside it, while a bomb stays far below what a host has (see docs/configuration.md).
    memory: str = doc(
        "Memory limit per worker (swap included), e.g. 4G; empty for none.", DEFAULT_MEMORY
    )
    pids: int = doc(
        "Process (and thread) limit per worker; stops a fork bomb; 0 for none.", DEFAULT_PIDS
    )
    disk: str = doc(
        "Disk limit per worker: no file, nor the workspace, grows past it, e.g. 10G; "
        "empty for none.",
        DEFAULT_DISK,
    )
    cpus: float = doc("CPU limit per worker in cores; 0 for none.", 0.0)
    setup: list[str] = doc(
        "Command (argv list) run once in each new sandbox, e.g. [npm, ci].", factory=list
    )
    setup_timeout: int = doc("Seconds the setup command may run before it is stopped.", 600)
    expose: list[str] = doc(
        "Host paths shown read-only inside sandboxes although under a hidden home directory "
        "(tools installed in your HOME; containers get them when they are created); the "
        "agent's own install is found itself.",
        factory=list,
    )


# Placeholders an agent.command argv element may hold; each is filled in per task.
COMMAND_PLACEHOLDERS = ("prompt", "prompt_file", "task_id", "title", "workdir", "model")


@dataclass(frozen=True)
class AgentOverride:
    binary: str = doc("Executable to run (a name on PATH or a path); empty for the usual.", "")
    model: str = doc("Model name passed to the CLI; empty for its default.", "")
    base_url: str = doc("Model API base URL (a proxy or gateway); empty for the default.", "")
    args: list[str] = doc("Extra arguments for the CLI.", factory=list)


@dataclass(frozen=True)
class AgentConfig:
    name: AgentName = doc("Default agent: claude, codex, gemini, aider or command.", "claude")
    command: list[str] = doc(
        "For agent 'command': argv template, run without a shell; {prompt} {task_id} {title} "
        "{workdir} {model} are filled in per task.",
        factory=list,
    )
    model: str = doc("Model name passed to the agent CLI; empty for its default.", "")
    args: list[str] = doc("Extra arguments for the agent CLI.", factory=list)
    timeout: int = doc("Seconds an agent may run on one task before it is stopped.", 1800)
    binary: str = doc(
        "Executable of the default agent (a name on PATH or a path); empty for the usual.", ""
    )
    base_url: str = doc(
        "Model API base URL for the default agent (a proxy or gateway); empty for the CLI's own.",
        "",
    )
    pass_env: list[str] = doc(
        "Host environment variables passed to agents besides their API keys (names only; "
        "values are never written to disk).",
        factory=list,
    )
    per_agent: dict[str, AgentOverride] = doc(
        "Settings for agents chosen with --agent, by name, e.g. {codex: {model: o4-mini}}; "
        "model, args, binary and base_url above apply to the default agent only.",
        factory=dict,
    )


@dataclass(frozen=True)
class RunnerConfig:
    max_attempts: int = doc("Attempts per task before it is blocked.", 3)
    backoff_seconds: float = doc("Wait before a retry; doubles on each attempt.", 2.0)
    stagger_seconds: float = doc("Gap between agent starts, to spare provider limits.", 0.5)
    max_concurrent_starts: int = doc("Agents that may be starting at the same moment.", 4)
    review: bool = doc("Run a reviewer agent over each finished task.", False)
    review_agent: str = doc("Agent that reviews; empty for the default agent.", "")
    max_review_rounds: int = doc("Implement/review rounds before a task is accepted.", 2)
    review_required: bool = doc(
        "A task the reviewer never approved makes the run exit 1 (it is delivered anyway).",
        True,
    )
    on_conflict: OnConflict = doc(
        "A dependency that cannot be merged: fail the attempt, or go on and mark it partial.",
        "fail",
    )
    empty: OnEmpty = doc("A task that changes nothing: done (shown as no changes) or fail.", "done")
    stall_after: int = doc(
        "Seconds without any output from an agent before its worker is flagged as stalled; "
        "0 turns the check off.",
        300,
    )
    stall_action: StallAction = doc(
        "What a stall does: flag (show and record it) or stop (end the attempt as failed).",
        "flag",
    )


@dataclass(frozen=True)
class MergeConfig:
    test_command: list[str] = doc(
        "Command (argv list, no shell) `isollm merge` runs in a throwaway sandbox at each "
        "merge before the target branch moves, e.g. [make, test]; empty for no test.",
        factory=list,
    )
    test_timeout: int = doc("Seconds the merge test may run before it counts as failed.", 1800)


@dataclass(frozen=True)
class Config:
    project: str = doc("Project name: letters, digits and hyphens, starting with a letter.", "")
    workers: int = doc("How many agents run at once.", 3)
    image: str = doc("Base image for container sandboxes (lxc, podman).", DEFAULT_IMAGE)
    git: GitConfig = doc("Git settings.", factory=GitConfig)
    claude: ClaudeConfig = doc("Claude Code settings.", factory=ClaudeConfig)
    airyra: AiryraConfig = doc("Task server (airyra API).", factory=AiryraConfig)
    zellij: ZellijConfig = doc("Terminal layout of interactive sessions.", factory=ZellijConfig)
    session: SessionConfig = doc(
        "Interactive sessions (`isollm up` / `down` / `attach`).", factory=SessionConfig
    )
    sandbox: SandboxConfig = doc("Sandboxes the workers run in.", factory=SandboxConfig)
    agent: AgentConfig = doc("Agent CLI the workers run.", factory=AgentConfig)
    runner: RunnerConfig = doc("Headless runs (`isollm run`).", factory=RunnerConfig)
    merge: MergeConfig = doc("The merge queue (`isollm merge`).", factory=MergeConfig)
