"""What a preflight check returns, and the report of them all (pure values)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from isollm.errors import IsollmError


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"  # works, but worth knowing
    FAIL = "fail"  # a run would fail its tasks: fix it first
    SKIP = "skip"  # does not apply (or could not be checked because of another failure)


@dataclass(frozen=True)
class Check:
    """One check's result; ``fix`` says what to do when it is not OK."""

    name: str
    status: Status
    detail: str = ""
    fix: str = ""
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "status": self.status.value}
        data["detail"] = self.detail
        if self.fix:
            data["fix"] = self.fix
        data["seconds"] = round(self.seconds, 3)
        return data


def ok(name: str, detail: str = "") -> Check:
    return Check(name, Status.OK, detail)


def fail(name: str, detail: str, fix: str) -> Check:
    return Check(name, Status.FAIL, detail, fix)


def warn(name: str, detail: str, fix: str = "") -> Check:
    return Check(name, Status.WARN, detail, fix)


def skip(name: str, detail: str) -> Check:
    return Check(name, Status.SKIP, detail)


@dataclass(frozen=True)
class Report:
    checks: tuple[Check, ...]
    seconds: float = 0.0

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status is Status.FAIL)

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "checks": [c.to_json() for c in self.checks],
        }


class PreflightError(IsollmError):
    """The preflight checks failed: no task was claimed."""


def failure(report: Report) -> PreflightError:
    """The error a run stops with: each failed check and its fix."""
    lines = [f"  {c.name}: {c.detail}\n    fix: {c.fix}" for c in report.failed]
    return PreflightError(
        "preflight failed, so no task was claimed (no attempt was used):\n" + "\n".join(lines),
        hint="fix the above and run again; `isollm doctor` repeats the checks, "
        "`isollm run --no-preflight` skips them",
    )
