"""Semantic checks on a loaded config; every rule reports into one :class:`Report`.

A rule is a function ``(Config, Report) -> None`` registered with :func:`rule`; a new
section adds its rules here and nothing else changes.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import get_args

from isollm.config.model import COMMAND_PLACEHOLDERS, AgentName, Config
from isollm.config.report import Report

MIN_WORKERS = 1
MAX_WORKERS = 20
MIN_USER_PORT = 1024
MAX_PORT = 65535
MIN_PROJECT_NAME_LEN = 2
MAX_PROJECT_NAME_LEN = 64
MIN_LEASE_SECONDS = 5
MAX_LEASE_SECONDS = 7 * 24 * 3600

VALID_PROJECT_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9-]*")
VALID_BRANCH_CHARS = re.compile(r"[a-zA-Z0-9._/-]+")
VALID_HOST_LABEL = re.compile(r"(?!-)[a-zA-Z0-9-]{1,63}(?<!-)")
VALID_MEMORY = re.compile(r"^[1-9][0-9]*[KMGTkmgt]?\Z")
SIZE_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
MIN_MEMORY = 256 << 20
MIN_DISK = 256 << 20
MIN_PIDS = 64
VALID_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
VALID_BASE_URL = re.compile(r"https?://[^\s/?#]+\S*")
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "fish", "busybox"})
SHELL_SCRIPT_FLAG = re.compile(r"-[a-zA-Z]*c[a-zA-Z]*")

Rule = Callable[[Config, Report], None]
RULES: list[Rule] = []


def rule(fn: Rule) -> Rule:
    RULES.append(fn)
    return fn


def check(config: Config, report: Report) -> None:
    for fn in RULES:
        fn(config, report)


def is_valid_ref_name(name: str) -> bool:
    """Whether ``name`` is a safe git branch name (git check-ref-format, narrowed)."""
    if not VALID_BRANCH_CHARS.fullmatch(name):
        return False
    parts = name.split("/")
    return not (
        ".." in name
        or "//" in name
        or name.startswith(("-", "/"))
        or name.endswith(("/", ".", ".lock"))
        or any(p.startswith(".") or p.endswith(".lock") for p in parts if p)
    )


def is_valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        labels = host.rstrip(".").split(".")
        return len(host) <= 253 and all(VALID_HOST_LABEL.fullmatch(label) for label in labels)
    return True


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def image_has_tag(image: str) -> bool:
    """``name:tag`` or ``name@digest``; a registry port (``host:5000/x``) is not a tag."""
    last = image.rsplit("/", 1)[-1]
    return ":" in last or "@" in image


@rule
def _project(c: Config, r: Report) -> None:
    name = c.project
    if not name:
        r.error("project", "is required (a name like my-app)")
        return
    if not VALID_PROJECT_NAME.fullmatch(name):
        r.error("project", f"{name!r} must be letters, digits and hyphens, starting with a letter")
    if len(name) < MIN_PROJECT_NAME_LEN:
        r.error("project", f"must be at least {MIN_PROJECT_NAME_LEN} characters")
    if len(name) > MAX_PROJECT_NAME_LEN:
        r.error("project", f"cannot exceed {MAX_PROJECT_NAME_LEN} characters")


@rule
def _workers(c: Config, r: Report) -> None:
    if c.workers < MIN_WORKERS:
        r.error("workers", f"must be at least {MIN_WORKERS} (got {c.workers})")
    elif c.workers > MAX_WORKERS:
        r.error("workers", f"cannot exceed {MAX_WORKERS} (got {c.workers})")


@rule
def _image(c: Config, r: Report) -> None:
    if not c.image.strip():
        r.error("image", "is required (for example debian:bookworm)")
    elif not image_has_tag(c.image):
        r.warn("image", f"{c.image!r} has no tag, :latest will be used")


@rule
def _git(c: Config, r: Report) -> None:
    base, prefix = c.git.base_branch, c.git.branch_prefix
    if not base:
        r.error("git.base_branch", "is required (for example main)")
    elif not is_valid_ref_name(base):
        r.error("git.base_branch", f"{base!r} is not a valid branch name")
    if not prefix:
        r.error("git.branch_prefix", "is required (for example isollm/)")
    elif prefix == "/":
        r.error("git.branch_prefix", "cannot be just '/'")
    elif not prefix.endswith("/"):
        r.error("git.branch_prefix", f"must end with '/' (got {prefix!r})")
    elif not is_valid_ref_name(prefix + "x"):
        r.error("git.branch_prefix", f"{prefix!r} is not valid at the start of a branch name")


@rule
def _airyra(c: Config, r: Report) -> None:
    if not MIN_USER_PORT <= c.airyra.port <= MAX_PORT:
        r.error(
            "airyra.port",
            f"must be between {MIN_USER_PORT} and {MAX_PORT} (got {c.airyra.port})",
        )
    if not c.airyra.host or not is_valid_host(c.airyra.host):
        r.error("airyra.host", f"{c.airyra.host!r} is not a valid hostname or IP address")
    if c.airyra.lease_seconds < MIN_LEASE_SECONDS:
        r.error("airyra.lease_seconds", f"must be at least {MIN_LEASE_SECONDS}")
    elif c.airyra.lease_seconds > MAX_LEASE_SECONDS:
        r.error("airyra.lease_seconds", f"cannot exceed {MAX_LEASE_SECONDS} (one week)")
    if not c.airyra.external and not c.airyra.auth and not is_loopback_host(c.airyra.host):
        r.warn(
            "airyra.auth",
            f"the task server binds to {c.airyra.host}, beyond this machine: it will require "
            "bearer tokens (set auth: true to say so)",
        )


def _size(text: str) -> int:
    unit = text[-1].upper()
    return int(text[:-1]) * SIZE_UNITS[unit] if unit in SIZE_UNITS else int(text)


@rule
def _sandbox_limits(c: Config, r: Report) -> None:
    s = c.sandbox
    for key, value, least in (("memory", s.memory, MIN_MEMORY), ("disk", s.disk, MIN_DISK)):
        if value and not VALID_MEMORY.match(value):
            r.error(f"sandbox.{key}", f"{value!r} is not a size like 512M or 4G (or empty: none)")
        elif value and _size(value) < least:
            r.warn(f"sandbox.{key}", f"{value} is very little: agents and git may fail")
    if s.pids < 0:
        r.error("sandbox.pids", "cannot be negative (0: no limit)")
    elif 0 < s.pids < MIN_PIDS:
        r.warn("sandbox.pids", f"{s.pids} processes and threads is very few: agents may fail")
    if not (s.memory and s.pids and s.disk):
        unlimited = [
            k for k, v in (("memory", s.memory), ("pids", s.pids), ("disk", s.disk)) if not v
        ]
        r.warn(
            "sandbox",
            f"no {', '.join(unlimited)} limit: one agent can exhaust the host "
            "(fork, memory or disk bomb)",
        )


@rule
def _sandbox(c: Config, r: Report) -> None:
    s = c.sandbox
    if s.cpus < 0:
        r.error("sandbox.cpus", "cannot be negative")
    if s.setup_timeout < 1:
        r.error("sandbox.setup_timeout", "must be at least 1 second")
    if any(not part for part in s.setup[:1]):
        r.error("sandbox.setup", "the command (first element) cannot be empty")
    for i, path in enumerate(s.expose):
        if not path.startswith("/") or path.rstrip("/") == "":
            r.error(f"sandbox.expose[{i}]", f"{path!r} must be an absolute path other than /")
    if s.backend == "worktree":
        r.warn("sandbox.backend", "worktree gives agents no isolation: only for trusted agents")
        if s.network == "none":
            r.warn("sandbox.network", "'none' cannot be enforced by the worktree backend")


@rule
def _agent(c: Config, r: Report) -> None:
    a = c.agent
    if a.name == "command" and not a.command:
        r.error("agent.command", "is required when agent.name is 'command' (an argv list)")
    if a.timeout < 1:
        r.error("agent.timeout", "must be at least 1 second")
    _agent_command(a.command, r)
    _agent_target("agent", a.binary, a.base_url, r)
    for i, name in enumerate(a.pass_env):
        if not VALID_ENV_NAME.fullmatch(name):
            r.error(f"agent.pass_env[{i}]", f"{name!r} is not an environment variable name")
    agents = get_args(AgentName)
    for key, override in a.per_agent.items():
        if key not in agents:
            r.error(f"agent.per_agent.{key}", f"is not an agent; use one of: {', '.join(agents)}")
        _agent_target(f"agent.per_agent.{key}", override.binary, override.base_url, r)


def _agent_command(command: list[str], r: Report) -> None:
    if command and not command[0].strip():
        r.error("agent.command[0]", "must name the program to run")
    for i, element in enumerate(command):
        for name in PLACEHOLDER.findall(element):
            if name not in COMMAND_PLACEHOLDERS:
                known = ", ".join(f"{{{p}}}" for p in COMMAND_PLACEHOLDERS)
                r.warn(f"agent.command[{i}]", f"{{{name}}} is left as is; placeholders: {known}")
    script = shell_script_index(command)
    if script is not None and PLACEHOLDER.search(command[script]):
        r.error(
            f"agent.command[{script}]",
            "puts task text inside a shell script, where it would run as code; "
            'pass it as an argument instead: [sh, -c, \'my-agent "$1"\', sh, "{prompt}"]',
        )


def shell_script_index(command: list[str]) -> int | None:
    """Where the script of a ``sh -c SCRIPT`` style command is, or None."""
    if not command or command[0].rsplit("/", 1)[-1] not in SHELLS:
        return None
    for i, arg in enumerate(command[1:-1], start=1):
        if SHELL_SCRIPT_FLAG.fullmatch(arg):
            return i + 1
    return None


def _agent_target(path: str, binary: str, base_url: str, r: Report) -> None:
    if binary != binary.strip() or (" " in binary and "/" not in binary):
        r.error(f"{path}.binary", f"{binary!r} must be one program; put arguments in args")
    if base_url and not VALID_BASE_URL.fullmatch(base_url):
        r.error(f"{path}.base_url", f"{base_url!r} is not an http:// or https:// URL")


@rule
def _runner(c: Config, r: Report) -> None:
    n = c.runner
    if n.max_attempts < 1:
        r.error("runner.max_attempts", "must be at least 1")
    if n.backoff_seconds < 0:
        r.error("runner.backoff_seconds", "cannot be negative")
    if n.stagger_seconds < 0:
        r.error("runner.stagger_seconds", "cannot be negative")
    if n.max_concurrent_starts < 1:
        r.error("runner.max_concurrent_starts", "must be at least 1")
    if n.max_review_rounds < 1:
        r.error("runner.max_review_rounds", "must be at least 1")
    if n.stall_after < 0:
        r.error("runner.stall_after", "cannot be negative (0 turns the stall check off)")
    agents = get_args(AgentName)
    if n.review_agent and n.review_agent not in agents:
        r.error("runner.review_agent", f"must be one of: {', '.join(agents)} or empty")
    if not n.review and not n.review_required:
        r.warn("runner.review_required", "has no effect while runner.review is false")


@rule
def _session(c: Config, r: Report) -> None:
    s = c.session
    if any(not part for part in s.notify[:1]):
        r.error("session.notify", "the command (first element) cannot be empty")
    if not s.prompt.strip():
        r.warn("session.prompt", "is empty: agents start idle, as with `isollm up --idle`")


@rule
def _merge(c: Config, r: Report) -> None:
    m = c.merge
    if any(not part for part in m.test_command[:1]):
        r.error("merge.test_command", "the command (first element) cannot be empty")
    if m.test_timeout < 1:
        r.error("merge.test_timeout", "must be at least 1 second")
