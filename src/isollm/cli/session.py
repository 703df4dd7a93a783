"""``isollm up`` / ``attach`` / ``down``: interactive sessions, every agent in a pane."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from collections.abc import Iterator
from typing import NoReturn

import click

from isollm import proc
from isollm.cli import output
from isollm.errors import IsollmError
from isollm.runner import byhand
from isollm.sandbox import ptyrelay
from isollm.sandbox.base import HostCommand, SandboxCommandError
from isollm.sandbox.workers import Project
from isollm.session import attach as attaching
from isollm.session import down as ending
from isollm.session import up as starting
from isollm.session.mux import MUX_NAMES
from isollm.session.settings import SessionSettings


def _project() -> Project:
    """The project, knowing which of its runs are alive (their sandboxes are theirs)."""
    project = Project.load()
    return dataclasses.replace(project, run_alive=byhand.run_alive(project.root))


@click.command("up")
@click.option("-n", "--workers", type=int, default=None, help="Workers (default: `workers`).")
@click.option("--agent", default=None, help="Agent every worker runs (default: `agent.name`).")
@click.option("--base", default=None, help="Base branch (default: `git.base_branch`).")
@click.option(
    "--force", is_flag=True, help="Start even though the hub's base lacks commits of yours."
)
@click.option(
    "--mux",
    type=click.Choice(MUX_NAMES),
    default=None,
    help="Terminal multiplexer (default: `session.mux`; auto: zellij if installed, else tmux).",
)
@click.option("--detach", is_flag=True, help="Start the session without attaching to it.")
@click.option("--idle", is_flag=True, help="Start the agents without their first prompt.")
@click.option(
    "--print-layout",
    is_flag=True,
    help="With zellij: print the session's layout (KDL) and exit, starting nothing.",
)
def up(
    workers: int | None,
    agent: str | None,
    base: str | None,
    force: bool,
    mux: str | None,
    detach: bool,
    idle: bool,
    print_layout: bool,
) -> None:
    """Start an interactive session: every worker's agent in a pane, a dashboard beside.

    Existing workers are reused as they are (after a reboot or a killed multiplexer,
    `isollm up` takes them back and restarts their panes); missing ones are created.
    Each agent works through the task queue by its instruction file and delivers its
    work itself (`airyra done`). Leave with your multiplexer's detach key; end the
    session with `isollm down`.
    """
    options = starting.UpOptions(workers, agent, base, force, mux, idle)
    project = _project()
    if print_layout:
        click.echo(_layout(project, options), nl=False)
        return
    result = starting.up(project, options, output.info, output.warn)
    for line in result.found.lines():
        output.info(line)
    count = len(result.found.workers)
    if result.attach is None:
        output.info(f"session {result.session}: {count} worker(s) ready for {result.agent}")
        chosen = "" if agent is None else f" --agent {result.agent}"
        output.info(f"no panes: open a worker's agent with `isollm attach WORKER{chosen}`")
        return
    output.info(
        f"session {result.session}: {count} worker(s) running {result.agent} in {result.mux}"
    )
    if detach or not ptyrelay.wanted():
        output.info("attach with `isollm attach`; end it with `isollm down`")
        return
    raise click.exceptions.Exit(proc.run_attached(result.attach))


def _layout(project: Project, options: starting.UpOptions) -> str:
    project = starting.configured(project, options)
    settings = SessionSettings.from_config(project.config, mux=options.mux)
    if settings.mux != "zellij":
        raise IsollmError(
            "--print-layout prints a zellij layout", hint="isollm up --mux zellij --print-layout"
        )
    from isollm.session.mux import zellij  # noqa: PLC0415

    names = starting.planned_names(project)
    agent = options.agent or project.config.agent.name
    return zellij.print_layout(starting.session_plan(project, names, agent, options))


@click.command("attach")
@click.argument("worker", required=False)
@click.option("--agent", default=None, help="Agent to start (default: `agent.name`).")
@click.option("--idle", is_flag=True, help="Start the agent without the first prompt.")
@click.option("--pane", is_flag=True, hidden=True, help="Run by `isollm up` in the pane.")
def attach(worker: str | None, agent: str | None, idle: bool, pane: bool) -> None:
    """Join the running session, or with WORKER: its pane, or its agent here.

    Without WORKER, this terminal attaches to the session `isollm up` started. With
    WORKER: the session showing WORKER's pane when it has one running; otherwise (no
    panes, or its pane is gone) WORKER's agent runs here, in its sandbox, then a shell
    there when it exits; neither ever gets this terminal itself (isollm relays it).
    """
    project = _project()
    shown = None if worker is None or pane else attaching.live_pane_argv(project, worker)
    if shown is not None and (agent or idle):
        raise IsollmError(
            f"{worker}'s agent already runs in its pane of the session",
            hint=f"`isollm attach {worker}` shows it; for another agent: `isollm down`, "
            "then `isollm up --agent AGENT`",
        )
    if worker is None or shown is not None:
        _join(shown or attaching.join_argv(project))
    settings = SessionSettings.from_config(project.config, idle=idle)
    tty = ptyrelay.wanted()
    try:
        commands = attaching.pane_commands(
            project, worker, agent, prompt=settings.prompt, tty=tty, prepared=pane
        )
    except IsollmError as exc:
        if pane and tty:  # the pane would close at once: keep the error on screen
            output.error(exc.message)
            if exc.hint:
                output.info(f"  hint: {exc.hint}")
            click.prompt("Press Enter to close this pane", default="", show_default=False)
        raise

    def run(cmd: HostCommand) -> int:
        return ptyrelay.run(
            cmd.argv, env=cmd.env, cwd=cmd.cwd, tty_mode=tty, error=SandboxCommandError
        )

    def say(text: str) -> None:
        sys.stdout.write(f"\r\n[isollm] {text}\r\n")
        sys.stdout.flush()

    raise click.exceptions.Exit(attaching.run_pane(commands, run, say))


def _join(argv: list[str]) -> NoReturn:
    """Attach this terminal to the session with ``argv``; exits with its code."""
    if not ptyrelay.wanted():
        raise IsollmError(
            "isollm attach needs a terminal (its input and output are not one)",
            hint="run it in a terminal; with `--mux none` sessions, `isollm attach WORKER` "
            "runs one agent here",
        )
    raise click.exceptions.Exit(proc.run_attached(argv))


@contextlib.contextmanager
def _answer() -> Iterator[None]:
    """A question whose input ended (not a terminal: a script, a pipe) says so, rather
    than looking interrupted; Ctrl-C on a terminal still interrupts."""
    try:
        yield
    except click.Abort:
        if sys.stdin.isatty():
            raise
        raise IsollmError(
            "isollm down asked a question and its input ended before an answer; "
            "nothing was changed",
            hint="run it in a terminal to answer, or `isollm down --yes` to salvage "
            "every worker's work without asking",
        ) from None


class _Asked:
    """``isollm down``'s questions, asked on this terminal."""

    def choose(self, unsaved: list[ending.WorkerWork]) -> ending.Choice:
        output.info("Workers with work that is not on the hub:")
        for work in unsaved:
            output.info(f"  {work.describe()}")
        output.info("")
        output.info("  [s] salvage: commit it and save it to the hub (refs/isollm/salvage/...)")
        output.info("  [d] discard: do not save it (it stays only in the sandboxes)")
        output.info("  [c] cancel: leave the session as it is")
        with _answer():
            answer = click.prompt(
                "Choice", type=click.Choice([c.value for c in ending.Choice]), default="s"
            )
        return ending.Choice(answer)

    def confirm_discard(self, unsaved: list[ending.WorkerWork]) -> bool:
        with _answer():
            return click.confirm(
                f"Not save the work of {', '.join(w.name for w in unsaved)} to the hub?",
                default=False,
            )

    def confirm_destroy(self, names: list[str]) -> bool:
        output.info("This permanently deletes these workers' sandboxes:")
        for name in names:
            output.info(f"  {name}")
        with _answer():
            typed = click.prompt("Type 'destroy' to confirm", default="", show_default=False)
        return bool(typed == "destroy")


