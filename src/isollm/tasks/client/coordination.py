"""The coordination calls of the task client: file locks and the context board.

``locks`` and ``context_board`` read a project's (this client's, or another one the
token may read); an unknown project, or a plain airyra without these endpoints, reads
as empty. Messages sent to the board pass through :func:`isollm.redaction.redact`
first: every agent of the project reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from isollm import redaction
from isollm.tasks.client.connection import Connection
from isollm.tasks.store import errors
from isollm.tasks.store.coordination import ContextEntry, FileLock


class CoordinationCalls(Connection):
    def _project_path(self, project: str | None, what: str) -> str:
        prefix = self._prefix if project is None else f"/v1/projects/{quote(project, safe='')}"
        return f"{prefix}/{what}"

    def _read_list(self, project: str | None, what: str) -> list[Any]:
        try:
            found, data = self._extension("GET", self._project_path(project, what))
        except errors.ProjectNotFoundError:
            return []
        return list(data or []) if found else []

    def locks(self, project: str | None = None) -> list[FileLock]:
        """The file locks held under current claims in ``project`` (default: this one)."""
        return [FileLock.from_json(d) for d in self._read_list(project, "locks")]

    def context_board(self, project: str | None = None) -> list[ContextEntry]:
        """The context board of ``project`` (default: this one), one entry per agent."""
        return [ContextEntry.from_json(d) for d in self._read_list(project, "context")]

    def lock(
        self, paths: Sequence[str], agent: str | None = None, task_id: str | None = None
    ) -> list[FileLock]:
        """Lock every path for ``agent``'s claim, or none (LockHeldError)."""
        body: dict[str, Any] = {"paths": list(paths)}
        if task_id is not None:
            body["task_id"] = task_id
        data = self._call("POST", self._project_path(None, "locks"), agent=agent, json=body)
        return [FileLock.from_json(d) for d in data]

    def unlock(self, paths: Sequence[str] | None = None, agent: str | None = None) -> list[str]:
        """Release ``agent``'s locks on ``paths`` (every one when None); those released."""
        body = {} if paths is None else {"paths": list(paths)}
        data = self._call("DELETE", self._project_path(None, "locks"), agent=agent, json=body)
        return [str(p) for p in data["released"]]

    def set_context(
        self,
        status: str,
        message: str,
        files: Sequence[str] = (),
        *,
        agent: str | None = None,
        task_id: str | None = None,
    ) -> ContextEntry:
        """Publish what ``agent`` works on, replacing its entry on the board."""
        body: dict[str, Any] = {
            "status": status,
            "message": redaction.redact(message),
            "files": list(files),
        }
        if task_id is not None:
            body["task_id"] = task_id
        data = self._call("PUT", self._project_path(None, "context"), agent=agent, json=body)
        return ContextEntry.from_json(data)
