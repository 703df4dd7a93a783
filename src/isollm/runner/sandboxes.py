"""The sandbox one worker of a run uses, task after task.

Created on the worker's first task and reset (a fresh copy-on-write workspace) for each
next one. Work an attempt left behind that never reached the hub (a failed attempt, a
run killed mid-task) is first saved to the hub under ``refs/isollm/salvage/<sandbox>/…``
(the worker's own namespace, written only through the host's intake): a reset never
silently destroys an agent's work.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from isollm import fsutil
from isollm.agents.base import Agent
from isollm.errors import IsollmError, SandboxError
from isollm.git import intake
from isollm.runner import agentfiles, agenthome, attempt
from isollm.runner.attempt import COMMIT_SCRIPT
from isollm.runner.context import RunContext
from isollm.runner.events import Kind, Progress
from isollm.runner.watch import AgentWatch
from isollm.sandbox import meta, registry, renew, specs
from isollm.sandbox.base import Sandbox, SandboxSpec
from isollm.sandbox.bwrap import SANDBOX_HOME
from isollm.sandbox.containers import ContainerSandbox, socket_seen_by
from isollm.sandbox.gitops import AfterCheckout
from isollm.sandbox.overlay import OverlaySandbox
from isollm.state import FileState

log = logging.getLogger(__name__)

SALVAGE_PREFIX = intake.SALVAGE_NS.rstrip("/")
SALVAGE_MESSAGE = "isollm: salvage of unfinished work"

DISCARD_SCRIPT = "git reset -q --hard HEAD && git clean -qfd"

COPY_IN_SCRIPT = 'mkdir -p "$(dirname "$1")" && rm -f -- "$1" && cat > "$1"'

# Run in the workspace as `sh -c CONTEXT_SCRIPT sh FILE [PATTERN...]`: replace FILE (a
# symlink the agent left is removed, not followed) with stdin, and keep FILE and the
# patterns out of commits (skip-worktree if tracked, else info/exclude). It runs inside
# the sandbox as the sandbox's user, so nothing the agent planted can redirect a write.
# Shell builtins where they do (this runs before every agent start): cat and one git
# (two in a worktree, whose git directory is elsewhere).
CONTEXT_SCRIPT = """set -e
f=$1
if [ -L "$f" ]; then rm -f -- "$f"; fi
cat > "$f"
if [ -d .git ]; then ex=.git/info/exclude; else ex=$(git rev-parse --git-path info/exclude); fi
[ -d "${ex%/*}" ] || mkdir -p "${ex%/*}"
nl='
'
tracked=$nl$(git ls-files -- "$@")$nl
have=$nl
if [ -f "$ex" ]; then
  while IFS= read -r line || [ -n "$line" ]; do have=$have$line$nl; done < "$ex"
fi
for p in "$@"; do
  case $tracked in
    *"$nl$p$nl"*) git update-index --skip-worktree -- "$p" ;;
    *) case $have in *"$nl$p$nl"*) ;; *) printf '%s\\n' "$p" >> "$ex"; have=$have$p$nl ;; esac ;;
  esac
