"""``isollm task add|list|show|edit|delete|clear|import|release|block|unblock``: the
queue, for humans; ``isollm task locks|context``: what agents coordinate through.

Every command talks to the project's task server, starting isollm's own in the
background when none runs (unless ``airyra.external`` is set).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.markup import escape

from isollm import config as cfg
from isollm import terminal
from isollm.cli import output
from isollm.doctor.unblock import unblock_matching
from isollm.errors import TaskError
from isollm.tasks.client import host
from isollm.tasks.client.http import TaskClient
from isollm.tasks.server.control import ensure_server
from isollm.tasks.store.model import Status, Task, TaskPatch, parse_priority, priority_name

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print a JSON document.")


class TaskInProgressError(TaskError):
    """A task an agent works on was to be deleted without --force."""


def _client() -> TaskClient:
    loaded = cfg.load_valid()
    return ensure_server(loaded.config, loaded.root, notify=lambda m: output.err.print(escape(m)))


def _priority(ctx: click.Context, param: click.Parameter, value: str | None) -> int:
    try:
        return parse_priority(value) if value is not None else 2
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _line(task: Task, waiting: frozenset[str] = frozenset()) -> str:
    extra = ""
    if task.claimed_by and task.status is Status.IN_PROGRESS:
        extra = f"  [{task.claimed_by}]"
    elif task.id in waiting:
        extra = "  (waiting)"
    return f"  {task.id}  {priority_name(task.priority):<8}  {task.title}{extra}"


@click.group("task")
def task_group() -> None:
    """Add, list and manage the tasks agents work on."""


@task_group.command("add")
@click.argument("title")
@click.option("-d", "--description", help="Longer description for the agent.")
@click.option(
    "-p", "--priority", callback=_priority, help="0-4 or critical, high, normal, low, lowest."
)
@click.option("--parent", help="Id of the parent task.")
@click.option(
    "--after", multiple=True, metavar="ID", help="Start only after task ID is done (repeatable)."
)
@JSON_OPTION
def add(
    *,
    title: str,
    description: str | None,
    priority: int,
    parent: str | None,
    after: tuple[str, ...],
    as_json: bool,
) -> None:
    """Queue a task titled TITLE."""
    with _client() as client:
        task = host.add_task(
            client, title, description=description, priority=priority, parent=parent, after=after
        )
    if as_json:
        output.emit_json("task", task.to_json())
    else:
        output.info(f"Added {task.id}: {task.title}")


@task_group.command("list")
@click.option(
    "--status", type=click.Choice([s.value for s in Status]), help="Only tasks with this status."
)
@JSON_OPTION
def list_tasks(status: str | None, as_json: bool) -> None:
    """List tasks grouped by status, most urgent first."""
    with _client() as client:
        board = host.board(client, Status(status) if status else None)
    if as_json:
        output.emit_json("tasks", board.to_json())
        return
    if not any(board.groups.values()):
        output.info("No tasks. Add one with `isollm task add TITLE`.")
    for group in host.STATUS_ORDER:
        tasks = board.groups.get(group, [])
        if tasks:
            output.info(f"{group.value.replace('_', ' ').capitalize()} ({len(tasks)})")
            for task in tasks:
                output.info(_line(task, board.waiting))


@task_group.command("show")
@click.argument("task_id")
@JSON_OPTION
def show(task_id: str, as_json: bool) -> None:
    """Show a task with its dependencies and history."""
    with _client() as client:
        detail = host.detail(client, task_id)
    if as_json:
        output.emit_json("task_detail", detail.to_json())
        return
    t = detail.task
    rows = [
        ("Title", t.title),
        ("Status", t.status.value),
        ("Priority", priority_name(t.priority)),
        ("Description", t.description),
        ("Parent", t.parent_id),
        ("Claimed by", t.claimed_by),
        ("Lease ends", t.lease_expires_at and t.lease_expires_at.isoformat(timespec="seconds")),
        ("Depends on", ", ".join(d.parent_id for d in detail.dependencies)),
        ("Diff", f"isollm diff {t.id}"),
    ]
    output.info(t.id)
    for label, value in rows:
        if value:
            output.info(f"  {label + ':':<13}{value}")
    output.info("History:")
    for h in detail.history:
        change = f" {h.field}: {h.old_value or '-'} -> {h.new_value or '-'}" if h.field else ""
        when = h.changed_at.isoformat(timespec="seconds")
        output.info(f"  {when}  {h.action:<8} by {h.changed_by}{change}")


@task_group.command("clear")
@JSON_OPTION
def clear(as_json: bool) -> None:
    """Remove done tasks (keeping any that unfinished subtasks still hang from)."""
    with _client() as client:
        cleared = client.clear_done()
    if as_json:
        output.emit_json("cleared", {"deleted": cleared})
    else:
        output.info(f"Removed {len(cleared)} done task{'s' if len(cleared) != 1 else ''}")


@task_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@JSON_OPTION
def import_tasks(file: Path, as_json: bool) -> None:
    """Add the tasks listed in a YAML FILE, all of them or none.

    \b
    - key: db                 # optional name for `after` and `parent`
      title: Set up the database
      description: PostgreSQL 16, migrations with alembic
      priority: high          # 0-4 or critical, high, normal, low, lowest
    - title: Add the users API
      after: [db]             # keys in this file or existing task ids
    """
    items = host.read_import_file(file)
    with _client() as client:
        result = client.import_tasks(items)
    if as_json:
        output.emit_json("import", result.to_json())
        return
    output.info(f"Imported {len(result.tasks)} task{'s' if len(result.tasks) != 1 else ''}")
    for task in result.tasks:
        output.info(_line(task))


def _transition(verb: str, task: Task, as_json: bool) -> None:
    if as_json:
        output.emit_json("task", task.to_json())
    else:
        output.info(f"{verb} {task.id}: now {task.status.value}")


@task_group.command("release")
@click.argument("task_id")
@JSON_OPTION
def release(task_id: str, as_json: bool) -> None:
    """Take a task back from the agent working on it and return it to the queue."""
    with _client() as client:
        task = client.release(task_id, force=True)
    _transition("Released", task, as_json)


@task_group.command("block")
@click.argument("task_id")
@click.option("--reason", help="Why (kept in the task's history).")
@JSON_OPTION
def block(task_id: str, reason: str | None, as_json: bool) -> None:
    """Keep a task from being claimed until it is unblocked."""
    with _client() as client:
        task = client.block(task_id, reason)
    _transition("Blocked", task, as_json)


@task_group.command("unblock")
@click.argument("task_id", required=False)
@click.option("--all", "every", is_flag=True, help="Unblock every blocked task.")
@click.option(
    "--reason", metavar="TEXT", help="Unblock the blocked tasks whose reason contains TEXT."
)
@JSON_OPTION
def unblock(task_id: str | None, every: bool, reason: str | None, as_json: bool) -> None:
    """Return a blocked task (TASK_ID, --all, or those blocked --reason TEXT) to the queue.

    After fixing what blocked many tasks (a missing API key, a failing setup):
    `isollm task unblock --all`, or `--reason "setup"` for those whose reason says so.
    """
    if (task_id is not None) + every + (reason is not None) != 1:
        raise click.UsageError("give one of TASK_ID, --all or --reason TEXT")
    if task_id is not None:
        with _client() as client:
            task = client.unblock(task_id)
        _transition("Unblocked", task, as_json)
        return
    with _client() as client:
        tasks = unblock_matching(client, reason)
    if as_json:
        output.emit_json("tasks", [t.to_json() for t in tasks])
        return
    for t in tasks:
        output.info(f"Unblocked {t.id}: now {t.status.value}")
    output.info(f"Unblocked {len(tasks)} task{'s' if len(tasks) != 1 else ''}")


@task_group.command("edit")
@click.argument("task_id")
@click.option("--title", help="The new title.")
@click.option("-d", "--description", help="The new description.")
@click.option("-p", "--priority", help="0-4 or critical, high, normal, low, lowest.")
@JSON_OPTION
def edit(
    task_id: str,
    title: str | None,
    description: str | None,
    priority: str | None,
    as_json: bool,
) -> None:
    """Change a task's title, description or priority (what is not given stays)."""
    if title is None and description is None and priority is None:
        raise click.UsageError("nothing to change: give --title, --description or --priority")
    try:
        rank = parse_priority(priority) if priority is not None else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--priority") from None
    with _client() as client:
        task = client.update_task(
            task_id, TaskPatch(title=title, description=description, priority=rank)
        )
    if as_json:
        output.emit_json("task", task.to_json())
    else:
        output.info(f"Edited {task.id}: {task.title} ({priority_name(task.priority)})")


