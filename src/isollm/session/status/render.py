"""A :class:`~.model.Snapshot` as text: the full dashboard, or one line (``--brief``).

Pure: a snapshot (and the time it is shown at) in, text out. Everything that came from
an agent or the task queue (titles, branch names, board messages, hook details) goes
through :func:`isollm.terminal.safe_line`, so no escape sequence reaches the terminal.
Standard library and :mod:`isollm.terminal` only: ``--brief`` imports this module.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from isollm.session.status.model import (
    AgentState,
    Board,
    Health,
    Service,
    Snapshot,
    SyncView,
    TaskCounts,
    WorkerView,
)
from isollm.terminal import safe_line

RULE = "═" * 51
MARK = {Health.UP: "●", Health.DOWN: "○", Health.NONE: "-", Health.UNAVAILABLE: "?"}
STATE_MARK = {
    AgentState.STARTING: "◌",
    AgentState.WORKING: "●",
    AgentState.WAITING: "◆",
    AgentState.IDLE: "○",
    AgentState.EXITED: "×",
    AgentState.NOT_ATTACHED: "·",
    AgentState.DEAD: "✗",
    AgentState.UNKNOWN: "?",
}
SYNC_TEXT = {
    "in-sync": "in sync",
    "no-hub": "no hub yet (`isollm sync push` creates it)",
    "no-host-branch": "no such branch here",
    "not-pushed": "not on the hub yet (`isollm sync push`)",
}
MAX_TITLE = 60
MAX_MESSAGE = 80
SHOWN_FILES = 8  # file names shown per conflict


def age(since: datetime | None, now: datetime) -> str:
    """``42s``, ``5m``, ``3h``, ``2d`` (empty when unknown)."""
    if since is None:
        return ""
    seconds = max(0, int((now - since) / timedelta(seconds=1)))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def size(n: int | None) -> str:
    """Bytes as ``812K``, ``312M``, ``1.2G``; ``-`` when unknown."""
    if n is None:
        return "-"
    for unit, scale in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= scale:
            value = n / scale
            return f"{value:.1f}{unit}" if value < 10 and unit == "G" else f"{value:.0f}{unit}"
    return f"{n}B"


def clip(text: str, limit: int) -> str:
    """``text`` made safe for one line, cut to ``limit`` characters."""
    shown = safe_line(text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def state_name(state: AgentState) -> str:
    """A state as words: ``not attached`` for ``not-attached``."""
    return state.value.replace("-", " ")


def state_text(worker: WorkerView, now: datetime) -> str:
    when = age(worker.since, now)
    return f"{state_name(worker.state)} {when}".rstrip()


def _counts(workers: tuple[WorkerView, ...]) -> str:
    found: dict[AgentState, int] = {}
    for w in workers:
        found[w.state] = found.get(w.state, 0) + 1
    parts = [f"{n} {state_name(state)}" for state in AgentState if (n := found.get(state, 0))]
    return ", ".join(parts)


# --- one line ------------------------------------------------------------------------


def _brief_tasks(tasks: TaskCounts) -> str:
    if not tasks.available:
        return "tasks: ?"
    parts = [f"{tasks.ready} ready", f"{tasks.in_progress} in progress"]
    parts += [f"{tasks.blocked} blocked"] if tasks.blocked else []
    return "tasks: " + ", ".join([*parts, f"{tasks.done} done"])


def brief(snapshot: Snapshot) -> str:
    """``workers: 3 (2 working, 1 waiting) | tasks: 5 ready, ... | conflicts: 1 |
    task server ● | tmux ●`` (conflicts only when there are some)"""
    workers = f"workers: {len(snapshot.workers)}"
    if snapshot.workers:
        workers += f" ({_counts(snapshot.workers)})"
    waiting = [w.name for w in snapshot.workers if w.state is AgentState.WAITING]
    parts = [workers, _brief_tasks(snapshot.tasks)]
    if waiting:
        parts.append("waiting: " + ", ".join(safe_line(n) for n in waiting))
    if snapshot.conflicts:
        parts.append(f"conflicts: {len(snapshot.conflicts)}")
    parts += [f"{safe_line(s.name)} {MARK[s.health]}" for s in snapshot.services]
    return " | ".join(parts)


# --- the full view -------------------------------------------------------------------


def _worker_lines(w: WorkerView, now: datetime, width: int) -> list[str]:
    state = f"{STATE_MARK[w.state]} {state_text(w, now)}"
    usage = ""
    running = w.state not in (AgentState.EXITED, AgentState.DEAD, AgentState.NOT_ATTACHED)
    if running and (w.cpu_percent is not None or w.rss_bytes is not None):
        cpu = "-" if w.cpu_percent is None else f"{w.cpu_percent:.0f}%"
        usage = f"  cpu {cpu:>4}  rss {size(w.rss_bytes):>5}"
    head = f"  {safe_line(w.name):<{width}}  {state:<16}{usage}"
    pad = " " * (width + 4)
    if w.task_id:
        task = f"task: {safe_line(w.task_id)} {clip(w.task_title, MAX_TITLE)}".rstrip()
    else:
        task = "(no task)"
    if w.branch:
        task += f" → {safe_line(w.branch)}"
    if w.added is not None and w.deleted is not None:
        task += f" (+{w.added}/-{w.deleted})"
    lines = [head, f"{pad}└─ {task}"]
    note = w.problem or (w.detail if w.state in (AgentState.WAITING, AgentState.DEAD) else "")
    if note:
        lines.append(f"{pad}   {clip(note, MAX_MESSAGE)}")
    elif w.state is AgentState.NOT_ATTACHED:
        lines.append(f"{pad}   open its agent: isollm attach {safe_line(w.name)}")
    return lines


def _workers(snapshot: Snapshot, now: datetime) -> list[str]:
    if not snapshot.workers:
        return ["Workers: none (`isollm up` or `isollm worker add` starts some)"]
    lines = [f"Workers ({len(snapshot.workers)}: {_counts(snapshot.workers)}):"]
    width = max(len(safe_line(w.name)) for w in snapshot.workers)
    for w in snapshot.workers:
        lines += _worker_lines(w, now, width)
    return lines


def _tasks(tasks: TaskCounts) -> list[str]:
    if not tasks.available:
        why = f": {safe_line(tasks.error)}" if tasks.error else " (the task server is not up)"
        return [f"Tasks: unavailable{why}"]
    rows = [
        ("Ready", tasks.ready),
        ("Waiting", tasks.waiting),
        ("In progress", tasks.in_progress),
        ("Blocked", tasks.blocked),
        ("Done", tasks.done),
    ]
    return ["Tasks:", *(f"  {name + ':':<14}{n}" for name, n in rows)]


def sync_text(sync: SyncView) -> str:
    if sync.state == "ahead":
        return f"{sync.ahead} commit(s) not on the hub (`isollm sync push`)"
    if sync.state == "behind":
        return f"the hub has {sync.behind} commit(s) you lack"
    if sync.state == "diverged":
        return f"diverged from the hub ({sync.ahead} ahead, {sync.behind} behind)"
    return SYNC_TEXT.get(sync.state, sync.state)


def _sync(sync: SyncView) -> list[str]:
    if not sync.available:
        return [f"Sync: unavailable: {safe_line(sync.error)}"]
    here = f" (checked out: {safe_line(sync.host_branch)})" if sync.host_branch else ""
    return [
        "Sync:",
        f"  Host: {safe_line(sync.base_branch)} {sync_text(sync)}{here}",
        f"  Task branches on the hub: {sync.task_branches}",
    ]


def _board(board: Board, now: datetime) -> list[str]:
    if not board.available:
        return [f"Context board: {safe_line(board.note or 'unavailable')}"]
    if not board.context and not board.locks:
        return ["Context board: empty"]
    lines = ["Context board:"]
    for e in board.context:
        files = f"  [{', '.join(safe_line(f) for f in e.files)}]" if e.files else ""
        when = age(e.since, now)
        lines.append(
            f"  {safe_line(e.agent)}  {safe_line(e.status)} {when}  "
            f"{clip(e.message, MAX_MESSAGE)}{files}"
        )
    for lock in board.locks:
        task = f", {safe_line(lock.task_id)}" if lock.task_id else ""
        lines.append(f"  lock {safe_line(lock.path)} ({safe_line(lock.agent)}{task})")
    return lines


def _conflicts(snapshot: Snapshot) -> list[str]:
    """Running tasks touching the same files; nothing when there are none."""
    if not snapshot.conflicts:
        note = snapshot.conflicts_note if snapshot.tasks.available else ""
        return [f"Conflicts: unavailable: {safe_line(note)}", ""] if note else []
    lines = [f"Conflicts ({len(snapshot.conflicts)}):"]
    for c in snapshot.conflicts:
        files = clip(", ".join(c.files[:SHOWN_FILES]), 120)
        more = len(c.files) - SHOWN_FILES
        files += f" and {more} more" if more > 0 else ""
        lines.append(
            f"  ! {safe_line(c.earlier)} ({safe_line(c.earlier_agent)}) and "
            f"{safe_line(c.later)} ({safe_line(c.later_agent)}) both touch {files}"
        )
    return [*lines, ""]


def service_line(service: Service) -> str:
    detail = f" ({safe_line(service.detail)})" if service.detail else ""
    label = service.name[:1].upper() + service.name[1:]
    return f"{safe_line(label)}: {MARK[service.health]} {service.health.value}{detail}"


def _session(snapshot: Snapshot, now: datetime) -> str:
    s = snapshot.session
    if s.error:
        return f"Session: unreadable: {safe_line(s.error)}"
    if not s.recorded:
        return "Session: none (showing what exists)"
    started = age(s.started_at, now)
    where = f" in {safe_line(s.multiplexer)}" if s.multiplexer else ""
    if s.multiplexer == "none":
        where = " without a multiplexer"
    stale = "" if s.alive else "; stale: it no longer runs (`isollm up` takes it over)"
    return f"Session: {safe_line(s.status)}{where}, started {started} ago{stale}{_attach(snapshot)}"


def _attach(snapshot: Snapshot) -> str:
    """How to open the agents of a session without panes that nobody opened yet."""
    waiting = [w.name for w in snapshot.workers if w.state is AgentState.NOT_ATTACHED]
    if not snapshot.session.alive or not waiting:
        return ""
    return f" (attach each worker: isollm attach {safe_line(waiting[0])})"


def full(snapshot: Snapshot, now: datetime | None = None) -> str:
    """The dashboard (seed 002 §4.5, plus agent states, usage and the board)."""
    now = now or snapshot.taken_at
    lines = [f"isollm: {safe_line(snapshot.project)}", RULE, _session(snapshot, now), ""]
    lines += [*_workers(snapshot, now), ""]
    lines += [*_tasks(snapshot.tasks), ""]
    lines += [*_sync(snapshot.sync), ""]
    lines += [*_board(snapshot.board, now), ""]
    lines += _conflicts(snapshot)
    lines += [service_line(s) for s in snapshot.services]
    if snapshot.problems:
        lines += ["", "Problems:", *(f"  {clip(p, 200)}" for p in snapshot.problems)]
    return "\n".join(lines) + "\n"
