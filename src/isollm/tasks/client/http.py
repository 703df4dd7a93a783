"""The task client the rest of isollm uses: isollm's task server or a real airyra.

Errors come back as the same classes the store raises (:mod:`isollm.tasks.store.errors`).
Against a real airyra, which lacks isollm's extensions, the client falls back:
``claim_next`` claims the first ready task that is still free, ``heartbeat`` only
checks the claim, imports are created one by one (and deleted again on failure),
and fences are 0 (airyra does not fence).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from isollm import redaction
from isollm.tasks.client.agents import AgentStateCalls
from isollm.tasks.client.connection import error_of
from isollm.tasks.client.coordination import CoordinationCalls
from isollm.tasks.client.fallback import clear_done_one_by_one, import_one_by_one
from isollm.tasks.store import errors
from isollm.tasks.store.model import (
    MAX_PER_PAGE,
    AuditEntry,
    AuditQuery,
    Claim,
    Dependency,
    ImportItem,
    ImportResult,
    Page,
    PageRequest,
    Status,
    Task,
    TaskPatch,
    format_time,
    utcnow,
)

NO_FENCE = 0
FULL_PAGE = PageRequest(1, MAX_PER_PAGE)
ANY_ENTRY = AuditQuery()


class TaskClient(CoordinationCalls, AgentStateCalls):
    """The task API over a :class:`~isollm.tasks.client.connection.Connection`: the
    store's operations, with fallbacks where a plain airyra lacks an endpoint."""

    # --- tasks --------------------------------------------------------------------

    def add_task(
        self,
        title: str,
        *,
        description: str | None = None,
        priority: int = 2,
        parent_id: str | None = None,
        spec_id: str | None = None,
    ) -> Task:
        body: dict[str, Any] = {"title": _clean(title), "priority": priority}
        for key, value in (
            ("description", _clean(description)),
            ("parent_id", parent_id),
            ("spec_id", spec_id),
        ):
            if value is not None:
                body[key] = value
        return Task.from_json(self._call("POST", f"{self._prefix}/tasks", json=body))

    def get_task(self, task_id: str) -> Task:
        return Task.from_json(self._call("GET", self._task_path(task_id)))

    def list_tasks(self, status: Status | None = None, page: PageRequest = FULL_PAGE) -> Page[Task]:
        params: dict[str, Any] = {"page": page.page, "per_page": page.per_page}
        if status is not None:
            params["status"] = status.value
        try:
            data = self._call("GET", f"{self._prefix}/tasks", params=params)
        except errors.ProjectNotFoundError:  # no task was ever created there
            return Page([], page.page, page.per_page, 0)
        return _page(data, Task.from_json)

    def all_tasks(self, status: Status | None = None) -> list[Task]:
        """Every task (following the pages), by priority then age."""
        return list(self._every(lambda p: self.list_tasks(status, p)))

    def ready(self, page: PageRequest = FULL_PAGE) -> Page[Task]:
        params = {"page": page.page, "per_page": page.per_page}
        try:
            data = self._call("GET", f"{self._prefix}/tasks/ready", params=params)
        except errors.ProjectNotFoundError:
            return Page([], page.page, page.per_page, 0)
        return _page(data, Task.from_json)

    def all_ready(self) -> list[Task]:
        """Every ready task (following the pages), most urgent first."""
        return list(self._every(self.ready))

    def update_task(self, task_id: str, patch: TaskPatch) -> Task:
        fields = {
            "title": _clean(patch.title),
            "description": _clean(patch.description),
            "priority": patch.priority,
            "parent_id": patch.parent_id,
        }
        body = {k: v for k, v in fields.items() if v is not None}
        return Task.from_json(self._call("PATCH", self._task_path(task_id), json=body))

    def delete_task(self, task_id: str) -> None:
        self._call("DELETE", self._task_path(task_id))

    # --- claims -------------------------------------------------------------------

    def claim(
        self, task_id: str, agent: str | None = None, lease_seconds: float | None = None
    ) -> Claim:
        body = {"lease_seconds": lease_seconds} if lease_seconds else None
        response = self._request("POST", self._task_path(task_id, "claim"), agent=agent, json=body)
        if response.status_code >= 400:
            raise error_of(response)
        return _claim_from_headers(response)

    def claim_next(
        self, agent: str | None = None, lease_seconds: float | None = None
    ) -> Claim | None:
        """Atomically claim the most urgent ready task, or None when none is ready."""
        body = {"lease_seconds": lease_seconds} if lease_seconds else {}
        try:
            found, data = self._extension(
                "POST", f"{self._prefix}/tasks/claim-next", agent=agent, json=body
            )
        except errors.ProjectNotFoundError:
            return None
        if found:
            return None if data is None else Claim.from_json(data)
        return self._claim_first_ready(agent)

    def _claim_first_ready(self, agent: str | None) -> Claim | None:
        for task in self._every(self.ready):
            try:
                return self.claim(task.id, agent)
            except (errors.AlreadyClaimedError, errors.InvalidTransitionError):
                continue
        return None

    def heartbeat(
        self,
        task_id: str,
        agent: str | None = None,
        fence: int = NO_FENCE,
        lease_seconds: float | None = None,
    ) -> Claim:
        """Renew the lease of ``agent``'s claim on ``task_id``."""
        body: dict[str, Any] = {"fence": fence} if fence else {}
        if lease_seconds:
            body["lease_seconds"] = lease_seconds
        found, data = self._extension(
            "POST", self._task_path(task_id, "heartbeat"), agent=agent, json=body
        )
        if found:
            return Claim.from_json(data)
        task = self.get_task(task_id)
        if task.status is not Status.IN_PROGRESS or task.claimed_by != (agent or self.agent):
            raise errors.StaleClaimError.of(task_id, fence, task.status, task.claimed_by)
        return Claim(task, NO_FENCE, utcnow() + timedelta(days=365))

    def done(self, task_id: str, agent: str | None = None, fence: int = NO_FENCE) -> Task:
        path = self._task_path(task_id, "done")
        return Task.from_json(self._call("POST", path, agent=agent, headers=_fence(fence)))

    def release(
        self, task_id: str, agent: str | None = None, fence: int = NO_FENCE, force: bool = False
    ) -> Task:
        params = {"force": "true"} if force else None
        path = self._task_path(task_id, "release")
        data = self._call("POST", path, agent=agent, params=params, headers=_fence(fence))
        return Task.from_json(data)

    def block(
        self,
        task_id: str,
        reason: str | None = None,
        agent: str | None = None,
        fence: int = NO_FENCE,
    ) -> Task:
        body = {"reason": _clean(reason)} if reason else None
        path = self._task_path(task_id, "block")
        return Task.from_json(
            self._call("POST", path, agent=agent, json=body, headers=_fence(fence))
        )

    def unblock(self, task_id: str, agent: str | None = None) -> Task:
        return Task.from_json(self._call("POST", self._task_path(task_id, "unblock"), agent=agent))

    # --- dependencies, audit ----------------------------------------------------------

    def dependencies(self, task_id: str) -> list[Dependency]:
        return [
            Dependency.from_json(d) for d in self._call("GET", self._task_path(task_id, "deps"))
        ]

    def add_dependency(self, child_id: str, parent_id: str) -> Dependency:
        data = self._call("POST", self._task_path(child_id, "deps"), json={"parent_id": parent_id})
        return Dependency.from_json(data)

    def remove_dependency(self, child_id: str, parent_id: str) -> None:
        self._call("DELETE", self._task_path(child_id, f"deps/{quote(parent_id, safe='')}"))

    def history(self, task_id: str) -> list[AuditEntry]:
        data = self._call("GET", self._task_path(task_id, "history"))
        return [AuditEntry.from_json(e) for e in data]

    def audit(
        self, query: AuditQuery = ANY_ENTRY, page: PageRequest = FULL_PAGE
    ) -> Page[AuditEntry]:
        params: dict[str, Any] = {"page": page.page, "per_page": page.per_page}
        params |= {
            k: v
            for k, v in {
                "action": query.action,
                "agent": query.agent,
                "start": query.start and format_time(query.start),
                "end": query.end and format_time(query.end),
            }.items()
            if v
        }
        return _page(
            self._call("GET", f"{self._prefix}/audit", params=params), AuditEntry.from_json
        )

    # --- bulk ---------------------------------------------------------------------

    def import_tasks(self, items: list[ImportItem]) -> ImportResult:
        """Create ``items`` with their dependencies, all or nothing."""
        body = {"tasks": [_import_json(i) for i in items]}
        found, data = self._extension("POST", f"{self._prefix}/tasks/import", json=body)
        if found:
            return ImportResult([Task.from_json(t) for t in data["data"]], dict(data["keys"]))
        return import_one_by_one(self, items)

    def clear_done(self) -> list[str]:
        """Delete done tasks that no unfinished task needs (as parent); their ids."""
        found, data = self._extension("POST", f"{self._prefix}/tasks/clear-done")
        if found:
            return [str(i) for i in data["deleted"]]
        return clear_done_one_by_one(self)

    def _every(self, fetch: Any) -> Iterator[Task]:
        page = FULL_PAGE
        while True:
            result: Page[Task] = fetch(page)
            yield from result.items
            if page.page >= result.total_pages:
                return
            page = PageRequest(page.page + 1, MAX_PER_PAGE)


