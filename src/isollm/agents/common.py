"""What the adapters share: settings handling, the environment, reading CLI output."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from isollm import fsutil
from isollm.agents import envvars
from isollm.agents.base import AgentOutcome, AgentSettings, Invocation
from isollm.agents.envvars import AgentEnv

SUMMARY_CHARS = 500


class CliAgent:
    """A base for adapters: subclasses set the class attributes and build argv.

    ``secret_keys`` are the credentials the CLI reads from its environment and
    ``passthrough`` other host variables it honours; both are copied from the host
    when set, and nothing else is (besides :data:`envvars.BASE_PASSTHROUGH` and the
    configured ``pass_env``).
    """

    name = ""
    instruction_file = "AGENTS.md"
    workdir_ignores: tuple[str, ...] = ()
    default_binary = ""
    install_hint = ""
    secret_keys: tuple[str, ...] = ()
    passthrough: tuple[str, ...] = ()
    # Flags that make the CLI approve every tool call (safe only inside a sandbox).
    approve_flags: tuple[str, ...] = ()
    # Flags every interactive session gets.
    session_flags: tuple[str, ...] = ()

    def __init__(self, settings: AgentSettings | None = None) -> None:
        self.settings = settings or AgentSettings()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(binary={self.binary!r}, model={self.settings.model!r})"

    @property
    def binary(self) -> str:
        return self.settings.binary or self.default_binary

    def model(self, override: str = "") -> str:
        return override or self.settings.model

    def args(self, extra: Sequence[str] = ()) -> list[str]:
        return [*self.settings.args, *extra]

    def env(self, host_env: Mapping[str, str], inv: Invocation) -> AgentEnv:
        names = (*self.secret_keys, *self.passthrough, *self.settings.pass_env)
        env = envvars.build(host_env, passthrough=names, fixed=self.fixed_env(inv))
        env.update(_home_and_tmp(host_env, inv))
        return env

    def interactive_argv(
        self,
        prompt: str = "",
        *,
        model: str = "",
        extra_args: Sequence[str] = (),
        auto_approve: bool = False,
        resume: bool | str = False,
    ) -> list[str]:
        return [
            self.binary,
            *(self.resume_args() if resume else ()),
            *self.session_flags,
            *(self.approve_flags if auto_approve else ()),
            *flag("--model", self.model(model)),
            *self.args(extra_args),
            *(self.first_prompt(prompt) if prompt else []),
        ]

    def resume_args(self) -> list[str]:
        """What continues the last conversation in the working directory (none by default)."""
        return []

    def first_prompt(self, prompt: str) -> list[str]:
        """How an interactive session is given its first prompt: after ``--`` by default."""
        return ["--", prompt]

    def fixed_env(self, inv: Invocation) -> dict[str, str]:
        """Variables the adapter sets itself (base URL, quiet switches); none by default."""
        return {}

    def prepare(self, home: Path, workdir: Path | None = None) -> list[Path]:
        return []


def _home_and_tmp(host_env: Mapping[str, str], inv: Invocation) -> dict[str, str]:
    out = {}
    home = str(inv.home) if inv.home else host_env.get("HOME")
    if home:
        out["HOME"] = home
    tmp = str(inv.tmpdir) if inv.tmpdir else host_env.get("TMPDIR")
    if tmp:
        out["TMPDIR"] = tmp
    return out


def flag(name: str, value: str) -> list[str]:
    """``[name, value]`` when ``value`` is set, else nothing."""
    return [name, value] if value else []


def write_settings(path: Path, text: str) -> Path:
    """Write one settings file for a CLI (atomically, owner-only) and return its path."""
    fsutil.atomic_write_text(path, text)
    return path


def json_lines(output: str) -> Iterator[dict[str, Any]]:
    """Every line of ``output`` that is a JSON object (others are skipped)."""
    for raw in output.splitlines():
        line = raw.strip()
        if not line.startswith("{"):
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            yield value


def clip(text: str, limit: int = SUMMARY_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def last_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def exit_summary(exit_code: int) -> str:
    """How a process ended, in words: ``exit 2`` or ``killed by SIGKILL``."""
    if exit_code < 0:
        try:
            return f"killed by {signal.Signals(-exit_code).name}"
        except ValueError:
            return f"killed by signal {-exit_code}"
    return f"exit {exit_code}"


def by_exit_code(exit_code: int, output: str) -> AgentOutcome:
    """The outcome of a CLI that reports nothing but its exit code and some text."""
    summary = last_line(output) or exit_summary(exit_code)
    if exit_code != 0 and summary != exit_summary(exit_code):
        summary = f"{exit_summary(exit_code)}: {summary}"
    return AgentOutcome(success=exit_code == 0, summary=clip(summary))


def replied(
    exit_code: int, ok: bool, reply: str, error: str, tokens: tuple[int, int] | None
) -> AgentOutcome:
    """The outcome of a CLI that reports its last reply, an error and token counts
    (in, out; None: not reported): the reply when it succeeded, else the error (or the
    reply, or how the process ended)."""
    summary = reply if ok else (error or reply or exit_summary(exit_code))
    tokens_in, tokens_out = tokens if tokens is not None else (None, None)
    return AgentOutcome(ok, clip(summary), tokens_in=tokens_in, tokens_out=tokens_out)


def readable_error(text: str) -> str:
    """An error line with an embedded JSON error body reduced to its message:
    ``[API Error: {"error": {"message": "bad key"}}]`` -> ``API Error: bad key``."""
    start, end = text.find("{"), text.rfind("}")
    if start == -1 or end < start:
        return text
    try:
        body = json.loads(text[start : end + 1])
    except ValueError:
        return text
    inner = body.get("error", body) if isinstance(body, dict) else None
    message = inner.get("message") if isinstance(inner, dict) else None
    if not isinstance(message, str) or not message:
        return text
    return f"{text[:start].lstrip('[').strip()} {message}".strip()


def as_int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
