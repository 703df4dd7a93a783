"""The errors of the task API: airyra's codes, HTTP statuses and context, plus ours.

One class per code. The store raises them, the server turns them into airyra's
envelope ``{"error": {"code", "message", "context"}}``, and the client turns the
envelope back into the same class, so callers catch the same exception whether the
store is in-process or behind HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self

from isollm.errors import TaskError


class ApiError(TaskError):
    """The task server refused the request."""

    code: ClassVar[str] = "INTERNAL_ERROR"
    http_status: ClassVar[int] = 500

    def __init__(
        self,
        message: str | None = None,
        *,
        context: Mapping[str, Any] | None = None,
        hint: str | None = None,
    ) -> None:
        # airyra's messages carry no final period; the docstrings here do.
        super().__init__(message or (self.__doc__ or self.code).strip().rstrip("."), hint=hint)
        self.context: dict[str, Any] = dict(context or {})

    def envelope(self) -> dict[str, Any]:
        context = {**self.context, "hint": self.hint} if self.hint else self.context
        return {"error": {"code": self.code, "message": self.message, "context": context}}


class InternalError(ApiError):
    """An internal error occurred."""


class TaskNotFoundError(ApiError):
    """Task not found."""

    code = "TASK_NOT_FOUND"
    http_status = 404

    @classmethod
    def of(cls, task_id: str) -> TaskNotFoundError:
        return cls(f"Task {task_id} not found", context={"id": task_id})


class ProjectNotFoundError(ApiError):
    """Project not found."""

    code = "PROJECT_NOT_FOUND"
    http_status = 404

    @classmethod
    def of(cls, project: str) -> ProjectNotFoundError:
        return cls(
            f"Project {project} not found",
            context={"project": project},
            hint="a project exists once a task or spec has been created in it",
        )


class DependencyNotFoundError(ApiError):
    """Dependency not found."""

    code = "DEPENDENCY_NOT_FOUND"
    http_status = 404

    @classmethod
    def of(cls, child_id: str, parent_id: str) -> DependencyNotFoundError:
        return cls(
            f"Dependency from {child_id} to {parent_id} not found",
            context={"child_id": child_id, "parent_id": parent_id},
        )


class SpecNotFoundError(ApiError):
    """Spec not found."""

    code = "SPEC_NOT_FOUND"
    http_status = 404

    @classmethod
    def of(cls, spec_id: str) -> SpecNotFoundError:
        return cls(f"Spec {spec_id} not found", context={"id": spec_id})


class SpecDependencyNotFoundError(ApiError):
    """Spec dependency not found."""

    code = "SPEC_DEPENDENCY_NOT_FOUND"
    http_status = 404

    @classmethod
    def of(cls, child_id: str, parent_id: str) -> SpecDependencyNotFoundError:
        return cls(
            f"Spec dependency from {child_id} to {parent_id} not found",
            context={"child_id": child_id, "parent_id": parent_id},
        )


class AlreadyClaimedError(ApiError):
    """Task already claimed by another agent."""

    code = "ALREADY_CLAIMED"
    http_status = 409

    @classmethod
    def of(cls, claimed_by: str, claimed_at: str) -> AlreadyClaimedError:
        return cls(context={"claimed_by": claimed_by, "claimed_at": claimed_at})


class SpecAlreadyCancelledError(ApiError):
    """Spec is already cancelled."""

    code = "SPEC_ALREADY_CANCELLED"
    http_status = 409

    @classmethod
    def of(cls, spec_id: str) -> SpecAlreadyCancelledError:
        return cls(f"Spec {spec_id} is already cancelled", context={"id": spec_id})


class NotOwnerError(ApiError):
    """Task is claimed by another agent."""

    code = "NOT_OWNER"
    http_status = 403

    @classmethod
    def of(cls, claimed_by: str | None) -> NotOwnerError:
        return cls(context={"claimed_by": claimed_by or "unknown"})


class InvalidTransitionError(ApiError):
    """The task cannot make this status change."""

    code = "INVALID_TRANSITION"
    http_status = 400

    @classmethod
    def of(cls, from_status: str, to_status: str) -> InvalidTransitionError:
        return cls(
            f"Cannot transition from {from_status} to {to_status}",
            context={"from": from_status, "to": to_status},
        )


class ValidationFailedError(ApiError):
    """Validation failed."""

    code = "VALIDATION_FAILED"
    http_status = 400

    @classmethod
    def of(cls, *details: str) -> Self:
        return cls(f"Validation failed: {'; '.join(details)}", context={"details": list(details)})

    @property
    def details(self) -> list[str]:
        return [str(d) for d in self.context.get("details", [])]

    def __str__(self) -> str:
        details = self.details
        if len(details) < 2:
            return super().__str__()
        lines = [f"{len(details)} problems:", *(f"  - {d}" for d in details)]
        return "\n".join(lines) + (f"\n  hint: {self.hint}" if self.hint else "")


class PayloadTooLargeError(ValidationFailedError):
    """The request body is too large."""

    http_status = 413


class CycleDetectedError(ApiError):
    """Adding this dependency would create a cycle."""

    code = "CYCLE_DETECTED"
    http_status = 400

    @classmethod
    def of(cls, path: Sequence[str]) -> CycleDetectedError:
        return cls(
            f"Adding this dependency would create a cycle: {' -> '.join(path)}",
            context={"path": list(path)},
        )


class SpecNotCancelledError(ApiError):
    """Spec is not cancelled."""

    code = "SPEC_NOT_CANCELLED"
    http_status = 400

    @classmethod
    def of(cls, spec_id: str) -> SpecNotCancelledError:
        return cls(f"Spec {spec_id} is not cancelled", context={"id": spec_id})


# --- isollm's additions (codes airyra does not have) ---------------------------------


class NotReadyError(ApiError):
    """The task waits for dependencies that are not done."""

    code = "NOT_READY"
    http_status = 409

    @classmethod
    def of(cls, task_id: str, waiting_for: Sequence[str]) -> NotReadyError:
        return cls(
            f"Task {task_id} waits for {', '.join(waiting_for)} to be done",
            context={"id": task_id, "waiting_for": list(waiting_for)},
        )


class StaleClaimError(ApiError):
    """The claim is no longer current: its lease expired or it was released."""

    code = "STALE_CLAIM"
    http_status = 409

    @classmethod
    def of(cls, task_id: str, fence: int, status: str, claimed_by: str | None) -> StaleClaimError:
        return cls(
            f"Claim {fence} on task {task_id} is no longer current; the task is now {status}",
            context={"id": task_id, "fence": fence, "status": status, "claimed_by": claimed_by},
            hint="your lease expired or the task was released; claim a task again",
        )


class UnauthorizedError(ApiError):
    """A valid bearer token is required."""

    code = "UNAUTHORIZED"
    http_status = 401


class ForbiddenError(ApiError):
    """This token may not act as that agent."""

    code = "FORBIDDEN"
    http_status = 403


class RequestTimeoutError(ApiError):
    """The request did not arrive in time."""

    code = "REQUEST_TIMEOUT"
    http_status = 408


class RouteNotFoundError(ApiError):
    """No such endpoint."""

    code = "NOT_FOUND"
    http_status = 404


class MethodNotAllowedError(ApiError):
    """Method not allowed for this endpoint."""

    code = "METHOD_NOT_ALLOWED"
    http_status = 405


class LockHeldError(ApiError):
    """Another agent holds a lock on some of these paths."""

    code = "LOCK_HELD"
    http_status = 409

    @classmethod
    def of(cls, held: list[dict[str, Any]]) -> LockHeldError:
        first = held[0]
        more = f" (and {len(held) - 1} more)" if len(held) > 1 else ""
        return cls(
            f"{first['requested']} is locked by {first['agent']} "
            f"({first['path']}, task {first['task_id']}){more}",
            context={"held": held},
            hint="nothing was locked; wait for it (`airyra lock --wait S`), pick other "
            "files, or ask its agent through `airyra context`",
        )


class NoClaimError(ApiError):
    """The agent holds no claim to attach this to."""

    code = "NO_CLAIM"
    http_status = 409

    @classmethod
    def of(cls, agent: str, task_id: str | None, claims: list[str]) -> NoClaimError:
        if task_id is not None:
            message = f"agent {agent} does not hold a claim on task {task_id}"
        elif claims:
            message = f"agent {agent} holds several claims ({', '.join(claims)}): name the task"
        else:
            message = f"agent {agent} holds no claim"
        return cls(
            message,
            context={"agent": agent, "task_id": task_id, "claims": claims},
            hint="locks and context entries live as long as a claim: claim a task first",
        )


class ServerUnavailableError(TaskError):
    """The task server is not running or cannot be reached."""


ERRORS: dict[str, type[ApiError]] = {
    cls.code: cls
    for cls in (
        InternalError,
        TaskNotFoundError,
        ProjectNotFoundError,
        DependencyNotFoundError,
        SpecNotFoundError,
        SpecDependencyNotFoundError,
        AlreadyClaimedError,
        SpecAlreadyCancelledError,
        NotOwnerError,
        InvalidTransitionError,
        ValidationFailedError,
        CycleDetectedError,
        SpecNotCancelledError,
        NotReadyError,
        StaleClaimError,
        UnauthorizedError,
        ForbiddenError,
        RequestTimeoutError,
        RouteNotFoundError,
        MethodNotAllowedError,
        LockHeldError,
        NoClaimError,
    )
}


def from_envelope(status: int, body: Any) -> ApiError:
    """The ApiError a response with ``status`` and JSON ``body`` stands for."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return InternalError(f"the task server answered HTTP {status} without an error body")
    code = str(error.get("code", ""))
    message = str(error.get("message") or code or f"HTTP {status}")
    context = error.get("context") if isinstance(error.get("context"), dict) else None
    if status == PayloadTooLargeError.http_status:
        return PayloadTooLargeError(message, context=context)
    if code not in ERRORS:  # a code from a newer server: keep it readable
        return ApiError(f"{code or 'HTTP ' + str(status)}: {message}", context=context)
    hint = context.get("hint") if context else None
    return ERRORS[code](message, context=context, hint=hint if isinstance(hint, str) else None)
