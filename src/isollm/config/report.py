"""Problems found in a configuration: errors (it cannot be used) and warnings."""

from __future__ import annotations

from dataclasses import dataclass, field

from isollm.errors import ConfigError


@dataclass(frozen=True)
class Problem:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


@dataclass
class Report:
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def error(self, path: str, message: str) -> None:
        self.errors.append(Problem(path, message))

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(Problem(path, message))

    @property
    def ok(self) -> bool:
        return not self.errors


class ConfigValidationError(ConfigError):
    """The configuration has problems; every one is listed."""

    def __init__(self, path: str, problems: list[Problem]) -> None:
        self.path = path
        self.problems = list(problems)
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        lines = [f"{path} has {count} {noun}:"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__(
            "\n".join(lines), hint="fix them with `isollm config edit`, then run the command again"
        )
