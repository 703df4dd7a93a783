"""Where runtime state lives: the ``State`` interface and its file implementation.

Layout of ``.isollm/`` (directories 0700, files 0600)::

    session.json          the running session, created exclusively
    workers/<name>.json   one file per worker, so workers never write the same file
    locks/                flock files serialising read-modify-write updates

Every file is a versioned record (:mod:`isollm.records`): every write is atomic and
durable, so a reader sees the old file or the new one, never a torn one, even if the
writer is killed; reading checks the schema version and migrates older files.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from isollm import fsutil, liveness, records
from isollm.config import STATE_DIR
from isollm.errors import StateError
from isollm.state.errors import (
    CorruptStateError,
    InvalidWorkerNameError,
    NoSessionError,
    SessionExistsError,
    WorkerNotFoundError,
)
from isollm.state.machine import transition
from isollm.state.model import (
    Session,
    TaskRef,
    WorkerState,
    WorkerStatus,
    session_schema,
    worker_schema,
)

SESSION_FILE = "session.json"
WORKERS_DIR = "workers"
LOCKS_DIR = "locks"
VALID_WORKER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

T = TypeVar("T")


def check_worker_name(name: str) -> str:
    """``name`` if it is safe as a file name (no separators, no dot files); else raise."""
    if not isinstance(name, str) or not VALID_WORKER_NAME.fullmatch(name):
        raise InvalidWorkerNameError(str(name))
    return name


@dataclass(frozen=True)
class LoadResult:
    """Every worker that could be read, and one error per file that could not."""

    workers: list[WorkerState] = field(default_factory=list)
    errors: list[StateError] = field(default_factory=list)


class State(Protocol):
    """Runtime state of one project. Implementations: :class:`FileState`."""

    def create_session(self, session: Session) -> Session | None: ...
    def save_session(self, session: Session) -> None: ...
    def load_session(self) -> Session: ...
    def clear_session(self) -> None: ...
    def has_active_session(self) -> bool: ...
    def save_worker(self, worker: WorkerState) -> None: ...
    def load_worker(self, name: str) -> WorkerState: ...
    def load_all_workers(self) -> LoadResult: ...
    def update_worker(
        self, name: str, change: Callable[[WorkerState], WorkerState]
    ) -> WorkerState: ...
    def delete_worker(self, name: str) -> None: ...
    def clear_all_workers(self) -> None: ...


def _natural_key(name: str) -> list[Any]:
    """Sort worker-2 before worker-10."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", name) if p]


