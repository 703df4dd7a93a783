"""One exception root for isollm, and the exit codes every command maps to.

Every error a user can cause derives from :class:`IsollmError`. Its message says what
went wrong and, where there is one, what to do next (``hint``). The CLI maps these to
exit code 1 without a traceback; anything else is a bug (exit 3, crash log).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    USER_ERROR = 1
    USAGE = 2
    UNEXPECTED = 3
    INTERRUPTED = 130


class IsollmError(Exception):
    """Something the user can fix. The docstring of a subclass is its default message."""

    def __init__(self, message: str | None = None, *, hint: str | None = None) -> None:
        self.message = message or (self.__doc__ or "isollm failed").strip()
        self.hint = hint
        super().__init__(self.message)

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class NotAProjectError(IsollmError):
    """No isollm.yaml was found in this directory or any parent."""


class ConfigError(IsollmError):
    """The configuration could not be used."""


class StateError(IsollmError):
    """The runtime state in .isollm/ could not be read or written."""


class CommandError(IsollmError):
    """An external command failed."""


class GitError(CommandError):
    """A git command failed."""


class TaskError(IsollmError):
    """The task server refused or failed a request."""


class SandboxError(IsollmError):
    """A sandbox could not be created, used or removed."""


class AgentError(IsollmError):
    """An agent could not be prepared or run."""


class RunError(IsollmError):
    """A headless run could not proceed."""