done
"""


def context_file(rel: str, text: str, keep_out: tuple[str, ...]) -> AfterCheckout:
    """CONTEXT_SCRIPT writing ``text`` to ``rel``, as a command of its own or run right
    after a checkout."""
    return AfterCheckout(CONTEXT_SCRIPT, (rel, *keep_out), text)


def agent_home(sb: Sandbox) -> Path:
    """The HOME an agent runs with in ``sb``, as the agent sees it: the sandbox's own, or
    (a sandbox that does not isolate, whose home would be yours) a private one beside
    its record."""
    if isinstance(sb, OverlaySandbox):
        return Path(SANDBOX_HOME)
    if not sb.isolated:
        return fsutil.ensure_dir(sb.record.directory / "agent-home")
    home = sb.info().home
    if not home:
        raise SandboxError(f"sandbox {sb.name!r} has no home directory for its agent")
    return Path(home)


def write_agent_settings(sb: Sandbox, agent: Agent, home: Path, workdir: Path) -> None:
    """Write ``agent``'s settings files (:meth:`Agent.prepare`: no secrets in them) into
    ``home``, its HOME in ``sb``; ``workdir`` is marked trusted where the CLI asks.

    Isolated sandboxes get them through a command run inside: the agent can write its
    HOME, so a symlink it left there must not redirect a write made by the host.
    """
    if not sb.isolated:
        agent.prepare(home, workdir)
        return
    with tempfile.TemporaryDirectory(prefix="isollm-agent-home-") as tmp:
        for path in agent.prepare(Path(tmp), workdir):
            target = home / path.relative_to(tmp)
            sb.exec(
                ["sh", "-c", COPY_IN_SCRIPT, "sh", str(target)],
                input=path.read_bytes(),
                timeout=60,
            ).check(SandboxError)


def adopted(root: Path, names: Sequence[str]) -> set[str]:
    """Which of ``names`` have a worker record: sandboxes ``isollm worker adopt`` took
    from a run that had ended (never from a live one)."""
    state = FileState.for_project(root)
    return {name for name in names if state.worker_path(name).exists()}


# A sandbox that cannot be reused (a crash cut its reset short, its work cannot be saved)
# is kept for inspection and the worker goes on in a new one: `<name>-2`, `<name>-3`, …
MAX_GENERATIONS = 20


class WorkerSandbox:
    def __init__(self, ctx: RunContext, name: str) -> None:
        self.ctx = ctx
        self.base_name = name
        self.name = name
        self._sb: Sandbox | None = None
        self._maybe_dirty = True  # until an attempt has delivered everything
        self._fresh = False  # refreshed since the last attempt entered it
        self._salvaged: list[str] = []  # salvage refs not yet reported by an attempt
        self._announced: set[str] = set()  # adopted sandboxes the run was told of

    @property
    def current(self) -> Sandbox:
        if self._sb is None:
            raise SandboxError(f"sandbox {self.name} is not prepared")
        return self._sb

    def _spec(self, branch: str) -> SandboxSpec:
        ctx = self.ctx
        return specs.sandbox_spec(
            ctx.config,
            root=ctx.root,
            hub=ctx.hub.path,
            name=self.name,
            work_branch=branch,
            base_commit=ctx.base_commit,
            task_socket=ctx.task_socket(),
            expose=ctx.expose,
        )

    def ready(self) -> None:
        """A clean workspace at the base for the next task, made before it is claimed, so
        the claim's lease does not pay for it (:meth:`enter` then puts it on the task's
        branch)."""
        if self._fresh:
            return
        if self._sb is None:
            self._sb = self._open_existing()
        if self._sb is not None:
            self._refresh()
        if self._sb is None:
            self.name = self._free_name()
            spec = self._spec("")
            self._sb = registry.create(spec, self.ctx.config.sandbox.backend, entered=False)
        self._fresh = True
        self._maybe_dirty = False

    def enter(self, branch: str, then: AfterCheckout | None = None) -> Sandbox:
        """The fresh workspace on ``branch`` (continued from the hub if it is there), and
        ``then`` run right after the checkout in the same sandbox command."""
        self.ready()
        self._fresh = False
        self._maybe_dirty = True
        sb = self.current
        renew.onto(sb, branch, then)
        return sb

    def _refresh(self) -> None:
        """Refresh the sandbox for the next task, or set it aside if it cannot be."""
        sb = self.current
        try:
            if self._maybe_dirty:
                self.salvage()
        except IsollmError as exc:
            self._set_aside(str(exc))  # its work could not be saved: keep it
            return
        try:
            renew.clean(sb)  # the renewal `isollm worker reset` shares
        except IsollmError as exc:
            self._set_aside(str(exc))
            with contextlib.suppress(IsollmError):
                sb.destroy()  # nothing unsaved in it

    def _set_aside(self, why: str) -> None:
        detail = f"kept sandbox {self.name} and went on in a new one: {why}"
        log.warning("%s", detail)
        self.ctx.observer(Progress(Kind.WARNING, self.name, detail=detail))
        self._sb = None

    def delivered(self) -> None:
        """The last attempt's work is all on the hub: the next reset loses nothing."""
        self._maybe_dirty = False

    def _names(self) -> list[str]:
        """This worker's sandbox names, but those adopted as workers since (``isollm
        worker adopt --force`` of a failed run's sandbox): not the run's any more."""
        later = [f"{self.base_name}-{n}" for n in range(2, MAX_GENERATIONS + 1)]
        names = [self.base_name, *later]
        taken = adopted(self.ctx.root, names)
        for name in sorted(taken - self._announced):
            self._announced.add(name)
            detail = (
                f"sandbox {name} was adopted as a worker (`isollm worker adopt`): "
                "this run leaves it alone and goes on in a new sandbox"
            )
            self.ctx.observer(Progress(Kind.WARNING, self.base_name, detail=detail))
        return [name for name in names if name not in taken]

    def _free_name(self) -> str:
        """The first of this worker's names no sandbox (or leftover of one) holds."""
        for name in self._names():
            if not meta.sandbox_dir(self.ctx.project, name).exists():
                return name
        raise SandboxError(
            f"worker {self.base_name} has set aside {MAX_GENERATIONS} broken sandboxes",
            hint="inspect them with `isollm worker list`, remove them with `isollm worker remove`",
        )

    def _open_existing(self) -> Sandbox | None:
        """The latest sandbox a killed run left this worker (resume), if there is one."""
        for name in reversed(self._names()):
            try:
                sb = registry.open_sandbox(self.ctx.project, name)
            except IsollmError:
                continue
            with contextlib.suppress(IsollmError):
                sb.ensure_workspace()
                sb.start()
            self.name = name
            return sb
        return None

    def salvage(self) -> str | None:
        """Save uncommitted or unpushed work of the workspace to the hub; the ref, or None."""
        sb = self.current
        state = sb.work_state()
        if state.clean:
            return None
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        grant = intake.salvage_grant(self.name, self.ctx.config.git.base_branch, stamp)
        try:
            delivery = intake.deliver(
                self.ctx.hub,
                sb,
                grant,
                haves=(self.ctx.base_commit,),
                before=(COMMIT_SCRIPT, (SALVAGE_MESSAGE,)),
            )
        except IsollmError as exc:
            raise SandboxError(
                f"sandbox {self.name} holds {state.describe()}, which could not be saved:\n{exc}",
                hint=f"inspect it with `isollm worker shell {self.name}`",
            ) from exc
        ref = delivery.ref
        self.ctx.observer(
            Progress(Kind.RECOVERED, self.name, detail=f"unfinished work saved to {ref}")
        )
        self._salvaged.append(ref)
        return ref

    def take_salvaged(self) -> tuple[str, ...]:
        """The salvage refs made since the last call (an attempt reports them)."""
        taken, self._salvaged = tuple(self._salvaged), []
        return taken

    # --- the attempt's operations in the workspace (see isollm.runner.ports.Workspace) ---
    @property
    def workdir(self) -> Path:
        return Path(self.current.workspace)

    @property
    def isolated(self) -> bool:
        return self.current.isolated

    def run_agent(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        log_path: Path,
        timeout: float,
        abort: threading.Event,
        heartbeat: attempt.Heartbeat,
        watch: AgentWatch | None = None,
    ) -> attempt.AgentRun:
        return attempt.run_agent(
            self.current,
            argv,
            env=env,
            log_path=log_path,
            timeout=timeout,
            abort=abort,
            heartbeat=heartbeat,
            watch=watch,
        )

    def commit(self, message: str) -> str:
        return attempt.commit_leftovers(self.current, message)

    def deliver(
        self, grant: intake.Grant, *, haves: Sequence[str], message: str | None
    ) -> intake.Delivery:
        return attempt.deliver(self.current, self.ctx.hub, grant, haves=haves, message=message)

    def head(self) -> str:
        return attempt.head_commit(self.current)

    def merge(self, branch: str) -> attempt.Merge:
        return attempt.merge_dependency(self.current, branch)

    def discard_changes(self) -> None:
        """Throw away uncommitted changes (a reviewer's edits)."""
        self.current.exec(["sh", "-c", DISCARD_SCRIPT], timeout=300)

    @property
    def host_workspace(self) -> Path:
        path = self.current.host_workspace
        if path is None:
            raise SandboxError(f"sandbox {self.name} has no workspace visible from the host")
        return path

    @property
    def home_inside(self) -> Path:
        return agent_home(self.current)

    def read_file(self, rel: str) -> str | None:
        """A workspace file's text, or None if missing or not a small regular file
        (bounded, no symlink followed: :func:`isollm.runner.agentfiles.read_text`)."""
        return agentfiles.read_text(self.current, rel)

    def run_script(self, script: AfterCheckout) -> None:
        """Run a script made for :meth:`enter` (an instruction file from
        :func:`context_file`) as a sandbox command of its own."""
        self.current.exec(script.argv(), input=script.input, timeout=60).check(SandboxError)

    def diff(self, base: str, head: str) -> str:
        """``git diff base head`` run inside (no textconv or external diff of the agent's)."""
        result = self.current.exec(
            ["git", "diff", "--no-textconv", "--no-ext-diff", base, head], timeout=300
        )
        result.check(SandboxError)
        return result.stdout

    def prepare_agent(self, agent: Agent, workdir: Path) -> None:
        """Write the agent's settings files into the sandbox's HOME (no secrets in them);
        a container, which does not show the host's install, gets the ``airyra`` program."""
        write_agent_settings(self.current, agent, self.home_inside, workdir)
        if isinstance(self.current, ContainerSandbox):
            program = agenthome.airyra_program().encode()
            agenthome.write_home_files(self.current, self.home_inside, {agenthome.AIRYRA: program})

    def agent_env(self, env: Mapping[str, str], host_socket: str) -> dict[str, str]:
        """The agent's environment as this sandbox needs it: the task server's socket
        (``host_socket`` on the host) where the sandbox sees it, and in a container the
        ``airyra`` program :meth:`prepare_agent` installed first on PATH."""
        env = dict(env)
        if "AIRYRA_SOCKET" in env:
            env["AIRYRA_SOCKET"] = socket_seen_by(self.current, host_socket)
        if isinstance(self.current, ContainerSandbox) and "PATH" in env:
            env["PATH"] = agenthome.bin_path(self.home_inside, env["PATH"])
        return env

    def finish(self) -> None:
        """At the end of a run: remove the sandbox if nothing in it is unsaved, and the
        ones set aside earlier if they turn out to hold nothing."""
        if self._sb is not None:
            try:
                if self._maybe_dirty:
                    self.salvage()
                self._sb.destroy()
            except IsollmError as exc:
                _warn_kept(self.ctx, self.name, str(exc))
            self._sb = None
        for name in self._names():
            if name != self.name and meta.sandbox_dir(self.ctx.project, name).exists():
                self._remove_if_empty(name)

    def _remove_if_empty(self, name: str) -> None:
        try:
            sb = registry.open_sandbox(self.ctx.project, name)
        except IsollmError as exc:
            _warn_kept(self.ctx, name, str(exc))
            return
        state = sb.work_state()
        if not state.clean:
            _warn_kept(self.ctx, name, f"it holds {state.describe()}")
            return
        with contextlib.suppress(IsollmError):
            sb.destroy()


def _warn_kept(ctx: RunContext, name: str, why: str) -> None:
    """Say that sandbox ``name`` was kept at the end of a run, and why."""
    log.warning("kept sandbox %s: %s", name, why)
    ctx.observer(Progress(Kind.WARNING, name, detail=f"kept: {why}"))
