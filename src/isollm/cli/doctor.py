"""``isollm doctor``: check that a run can work, before it uses any task's attempts."""

from __future__ import annotations

import os

import click

from isollm.cli import output
from isollm.doctor.model import Report, Status
from isollm.doctor.project import doctor as collect
from isollm.errors import ExitCode

MARKS = {Status.OK: "ok  ", Status.WARN: "warn", Status.FAIL: "FAIL", Status.SKIP: "skip"}


@click.command("doctor")
@click.option("--agent", help="Check this agent instead of the configured one.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON document instead of text.")
def doctor(agent: str | None, as_json: bool) -> None:
    """Check that `isollm run` can work here, without claiming any task.

    The same checks `isollm run` makes before its first claim: the config loads, the
    base branch reaches the hub, the agent's CLI is installed and runs inside a sandbox
    of the configured backend (with the paths the run exposes), its credentials are set
    (never shown), its model API answers, a sandbox starts and `sandbox.setup` succeeds
    in it (a throwaway sandbox, removed after). Exit 0 when all pass, 1 with the fix
    for each that does not.
    """
    report = collect(None, agent, dict(os.environ))
    if as_json:
        output.emit_json("doctor", report.to_json())
    else:
        for line in render(report):
            output.info(line)
    if not report.ok:
        raise click.exceptions.Exit(ExitCode.USER_ERROR)


def render(report: Report) -> list[str]:
    """The report as text lines: one per check, its fix under a failure (pure)."""
    width = max((len(c.name) for c in report.checks), default=0)
    lines = []
    for c in report.checks:
        first, *more = c.detail.splitlines() or [""]
        lines.append(f"{MARKS[c.status]}  {c.name.ljust(width)}  {first}".rstrip())
        indent = " " * (width + 8)
        lines += [indent + line for line in more]
        if c.fix and c.status in (Status.FAIL, Status.WARN):
            lines.append(f"{indent}fix: {c.fix}")
    failed = len(report.failed)
    lines.append(
        f"all checks passed ({report.seconds:.1f}s)"
        if not failed
        else f"{failed} check{'s' if failed != 1 else ''} failed: fix them before `isollm run`"
    )
    return lines