class FileState:
    """:class:`State` kept as JSON files in a state directory (normally ``.isollm/``)."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)

    @classmethod
    def for_project(cls, root: Path) -> FileState:
        return cls(Path(root) / STATE_DIR)

    @property
    def session_path(self) -> Path:
        return self.state_dir / SESSION_FILE

    @property
    def workers_dir(self) -> Path:
        return self.state_dir / WORKERS_DIR

    def worker_path(self, name: str) -> Path:
        return self.workers_dir / f"{check_worker_name(name)}.json"

    # -- session --------------------------------------------------------------------------

    def create_session(self, session: Session) -> Session | None:
        """Record ``session``; SessionExistsError if a live one is recorded.

        A recorded session whose process is gone (or whose pid now belongs to another
        process) is stale: it is replaced and returned so the caller can clean up after it.
        """
        with self._lock("session"):
            stale = self._stale_session()
            if stale is not None:
                _unlink(self.session_path)
            self._ensure_dir(self.state_dir)
            try:
                data = records.encode(session.to_dict(), session_schema())
                fsutil.create_exclusive(self.session_path, data)
            except FileExistsError:  # written by someone not taking the lock
                raise _exists(self.load_session()) from None
            except OSError as exc:
                raise _write_error(self.session_path, exc) from exc
            return stale

    def _stale_session(self) -> Session | None:
        try:
            current = self.load_session()
        except NoSessionError:
            return None
        if liveness.is_alive(current.pid, current.pid_start_time):
            raise _exists(current)
        return current

    def save_session(self, session: Session) -> None:
        """Replace the recorded session; NoSessionError if there is none to update."""
        with self._lock("session"):
            if not self.session_path.exists():
                raise NoSessionError("there is no session to update (it was cleared)")
            self._write(self.session_path, session.to_dict(), session_schema())

    def load_session(self) -> Session:
        """The recorded session; NoSessionError if none, CorruptStateError if unreadable."""
        try:
            data = self._read(self.session_path, session_schema())
        except FileNotFoundError:
            raise NoSessionError() from None
        return _parse(self.session_path, Session.from_dict, data)

    def clear_session(self) -> None:
        """Forget the session; does nothing if there is none."""
        with self._lock("session"):
            _unlink(self.session_path)

    def has_active_session(self) -> bool:
        """Whether a session is recorded and its process is still the one running."""
        try:
            session = self.load_session()
        except NoSessionError:
            return False
        return liveness.is_alive(session.pid, session.pid_start_time)

    # -- workers --------------------------------------------------------------------------

    def save_worker(self, worker: WorkerState) -> None:
        path = self.worker_path(worker.name)
        self._ensure_dir(self.workers_dir)
        self._write(path, worker.to_dict(), worker_schema())

    def load_worker(self, name: str) -> WorkerState:
        path = self.worker_path(name)
        try:
            data = self._read(path, worker_schema())
        except FileNotFoundError:
            raise WorkerNotFoundError(name) from None
        return self._parse_worker(path, data, name)

    def load_all_workers(self) -> LoadResult:
        """Every readable worker (sorted by name) plus an error for each corrupt file."""
        result = LoadResult()
        for path in self._worker_files():
            try:
                name = check_worker_name(path.stem)
                result.workers.append(
                    self._parse_worker(path, self._read(path, worker_schema()), name)
                )
            except FileNotFoundError:
                continue  # deleted while we were listing
            except StateError as exc:
                result.errors.append(exc)
        return result

    def update_worker(self, name: str, change: Callable[[WorkerState], WorkerState]) -> WorkerState:
        """Load, change and save one worker while holding its lock; returns the new state."""
        with self._lock(f"worker-{check_worker_name(name)}"):
            new = change(self.load_worker(name))
            if new.name != name:
                raise ValueError(f"an update cannot rename worker {name!r} to {new.name!r}")
            self.save_worker(new)
            return new

    def transition_worker(
        self,
        name: str,
        new_status: WorkerStatus,
        *,
        error: str | None = None,
        task: TaskRef | None = None,
        branch: str | None = None,
    ) -> WorkerState:
        """Move a saved worker to ``new_status`` (see :func:`isollm.state.machine.transition`)."""
        return self.update_worker(
            name, lambda w: transition(w, new_status, error=error, task=task, branch=branch)
        )

    def delete_worker(self, name: str) -> None:
        """Forget one worker; does nothing if it has no state."""
        _unlink(self.worker_path(name))

    def clear_all_workers(self) -> None:
        """Forget every worker, including temp files left by killed writers."""
        for path in self._listdir(self.workers_dir):
            if path.is_file():
                _unlink(path)

    # -- files ----------------------------------------------------------------------------

    def _worker_files(self) -> list[Path]:
        paths = [
            p
            for p in self._listdir(self.workers_dir)
            if p.suffix == ".json" and not p.name.startswith(".") and p.is_file()
        ]
        return sorted(paths, key=lambda p: _natural_key(p.stem))

    def _parse_worker(self, path: Path, data: Any, name: str) -> WorkerState:
        worker = _parse(path, WorkerState.from_dict, data)
        if worker.name != name:
            raise CorruptStateError(str(path), f"it holds worker {worker.name!r}, not {name!r}")
        return worker

    def _ensure_dir(self, path: Path) -> None:
        try:
            for directory in (self.state_dir, path):
                fsutil.ensure_dir(directory, fsutil.DIR_MODE)
        except OSError as exc:
            raise StateError(f"cannot create {path}: {exc.strerror or exc}") from exc

    def _listdir(self, directory: Path) -> list[Path]:
        try:
            return list(directory.iterdir())
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StateError(f"cannot list {directory}: {exc.strerror or exc}") from exc

    def _read(self, path: Path, schema: records.Schema) -> dict[str, Any]:
        """The record in ``path`` at the current version; FileNotFoundError passes
        through for the caller."""
        try:
            return records.read(path, schema)
        except FileNotFoundError:
            raise
        except (records.CorruptRecordError, records.NewerRecordError) as exc:
            raise CorruptStateError(str(path), exc.reason) from None

    def _write(self, path: Path, data: dict[str, Any], schema: records.Schema) -> None:
        self._ensure_dir(path.parent)
        try:
            records.write(path, data, schema)
        except OSError as exc:
            raise _write_error(path, exc) from exc

    @contextlib.contextmanager
    def _lock(self, name: str) -> Iterator[None]:
        locks = self.state_dir / LOCKS_DIR
        self._ensure_dir(locks)
        with fsutil.file_lock(locks / f"{name}.lock"):
            yield


def _parse(path: Path, reader: Callable[[Any], T], data: Any) -> T:
    try:
        return reader(data)
    except (ValueError, TypeError) as exc:
        raise CorruptStateError(str(path), str(exc)) from None


def _exists(session: Session) -> SessionExistsError:
    return SessionExistsError(session.pid, session.started_at.isoformat(timespec="seconds"))


def _write_error(path: Path, exc: OSError) -> StateError:
    return StateError(f"cannot write {path}: {exc.strerror or exc}")


def _unlink(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise StateError(f"cannot remove {path}: {exc.strerror or exc}") from exc
    with contextlib.suppress(OSError):
        fsutil.fsync_dir(path.parent)
