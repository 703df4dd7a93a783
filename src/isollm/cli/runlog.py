"""``isollm run log TASK`` (an attempt's log as text) and ``isollm run --dry-run``."""

from __future__ import annotations

from collections.abc import Sequence

import click
from rich.markup import escape

from isollm import config as cfg
from isollm import redaction, terminal
from isollm.agents.render import LogRenderer
from isollm.cli import output
from isollm.runner import logview, selection
from isollm.tasks.server.control import ensure_server
from isollm.tasks.store.model import Task, priority_name


def _emit(line: str) -> None:
    """One line of an agent's log: secrets masked, control characters shown as escapes;
    an output error (stdout closed) ends the command, never with a traceback."""
    click.echo(terminal.safe_line(redaction.redact(line)))


@click.command("log")
@click.argument("task_id")
@click.option("--attempt", type=click.IntRange(1), help="Which attempt (default: the last).")
@click.option("--run", "run_id", help="Which run (default: the latest with a log of TASK).")
@click.option("-f", "--follow", is_flag=True, help="Keep showing new lines until it ends.")
@click.option("--raw", is_flag=True, help="The lines as the agent wrote them (made safe).")
def log_command(
    task_id: str, attempt: int | None, run_id: str | None, follow: bool, raw: bool
) -> None:
    """Show the log of TASK's attempt as readable text: the agent's messages, its tool
    calls and what they returned, the result (plain agents: their output as it is)."""
    root = cfg.find_project_root()
    found = logview.locate(root, task_id, run_id=run_id, attempt=attempt)
    output.err.print(
        escape(
            f"run {found.run_id}, task {found.task_id}, attempt {found.attempt}"
            f" ({found.agent or 'agent unknown'}): {found.path}"
        ),
        highlight=False,
    )
    renderer = LogRenderer("" if raw else found.agent)
    lines = logview.follow(root, found) if follow else logview.read(found).splitlines()
    with output.tolerant():
        for line in lines:
            for shown in renderer.line(line):
                _emit(shown)


def _task_line(task: Task) -> str:
    title = terminal.safe_line(task.title)
    return f"  {task.id}  {priority_name(task.priority):<8}  {title}"


def show_plan(workers: int | None, agent: str | None, only: Sequence[str], as_json: bool) -> None:
    """What ``isollm run`` would do now; claims nothing, starts no sandbox."""
    loaded = cfg.load_valid()
    with ensure_server(
        loaded.config, loaded.root, notify=lambda m: output.err.print(escape(m))
    ) as client:
        plan = selection.plan(loaded.config, client, workers=workers, agent=agent, only=only)
    if as_json:
        output.emit_json("run-plan", plan.to_json())
        return
    where = plan.agent_path or "its CLI is not found: `isollm doctor` says how to install it"
    output.info("dry run: nothing claimed, no sandbox started")
    output.info(f"  {plan.workers} worker(s), agent {plan.agent} ({where}), backend {plan.backend}")
    output.info(f"would run, in this order ({len(plan.ready)}):")
    for task in plan.ready:
        output.info(_task_line(task))
    if plan.waiting:
        output.info(f"then, once their dependencies are done ({len(plan.waiting)}):")
        for task in plan.waiting:
            output.info(_task_line(task))
    for task in plan.skipped:
        output.warn(f"{task.id} is {task.status.value}: it would not run")
    if not plan.ready and not plan.waiting:
        output.info("  nothing: no open task" + (" among those given" if only else ""))
