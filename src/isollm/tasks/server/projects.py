"""The projects a task server serves: their stores, opened on first use, a thread for
bulk work, and the group commit of claim-next (:class:`ClaimBatcher`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from isollm.tasks.server.asgi import Request
from isollm.tasks.server.spec_routes import SPECS
from isollm.tasks.store import errors, validate
from isollm.tasks.store.model import (
    Claim,
    format_time,
)
from isollm.tasks.store.protocol import StoreBackend, TaskStore

log = logging.getLogger(__name__)

PROJECT = "/v1/projects/{project}"
TASK = PROJECT + "/tasks/{id}"
# The requests that create a project's database when it has none (every other request
# on an unknown project is 404 PROJECT_NOT_FOUND, and opens and creates nothing).
CREATING = frozenset({("POST", PROJECT + "/tasks"), ("POST", PROJECT + "/tasks/import")})
CREATING |= {("POST", SPECS)}

T = TypeVar("T")


class Projects:
    """The stores of the projects in use, opened on first use; a project exists once a
    creating request made its database. Bulk operations (import, clear) run on a
    connection of their own in a thread of their own, in short transactions, so the
    event loop keeps serving claims and heartbeats while one runs."""

    def __init__(self, backend: StoreBackend) -> None:
        self._backend = backend
        self._open: dict[str, TaskStore] = {}
        self._bulk_open: dict[str, TaskStore] = {}
        self._bulk = ThreadPoolExecutor(1, thread_name_prefix="task-bulk")

    def store(self, project: str, *, create: bool = False) -> TaskStore:
        store = self._open.get(project)
        if store is None:
            validate.check_project(project)
            if not create and not self._backend.exists(project):
                raise errors.ProjectNotFoundError.of(project)
            store = self._open[project] = self._backend.open(project)
            # What an import killed with an earlier server left staged (invisible) goes
            # now, in the bulk thread, in short transactions.
            stale = getattr(store, "stale_imports", None)
            if stale is not None and stale():
                self._bulk.submit(self._remove_stale_imports, project)
        return store

    def _bulk_store(self, project: str) -> TaskStore:
        store = self._bulk_open.get(project)
        if store is None:
            store = self._bulk_open[project] = self._backend.open(project)
        return store

    def _remove_stale_imports(self, project: str) -> None:
        try:
            remove = getattr(self._bulk_store(project), "remove_stale_imports", None)
            if remove is not None:
                remove()
        except Exception:
            log.exception("removing stale imports of %s failed", project)

    def for_request(self, request: Request) -> TaskStore:
        create = (request.method, request.route) in CREATING
        return self.store(request.params["project"], create=create)

    async def bulk(self, request: Request, work: Callable[[TaskStore], T]) -> T:
        """``work`` on the project's bulk connection, off the event loop."""
        self.for_request(request)  # 404 or create, as for any request
        project = request.params["project"]

        def run() -> T:
            return work(self._bulk_store(project))

        return await asyncio.get_running_loop().run_in_executor(self._bulk, run)

    def names(self) -> list[str]:
        return sorted(set(self._backend.projects()) | set(self._open))

    def opened(self) -> list[TaskStore]:
        return list(self._open.values())

    def close(self) -> None:
        self._bulk.shutdown(wait=True)
        for store in [*self._open.values(), *self._bulk_open.values()]:
            store.close()
        self._open.clear()
        self._bulk_open.clear()


def claim_headers(claim: Claim) -> list[tuple[bytes, bytes]]:
    return [
        (b"x-airyra-fence", str(claim.fence).encode()),
        (b"x-airyra-lease-expires", format_time(claim.expires_at).encode()),
    ]


class ClaimBatcher:
    """Group commit for claim-next: requests arriving in one event-loop turn share a
    transaction (in arrival order), so under load a commit serves many claims."""

    def __init__(self) -> None:
        self._pending: dict[TaskStore, list[tuple[str, float, asyncio.Future[Claim | None]]]] = {}
        self._scheduled = False

    def claim_next(
        self, store: TaskStore, agent: str, lease: float
    ) -> asyncio.Future[Claim | None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Claim | None] = loop.create_future()
        self._pending.setdefault(store, []).append((agent, lease, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, {}
        for store, waiting in pending.items():
            try:
                claims = store.claim_next_many([(agent, lease) for agent, lease, _ in waiting])
            except Exception as exc:
                for *_, future in waiting:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (*_, future), claim in zip(waiting, claims, strict=True):
                if not future.done():  # a client that hung up loses its claim to the lease
                    future.set_result(claim)