@click.command("down")
@click.option("--yes", is_flag=True, help="Ask nothing: salvage unsaved work (never discard).")
@click.option("--save", is_flag=True, help="Keep the sandboxes running (default: stop them).")
@click.option(
    "--destroy", is_flag=True, help="Delete the workers' sandboxes (after typing `destroy`)."
)
def down(yes: bool, save: bool, destroy: bool) -> None:
    """End the session: save unsaved work, give back claimed tasks, stop the panes.

    Work that is not on the hub is salvaged to it (or, if you choose, discarded: never
    without asking). The sandboxes are stopped and kept for the next `isollm up`,
    unless --save (kept running) or --destroy. Safe to run again if interrupted.
    """
    if save and destroy:
        raise click.UsageError("--save keeps the sandboxes and --destroy deletes them: pick one")
    project = _project()
    result = ending.down(project, ending.DownOptions(yes, save, destroy), _Asked(), output.info)
    for work in result.unsaved:
        if work.salvaged:
            output.info(f"  fetch {work.name}'s work: {work.fetch}")
        else:
            output.warn(f"{work.name}: not saved to the hub ({work.work.describe()})")
    if result.released:
        output.info(f"back in the queue: {', '.join(result.released)}")
    for problem in result.problems:
        output.warn(problem)
    if result.gc is not None:
        for problem in result.gc.problems:
            output.warn(f"gc: {problem}")
    ended = "session ended" if result.had_session else "no session was recorded"
    output.info(f"{ended}: {len(result.workers)} worker(s) {result.sandboxes}")