@task_group.command("delete")
@click.argument("task_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True, help="Delete it even while an agent works on it.")
@JSON_OPTION
def delete(task_id: str, yes: bool, force: bool, as_json: bool) -> None:
    """Delete a task and its subtasks from the queue.

    Its branch on the hub, if it has one, is kept: nothing of its work is deleted.
    """
    loaded = cfg.load_valid()
    branch = f"{loaded.config.git.branch_prefix}{task_id}"
    with _client() as client:
        task = client.get_task(task_id)
        if task.status is Status.IN_PROGRESS and not force:
            raise TaskInProgressError(
                f"task {task.id} is in progress ({task.claimed_by or 'claimed'})",
                hint="wait for it to end, `isollm task release` it, or pass --force",
            )
        subtasks = [t.id for t in client.all_tasks() if t.parent_id == task.id]
        what = f"task {task.id} ({terminal.safe_line(task.title)})"
        if subtasks:
            what += f" and its subtask(s) {', '.join(subtasks)}"
        if not yes and not sys.stdin.isatty():
            raise TaskError(f"not deleting {what} without a confirmation", hint="pass --yes")
        if not yes:
            click.confirm(f"Delete {what}?", abort=True, err=True)
        client.delete_task(task.id)
    kept = f"its branch {branch} on the hub, if any, is kept (`isollm gc --task ID` drops it)"
    if as_json:
        output.emit_json("task-delete", {"deleted": [task.id, *subtasks], "branch_kept": branch})
    else:
        output.info(f"Deleted {what}; {kept}")


@task_group.command("locks")
@JSON_OPTION
def locks(as_json: bool) -> None:
    """List the file locks agents hold (each lives as long as its agent's claim)."""
    with _client() as client:
        held = client.locks()
    if as_json:
        output.emit_json("locks", {"locks": [lock.to_json() for lock in held]})
        return
    if not held:
        output.info("No file locks. Agents take them with `airyra lock PATH`.")
    for lock in held:
        since = lock.acquired_at.isoformat(timespec="seconds")
        line = f"  {lock.path}  {lock.agent}  {lock.task_id}  since {since}"
        output.info(terminal.safe_line(line))


@task_group.command("context")
@JSON_OPTION
def context(as_json: bool) -> None:
    """Show the context board: what each agent says it works on."""
    with _client() as client:
        board = client.context_board()
    if as_json:
        output.emit_json("context", {"entries": [entry.to_json() for entry in board]})
        return
    if not board:
        output.info("The context board is empty. Agents publish with `airyra context set`.")
    for entry in board:
        files = ", ".join(entry.files) or "-"
        head = f"  {entry.agent}  {entry.task_id}  {entry.status.value}  {files}"
        output.info(terminal.safe_line(head))
        if entry.message:
            output.info("    " + terminal.safe_line(entry.message))
