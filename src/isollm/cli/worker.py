"""``isollm worker add|list|exec|shell|logs|save|adopt|reset|remove``: the sandboxes
agents run in."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import click

from isollm import fsutil, terminal
from isollm.cli import output
from isollm.runner import byhand
from isollm.sandbox import SandboxInfo, ptyrelay, reconcile, workers
from isollm.sandbox.base import HostCommand, Sandbox, SandboxCommandError
from isollm.sandbox.workers import Discarded, Extra, Project, WorkerRow

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print a JSON document.")
FORCE_HELP = "Discard uncommitted or unpushed work in the sandbox (it is listed)."
COLUMNS = ("NAME", "BACKEND", "STATUS", "ADDRESS", "TASK", "BRANCH")
AGENT_OPTION = click.option(
    "--agent",
    default=None,
    help="Give the command this agent's environment (API keys from yours, never written "
    "down) and its install (shown read-only), as a run would: to run or debug it by hand.",
)


def _project() -> Project:
    """The project, knowing which of its runs are alive (their sandboxes are theirs)."""
    project = Project.load()
    return dataclasses.replace(
        project,
        run_alive=byhand.run_alive(project.root),
        run_resumable=byhand.run_resumable(project.root),
    )


def _extra(project: Project, agent: str | None) -> Callable[[Sandbox], Extra]:
    if agent is None:
        return byhand.configured_expose(project.config)
    hand = byhand.hand_agent(project.config, agent)
    output.err.print(
        terminal.safe(
            f"{hand.agent.name}'s environment and settings are set; run it as {hand.program} "
            f"(also in ${byhand.AGENT_BIN})"
        ),
        markup=False,
        highlight=False,
    )

    def prepared(sb: Sandbox) -> Extra:  # its settings files written as a run writes them
        return hand.extra(sb, home=hand.prepare(sb))  # noqa: S610 - not Django

    return prepared


@click.group("worker")
def worker_group() -> None:
    """Create and manage workers: isolated sandboxes holding a checkout of the hub.

    The backend comes from `sandbox.backend` in isollm.yaml: overlay (default,
    copy-on-write + bubblewrap), lxc, podman, or worktree (no isolation).
    """


def render_info(info: SandboxInfo) -> list[str]:
    lines = [
        f"{info.name} is ready: {info.backend} sandbox, branch {info.branch} "
        f"(base {info.base_commit[:12]})",
        f"  workspace: {info.workspace}",
    ]
    if info.host_workspace and str(info.host_workspace) != info.workspace:
        lines.append(f"  on the host: {info.host_workspace}")
    lines.append(f"  network: {info.network}" + ("" if info.isolated else " (no isolation)"))
    return lines


@worker_group.command("add")
@click.argument("name", required=False)
@click.option("--branch", default="", help="Work branch to check out (default: the base branch).")
@JSON_OPTION
def add(name: str | None, branch: str, as_json: bool) -> None:
    """Create a worker (named worker-N unless NAME is given), ready on its branch.

    Files listed in .worktreeinclude are copied in and `sandbox.setup` runs once.
    """
    sb = workers.add_worker(Project.load(), name, branch)
    info = sb.info()
    if as_json:
        output.emit_json("worker", info.to_json())
        return
    for note in info.notes:
        output.warn(note)
    for line in render_info(info):
        output.info(line)


def render_rows(rows: Sequence[WorkerRow]) -> list[str]:
    cells = [COLUMNS] + [
        (r.name, r.backend or "-", r.status, r.address or "-", r.task or "-", r.branch or "-")
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    lines = []
    for index, cell in enumerate(cells):
        lines.append("  ".join(v.ljust(w) for v, w in zip(cell, widths, strict=True)).rstrip())
        problem = rows[index - 1].problem if index else ""
        if problem:
            lines.append(f"  └─ {problem}")
    return lines


@worker_group.command("list")
@JSON_OPTION
def list_(as_json: bool) -> None:
    """Show every worker, checked against its sandbox (crash leftovers show up too)."""
    rows, errors = reconcile.list_workers(_project())
    if as_json:
        output.emit_json("workers", {"workers": [r.to_json() for r in rows], "errors": errors})
        return
    for error in errors:
        output.warn(error)
    if not rows:
        output.info("no workers yet; create one with `isollm worker add`")
        return
    for line in render_rows(rows):
        output.info(line)


def _run(cmd: HostCommand, tty: bool) -> None:
    """Run a sandboxed command for the user: on a terminal of its own (a pty relayed to
    the user's) or none, never on the user's, so it cannot push keystrokes into it."""
    code = ptyrelay.run(cmd.argv, env=cmd.env, cwd=cmd.cwd, tty_mode=tty, error=SandboxCommandError)
    if code:
        raise click.exceptions.Exit(code)


@worker_group.command(
    "exec", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False}
)
@click.option(
    "-t/-T",
    "--tty/--no-tty",
    "tty",
    default=None,
    help="Give the command a terminal (relayed to yours), or not. "
    "Default: when stdin and stdout are terminals.",
)
@AGENT_OPTION
@click.argument("name")
@click.argument("argv", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(tty: bool | None, agent: str | None, name: str, argv: tuple[str, ...]) -> None:
    """Run a command in worker NAME's workspace: isollm worker exec NAME -- CMD [ARGS]...

    Exits with the command's exit code. The command never gets your terminal itself:
    with -t it gets a new one whose input and output isollm relays.
    """
    command = list(argv[1:] if argv[:1] == ("--",) else argv)
    tty = ptyrelay.wanted() if tty is None else tty
    project = _project()
    extra = _extra(project, agent)
    _run(workers.exec_command(project, name, command, tty=tty, extra=extra), tty)


@worker_group.command("shell")
@AGENT_OPTION
@click.argument("name")
def shell(agent: str | None, name: str) -> None:
    """Open an interactive shell in worker NAME's workspace."""
    tty = ptyrelay.wanted()
    project = _project()
    extra = _extra(project, agent)
    _run(workers.shell_command(project, name, tty=tty, extra=extra), tty)


@worker_group.command("adopt")
@click.argument("name")
@click.option(
    "--force",
    is_flag=True,
    help="Adopt it even though its run can be resumed (that run then uses a new sandbox).",
)
@JSON_OPTION
def adopt(name: str, force: bool, as_json: bool) -> None:
    """Keep sandbox NAME, left by a run that is no longer running, as a worker."""
    sb = workers.adopt_worker(_project(), name, force=force)
    if as_json:
        output.emit_json("worker", sb.info().to_json())
        return
    for line in render_info(sb.info()):
        output.info(line)


@worker_group.command("logs")
@click.argument("name")
@click.option("-n", "--lines", type=int, default=200, show_default=True, help="Lines to show.")
def logs(name: str, lines: int) -> None:
    """Show worker NAME's sandbox log: creation, setup output, resets."""
    path = workers.log_path(Project.load(), name)
    if not path.exists():
        output.info(f"{name} has no log yet ({path})")
        return
    tail = fsutil.read_tail(path, _LOG_SHOWN).decode(errors="replace").splitlines()
    shown = tail[-lines:] if lines > 0 else tail
    click.echo(terminal.safe("\n".join(shown)))


_LOG_SHOWN = 4 << 20  # bytes read from the end of a sandbox log


def render_discarded(verb: str, result: Discarded) -> str:
    if result.work.clean:
        return f"{result.name} {verb}; nothing was lost"
    return f"{result.name} {verb}; discarded (--force): {result.lost}"


@worker_group.command("save")
@click.argument("name")
@click.option(
    "--branch",
    default=None,
    help="Save to this branch: the worker's own work branch, or a new branch under "
    "git.branch_prefix (default: the worker's salvage namespace, refs/isollm/salvage/NAME/).",
)
@click.option(
    "--commit",
    "message",
    default=None,
    help="First commit what is left uncommitted, inside the sandbox, with this message.",
)
@JSON_OPTION
def save(name: str, branch: str | None, message: str | None, as_json: bool) -> None:
    """Take worker NAME's commits (its HEAD) into the hub, the one way work leaves a worker.

    Commits nothing by itself: uncommitted changes stay behind unless --commit is
    given. The work goes through the same checks as an agent's (object check, size
    cap, never the base branch, never a delete; a rewritten branch's old tip is kept).
    """
    saved = workers.save_worker(_project(), name, branch=branch, commit=message)
    if as_json:
        output.emit_json("worker-save", saved.to_json())
        return
    if saved.old == saved.commit:
        output.info(f"{name}: {saved.ref} already holds {saved.commit[:12]}; nothing moved")
    else:
        output.info(f"{name}: saved {saved.commit[:12]} to {saved.ref} in the hub")
    if saved.backup:
        output.info(f"  the branch was rewritten; its old tip is kept at {saved.backup}")
    if saved.left_uncommitted:
        output.warn(
            f"{len(saved.left_uncommitted)} uncommitted change(s) were not saved "
            "(commit them, or save again with --commit MESSAGE)"
        )
    output.info(f"  fetch it: {saved.fetch}")


@worker_group.command("reset")
@click.argument("name")
@click.option("--force", is_flag=True, help=FORCE_HELP)
@click.option("--branch", default=None, help="Work branch after the reset (default: unchanged).")
@JSON_OPTION
def reset(name: str, force: bool, branch: str | None, as_json: bool) -> None:
    """Return worker NAME to a clean checkout of the current base.

    Refuses while the sandbox holds uncommitted or unpushed work, unless --force.
    """
    result = workers.reset_worker(_project(), name, force=force, branch=branch)
    _report("reset", result, as_json)


@worker_group.command("remove")
@click.argument("name")
@click.option("--force", is_flag=True, help=FORCE_HELP)
@JSON_OPTION
def remove(name: str, force: bool, as_json: bool) -> None:
    """Destroy worker NAME's sandbox and forget it.

    Refuses while the sandbox holds uncommitted or unpushed work, unless --force.
    """
    result = workers.remove_worker(_project(), name, force=force)
    _report("removed", result, as_json)


def _report(verb: str, result: Discarded, as_json: bool) -> None:
    if as_json:
        data = {"name": result.name, "forced": result.forced, "discarded": result.lost}
        output.emit_json(f"worker-{verb}", data)
    elif result.work.clean:
        output.info(render_discarded(verb, result))
    else:
        output.warn(render_discarded(verb, result))
