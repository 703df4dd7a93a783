"""``isollm merge``: land task branches on the base branch, one tested merge at a time."""

from __future__ import annotations

import dataclasses
import shlex

import click
from rich.markup import escape

from isollm import terminal
from isollm.cli import output
from isollm.errors import ExitCode, IsollmError
from isollm.git.hub import Hub
from isollm.land import gc
from isollm.land.build import Strategy
from isollm.land.candidates import ClientBook
from isollm.land.merge import REQUEUED, MergeReport, MergeRequest, Outcome, Queue, merge
from isollm.land.testing import SandboxTester
from isollm.runner import byhand
from isollm.sandbox.workers import Project
from isollm.tasks.server.control import ensure_server


@click.command("merge")
@click.argument("tasks", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Every task branch whose task is done.")
@click.option("--into", default="", help="The branch to land on (default: git.base_branch).")
@click.option("--no-test", is_flag=True, help="Do not run merge.test_command.")
@click.option("--dry-run", is_flag=True, help="Show the plan and the conflict check only.")
@click.option("--requeue", is_flag=True, help="Make a fix task for each branch that fails.")
@click.option(
    "--allow-isollm-files",
    is_flag=True,
    help="Land branches that change isollm.yaml or .isollm/ (refused otherwise: read them "
    "first with `isollm diff`).",
)
@click.option(
    "--strategy",
    type=click.Choice([s.value for s in Strategy]),
    default=Strategy.MERGE.value,
    show_default=True,
    help="merge commit, one squashed commit, or each commit replayed.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON document.")
def merge_command(
    tasks: tuple[str, ...],
    every: bool,
    into: str,
    no_test: bool,
    dry_run: bool,
    requeue: bool,
    allow_isollm_files: bool,
    strategy: str,
    as_json: bool,
) -> None:
    """Land the branches of TASKS (or --all done tasks) on the base branch in the hub.

    In order of completion, dependencies first, one merge at a time: each is built in
    the hub without a checkout, tested with merge.test_command in a throwaway sandbox,
    and the target moved only when the test passes (compare-and-set). A conflicting or
    failing branch is reported and skipped, and so is one that changes isollm.yaml or
    .isollm/ (an agent may not rewrite the rules it runs under) unless you pass
    --allow-isollm-files. Your checkout is never touched: run `isollm sync pull`
    afterwards. Killed, a rerun finishes what was in flight.
    """
    if bool(tasks) == every:
        raise click.UsageError("name the tasks to merge, or pass --all")
    project = Project.load()
    project = dataclasses.replace(project, run_alive=byhand.run_alive(project.root))
    request = MergeRequest(
        tasks, into, Strategy(strategy), not no_test, dry_run, requeue, allow_isollm_files
    )
    try:
        report = _merge(project, request)
    except KeyboardInterrupt:
        output.err.print(
            "merge stopped: the target holds only merges that finished (none half-done); "
            "run `isollm merge` again to go on"
        )
        raise
    if as_json:
        output.emit_json("merge", report.to_json())
    else:
        render(report, project.config.merge.test_command if report.tested else [])
    if report.failed:
        raise click.exceptions.Exit(ExitCode.USER_ERROR)


def _merge(project: Project, request: MergeRequest) -> MergeReport:
    config = project.config
    hub = Hub.for_project(config.project).require().check()
    notify = lambda m: output.err.print(escape(m))  # noqa: E731
    tester = None
    if request.test and not request.dry_run and config.merge.test_command:
        tester = SandboxTester(config, project.root, hub)
    with ensure_server(config, project.root, notify=notify) as client:
        book = ClientBook(client)
        queue = Queue(
            hub, hub.git(), config.git.base_branch, config.git.branch_prefix, book, tester
        )
        report = merge(queue, request)
    if not request.dry_run:
        try:
            report.cleaned = gc.collect_safe(project)
        except IsollmError as exc:
            output.warn(f"clean-up after the merge failed: {exc}")
    return report


def render(r: MergeReport, test: list[str]) -> None:
    how = f"tested by `{shlex.join(test)}`" if test else "untested"
    how = "a dry run: nothing is tested or moved" if r.dry_run else how
    verb = "would merge" if r.dry_run else "merged"
    output.info(f"{verb} into {r.target} (strategy {r.strategy}, {how}):")
    if r.took_over:
        output.info(f"  took over from merge pid {r.took_over}, which had died")
    if r.resumed:
        output.info(f"  {r.resumed}")
    for o in r.outcomes:
        _outcome(o)
    if not r.outcomes:
        output.info("  nothing to merge")
    if r.new != r.old:
        output.info(
            f"{r.target} moved {r.old[:10]} -> {r.new[:10]} on the hub: "
            "run `isollm sync pull` to bring it to your repository"
        )
    if r.cleaned is not None and r.cleaned.removed:
        _cleaned(r.cleaned)


CLEANED_SHOWN = 5


def _cleaned(cleaned: gc.GcReport) -> None:
    removed = cleaned.removed
    names = [f"{item.kind} {item.name}" for item in removed[:CLEANED_SHOWN]]
    more = f" and {len(removed) - CLEANED_SHOWN} more" if len(removed) > CLEANED_SHOWN else ""
    output.info(f"cleaned up (landed or left over): {', '.join(names)}{more}")
    for problem in cleaned.problems:
        output.warn(problem)


def _outcome(o: Outcome) -> None:
    detail = o.reason or (o.commit[:10] if o.commit else "")
    output.info(f"  {o.status!s:<14} {o.task_id}  {o.branch}  {detail}")
    if o.files:
        output.info(f"      files: {', '.join(terminal.safe_line(f) for f in o.files)}")
        output.info("      changed on the target since the fork: " + (", ".join(o.ours) or "none"))
        output.info("      changed on the branch: " + (", ".join(o.theirs) or "none"))
    if o.test_tail:
        for line in o.test_tail.splitlines():
            output.info(f"      | {line}")
    if o.fix_task:
        output.info(f"      fix task: {o.fix_task}")
    if o.status in REQUEUED and not o.fix_task:
        output.info(
            f"      `isollm diff {o.task_id} --against now` shows it against the target; "
            "--requeue queues a task to fix it"
        )