def _clean(text: str | None) -> str | None:
    """Texts the host sends (titles, descriptions, reasons) with every registered
    secret masked: what reaches the queue is read by every agent and kept forever."""
    return None if text is None else redaction.redact(text)


def _fence(fence: int) -> dict[str, str]:
    return {"X-Airyra-Fence": str(fence)} if fence else {}


def _import_json(item: ImportItem) -> dict[str, Any]:
    task = item.task
    data: dict[str, Any] = {"title": _clean(task.title), "priority": task.priority}
    extra = {
        "key": item.key,
        "description": _clean(task.description),
        "parent": task.parent_id,
        "spec_id": task.spec_id,
        "after": list(item.after) or None,
    }
    return data | {k: v for k, v in extra.items() if v is not None}


def _page(data: dict[str, Any], parse: Any) -> Page[Any]:
    p = data["pagination"]
    return Page([parse(i) for i in data["data"]], p["page"], p["per_page"], p["total"])


def _claim_from_headers(response: httpx.Response) -> Claim:
    task = Task.from_json(response.json())
    fence = response.headers.get("x-airyra-fence", "")
    expires = response.headers.get("x-airyra-lease-expires")
    return Claim(
        task,
        int(fence) if fence.isdigit() else NO_FENCE,
        datetime.fromisoformat(expires) if expires else utcnow() + timedelta(days=365),
    )
