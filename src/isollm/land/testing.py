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
from isollm.sandbox.base import Sandbox
from isollm.sandbox.prepare import SetupError

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

    def _require_command(self, sb: Sandbox) -> None:
        program = self.argv[0]
        if _missing(sb, program):
            raise MergeTestError(
                f"merge.test_command cannot run in the test sandbox: {program!r} is not "
                "found there; no branch was tested or moved",
                hint="set merge.test_command (`isollm config edit`) to a program the "
                "sandbox has, e.g. [python3, -m, pytest]; one installed under your home "
                "directory needs its folder in sandbox.expose",
            )

    def test(self, commit: str) -> TestResult:
        """The test's result at ``commit`` (``sandbox.setup`` failing there is a red
        test); :class:`MergeTestError` when the test cannot run at all (no sandbox, no
        such command): that is no branch's fault."""
        remove_leftover(self.config.project)
        spec = specs.sandbox_spec(
            self.config, root=self.root, hub=self.hub.path, name=SANDBOX_NAME, base_commit=commit
        )
        try:
            sb = registry.create(spec, self.config.sandbox.backend)
        except SetupError as exc:  # sandbox.setup failed on this commit: it is red
            return TestResult(False, None, tail(f"the test sandbox's setup failed: {exc}"))
        except IsollmError as exc:
            raise MergeTestError(
                f"the merge test's sandbox could not be made: {exc}",
                hint="`isollm doctor` checks the sandbox backend; fix it and merge again",
            ) from exc
        try:
            self._require_command(sb)
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


class MergeTestError(IsollmError):
    """The merge test could not run."""


def _missing(sb: Sandbox, program: str) -> bool:
    """Whether ``program`` (a name on PATH or a path) cannot be run in ``sb``."""
    found = sb.exec(["sh", "-c", 'command -v -- "$1" >/dev/null', "sh", program], timeout=60)
    return found.returncode != 0


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
