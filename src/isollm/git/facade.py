"""A typed facade over the git command line.

Every call goes through :func:`isollm.proc.run` with stray ``GIT_*`` variables removed,
so a hook's ``GIT_DIR`` never redirects us. Output meant for machines is read with
``-z`` and parsed by pure functions (:func:`zsplit`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from isollm import proc
from isollm.errors import GitError


def zsplit(text: str) -> list[str]:
    """Split NUL-terminated ``-z`` output into its records."""
    text = text.rstrip("\0")
    return text.split("\0") if text else []


class Git:
    """git commands run in one directory (a work tree or a bare repository)."""

    def __init__(self, cwd: Path, env: Mapping[str, str] | None = None) -> None:
        self.cwd = cwd
        self._env = proc.clean_env(env)

    def run(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float | None = None
    ) -> proc.Result:
        return proc.run(
            ["git", *args],
            cwd=self.cwd,
            env=self._env,
            input=input,
            timeout=timeout,
            check=check,
            error=GitError,
        )

    def out(self, *args: str) -> str:
        """stdout of a git command, stripped of the trailing newline."""
        return self.run(*args).stdout.rstrip("\n")

    def toplevel(self) -> Path | None:
        """The root of the work tree containing ``cwd``, or None outside a repository."""
        result = self.run("rev-parse", "--show-toplevel", check=False)
        return Path(result.stdout.strip()) if result.ok and result.stdout.strip() else None

    def lines(self, args: Sequence[str]) -> list[str]:
        return [line for line in self.out(*args).splitlines() if line]
