"""``isollm attach``: a worker's pane program, or this terminal joining the session.

``isollm attach W`` is what runs in worker W's pane: W's sandbox (started if it was
stopped), the agent's *interactive* CLI inside it with the worker's environment (API
keys from yours, in memory only; the task server with W's own ``worker`` token), and
when the agent exits, a shell in the same sandbox. Both run on a terminal of their own
that isollm relays (:mod:`isollm.sandbox.ptyrelay`), never on the pane's.

The agent gets the session's first prompt (``session.prompt``; in a file it is pointed
to when too long for a command line: :mod:`isollm.session.firstprompt`) unless the
session was started ``--idle``, and continues its last conversation in the worker when
there is one (a pane restarted after a crash, a reboot or an ``isollm down``).

``isollm attach`` alone joins the running session's multiplexer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from isollm.agents.resume import to_resume
from isollm.config import Config
from isollm.errors import IsollmError
from isollm.runner import byhand
from isollm.runner.sandboxes import agent_home
from isollm.sandbox import workers
from isollm.sandbox.base import HostCommand, Sandbox
from isollm.sandbox.overlay import OverlaySandbox
from isollm.sandbox.workers import Project
from isollm.session import alive, firstprompt, prepare
from isollm.session.mux import Multiplexer, choose
from isollm.state import NoSessionError
from isollm.tasks.server import delivery
from isollm.tasks.server.control import task_socket


@dataclass(frozen=True)
class PaneCommands:
    """What worker W's pane runs: the agent, then a shell, in W's sandbox."""

    worker: str
    agent_name: str
    agent: HostCommand
    shell: HostCommand


def pane_commands(
    project: Project,
    worker: str,
    agent_name: str | None,
    *,
    prompt: str,
    tty: bool,
    prepared: bool = False,
) -> PaneCommands:
    """The commands of ``worker``'s pane; ``prepared``: ``isollm up`` already wrote
    the worker's instruction file and agent settings (else they are written here)."""
    config = session_config(project)
    hand = byhand.hand_agent(config, agent_name or config.agent.name)
    sb = workers.open_worker(project, worker)
    if not prepared:
        prepare.prepare_worker(config, sb, hand.agent)
    home = agent_home(sb)
    more = hand.extra(sb, home=home, interactive=True)  # noqa: S610 - not Django
    env = {**more.env, **prepare.session_env(config, sb, more.env.get("PATH"))}
    sock = task_socket(config)
    shown = tuple(dict.fromkeys((*sb.spec.expose, *more.expose)))
    # for these commands only: the sandbox's record is not rewritten
    sb.record.spec = dataclasses.replace(
        sb.spec, expose=shown, task_socket=str(sock) if sock else ""
    )
    argv = hand.agent.interactive_argv(
        firstprompt.first_prompt(sb, home, prompt) if prompt else "",
        auto_approve=sb.isolated,
        resume=_resumable(sb, hand.agent.name, home),
    )
    # credentials of the agent's that its adapter left out (Claude Code's key travels
    # to its key helper under another name): not taken from your environment either
    withheld = set(getattr(hand.agent, "secret_keys", ())) - set(env)
    return PaneCommands(
        worker,
        hand.agent.name,
        _command(sb, argv, env, tty, withheld),
        _command(sb, ["bash", "-i"], env, tty, withheld),
    )


def session_config(project: Project) -> Config:
    """The config the session runs with: the base branch ``isollm up --base`` chose (the
    delivery record says which), else the project's."""
    config = project.config
    try:
        target = delivery.load(project.name)
    except IsollmError:
        return config
    if target is None or target.base_branch == config.git.base_branch:
        return config
    return dataclasses.replace(
        config, git=dataclasses.replace(config.git, base_branch=target.base_branch)
    )


def _command(
    sb: Sandbox, argv: list[str], env: dict[str, str], tty: bool, withheld: set[str]
) -> HostCommand:
    """``argv`` in ``sb``; a sandbox that does not isolate (``worktree``) runs it with
    your environment, less ``withheld``."""
    command = sb.limited(sb.command(argv, env=env, interactive=tty))
    if sb.isolated:
        return command
    kept = {k: v for k, v in command.env.items() if k not in withheld}
    return dataclasses.replace(command, env=kept)


def _resumable(sb: Sandbox, agent: str, home: Path) -> bool | str:
    """The conversation the agent left in this worker, to continue (see
    :func:`isollm.agents.resume.to_resume`; its home read from the host, where the host
    sees it; otherwise it starts afresh)."""
    if isinstance(sb, OverlaySandbox):
        host_home: Path | None = sb.home
    elif not sb.isolated:
        host_home = home
    else:
        host_home = None
    if host_home is None:
        return False
    return to_resume(agent, host_home, Path(sb.workspace))


def run_pane(
    commands: PaneCommands, run: Callable[[HostCommand], int], say: Callable[[str], None]
) -> int:
    """Run the agent, then (if this terminal is still there) a shell; the shell's code."""
    code = run(commands.agent)
    try:
        say(
            f"{commands.agent_name} exited (code {code}); this is a shell in worker "
            f"{commands.worker}: `exit` closes the pane"
        )
    except OSError:
        return code  # the terminal is gone (the multiplexer was stopped)
    return run(commands.shell)


def live_pane_argv(project: Project, worker: str) -> list[str] | None:
    """The argv that attaches this terminal to the session showing ``worker``'s pane,
    when the session's multiplexer has one running; None when it has none (then the
    worker's agent is run here: with ``--mux none``, or its pane is gone or dead)."""
    try:
        session = project.state.load_session()
        mux: Multiplexer = choose(session.multiplexer or "none", project.name)
    except IsollmError:  # no session, or its multiplexer is not installed: no panes
        return None
    live = any(p.title == worker and not p.dead for p in mux.panes())
    return mux.attach_argv(focus=worker) if live else None


def join_argv(project: Project) -> list[str]:
    """The argv that attaches this terminal to the running session, or an error saying
    there is none and how to start one."""
    none_running = IsollmError(
        f"no isollm session is running in project {project.name!r}",
        hint="start one with `isollm up`",
    )
    try:
        session = project.state.load_session()
    except NoSessionError:
        raise none_running from None
    mux: Multiplexer = choose(session.multiplexer or "none", project.name)
    argv = mux.attach_argv()
    if argv is None:
        if not alive.is_live(project, session):  # its workers' sandboxes are all stopped
            raise none_running
        raise IsollmError(
            "this session has no panes (it was started with --mux none)",
            hint="open a worker's agent with `isollm attach WORKER`",
        )
    if not mux.is_running():
        raise IsollmError(
            f"the session's {mux.name} server is gone (killed, or the machine restarted)",
            hint="`isollm up` re-adopts the workers and restarts the panes",
        )
    return argv
