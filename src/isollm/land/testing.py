"""The merge test: ``merge.test_command`` in a throwaway sandbox built at the merge.

The sandbox is made from the hub at the merge commit by the configured backend, with
the project's limits and setup (:func:`isollm.sandbox.specs.sandbox_spec`), and destroyed
afterwards. Only the exit code and a bounded, terminal-safe tail of the output come
back to the host. One integrator runs at a time, so the sandbox has a fixed name: one
left by a merge that was killed is removed before the next is made.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from isollm import redaction, terminal
from isollm.config import Config
from isollm.errors import IsollmError
from isollm.git.hub import Hub
from isollm.sandbox import meta, registry, specs

SANDBOX_NAME = "merge-test"
MAX_OUTPUT = 64 * 1024  # bytes kept of each stream inside the sandbox's exec
TAIL_LINES = 30
TAIL_CHARS = 4000


@dataclass(frozen=True)
class TestResult:
    passed: bool
    exit_code: int | None
    tail: str  # the last lines of the output, terminal-safe, secrets masked
    timed_out: bool = False


class MergeTester(Protocol):
    def test(self, commit: str) -> TestResult: ...


def tail(text: str) -> str:
    """The last lines of ``text``, bounded, safe to print."""
    lines = text.rstrip("\n").splitlines()[-TAIL_LINES:]
    out = "\n".join(lines)[-TAIL_CHARS:]
    return terminal.safe(redaction.redact(out))


@dataclass(frozen=True)
class SandboxTester:
    """Runs the test command in a throwaway sandbox of the project's backend."""

    config: Config
    root: Path
    hub: Hub

    @property
    def argv(self) -> tuple[str, ...]:
        return tuple(self.config.merge.test_command)

    @property
    def timeout(self) -> float:
        return float(self.config.merge.test_timeout)

    def test(self, commit: str) -> TestResult:
        remove_leftover(self.config.project)
        spec = specs.sandbox_spec(
            self.config, root=self.root, hub=self.hub.path, name=SANDBOX_NAME, base_commit=commit
        )
        try:
            sb = registry.create(spec, self.config.sandbox.backend)
        except IsollmError as exc:
            return TestResult(False, None, tail(f"the test sandbox could not be made: {exc}"))
        try:
            result = sb.exec(
                list(self.argv),
                cwd=sb.workspace,
                timeout=self.timeout,
                max_output=MAX_OUTPUT,
            )
        finally:
            with contextlib.suppress(IsollmError, OSError):
                sb.destroy()
        text = "\n".join(s for s in (result.stdout, result.stderr) if s.strip())
        if result.timed_out:
            text += f"\n(stopped after {self.timeout:g}s)"
        return TestResult(result.ok, result.returncode, tail(text), result.timed_out)


def remove_leftover(project: str) -> bool:
    """Destroy the test sandbox a killed merge left behind; whether there was one."""
    if SANDBOX_NAME not in meta.names(project):
        return False
    try:
        registry.open_sandbox(project, SANDBOX_NAME).destroy()
    except IsollmError:
        with contextlib.suppress(IsollmError, OSError):
            for cls in registry.BACKENDS.values():
                if SANDBOX_NAME in cls.leftovers(project):
                    cls.remove_leftover(project, SANDBOX_NAME)
    return True
