"""What can go wrong with the runtime state in ``.isollm/``; each says what to do next."""

from __future__ import annotations

from isollm.errors import StateError


class NoSessionError(StateError):
    """No isollm session is running in this project."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, hint="start one with `isollm run`")


class SessionExistsError(StateError):
    """An isollm session is already running in this project."""

    def __init__(self, pid: int, started: str) -> None:
        super().__init__(
            f"an isollm session is already running in this project (pid {pid}, started {started})",
            hint="wait for it to end, or stop it with Ctrl-C in its terminal first",
        )
        self.pid = pid


class WorkerNotFoundError(StateError):
    """The worker has no state in this project."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"worker {name!r} has no state in this project",
            hint="`isollm worker list` shows the workers that exist",
        )
        self.name = name


class InvalidWorkerNameError(StateError):
    """A worker name must be usable as a file name."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"invalid worker name {name!r}",
            hint="use letters, digits, '.', '_' and '-' (at most 64, starting with a letter "
            "or digit), for example worker-1",
        )


class InvalidTransitionError(StateError):
    """A worker cannot move from its current status to the one asked for."""

    def __init__(self, name: str, current: str, wanted: str, allowed: list[str]) -> None:
        choices = ", ".join(allowed) if allowed else "none"
        super().__init__(
            f"worker {name!r} cannot go from {current} to {wanted} (allowed from {current}: "
            f"{choices})",
            hint="check the worker with `isollm worker list`; remove it with "
            "`isollm worker remove NAME --force` if it is stuck",
        )
        self.current = current
        self.wanted = wanted


class CorruptStateError(StateError):
    """A state file could not be read."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(
            f"{path} is not a valid isollm state file: {reason}",
            hint="if no isollm command is running, delete the file; isollm recreates it as needed",
        )
        self.path = path
