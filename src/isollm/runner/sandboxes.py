"""The sandbox one worker of a run uses, task after task.

Created on the worker's first task and reset (a fresh copy-on-write workspace) for each
next one. Work an attempt left behind that never reached the hub (a failed attempt, a
run killed mid-task) is first saved to the hub under ``refs/isollm/salvage/…``: a reset
never silently destroys an agent's work.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from isollm import fsutil
from isollm.agents.base import Agent
from isollm.errors import IsollmError, SandboxError
from isollm.runner.context import RunContext
from isollm.runner.events import Kind, Progress
from isollm.sandbox import registry
from isollm.sandbox.base import Limits, Sandbox, SandboxSpec
from isollm.sandbox.bwrap import SANDBOX_HOME
from isollm.sandbox.overlay import OverlaySandbox
from isollm.sandbox.prepare import worktree_includes

log = logging.getLogger(__name__)

SALVAGE_PREFIX = "refs/isollm/salvage"

# Run in the workspace as `sh -c SALVAGE_SCRIPT sh MESSAGE REF`: commit what is left and
# push HEAD to REF on the hub. Values are positional parameters, never part of the script.
SALVAGE_SCRIPT = """set -e
git add -A
git diff --cached --quiet || git commit -q --no-verify -m "$1"
git push -q origin "HEAD:$2"
"""

DISCARD_SCRIPT = "git reset -q --hard HEAD && git clean -qfd"

COPY_IN_SCRIPT = 'mkdir -p "$(dirname "$1")" && rm -f -- "$1" && cat > "$1"'

# Run in the workspace as `sh -c CONTEXT_SCRIPT sh FILE [PATTERN...]`: replace FILE (a
# symlink the agent left is removed, not followed) with stdin, and keep FILE and the
# patterns out of commits (skip-worktree if tracked, else info/exclude). It runs inside
# the sandbox as the sandbox's user, so nothing the agent planted can redirect a write.
CONTEXT_SCRIPT = """set -e
f=$1
rm -f -- "$f"
cat > "$f"
ex=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$ex")"
for p in "$@"; do
  if git ls-files --error-unmatch -- "$p" >/dev/null 2>&1; then
    git update-index --skip-worktree -- "$p"
  elif ! grep -qxF -- "$p" "$ex" 2>/dev/null; then
    printf '%s\\n' "$p" >> "$ex"
  fi
done
"""


class WorkerSandbox:
    def __init__(self, ctx: RunContext, name: str) -> None:
        self.ctx = ctx
        self.name = name
        self._sb: Sandbox | None = None
        self._maybe_dirty = True  # until an attempt has delivered everything

    @property
    def current(self) -> Sandbox:
        if self._sb is None:
            raise SandboxError(f"sandbox {self.name} is not prepared")
        return self._sb

    def _spec(self, branch: str) -> SandboxSpec:
        c = self.ctx.config
        s = c.sandbox
        return SandboxSpec(
            name=self.name,
            project=c.project,
            hub=self.ctx.hub.path,
            base_branch=c.git.base_branch,
            work_branch=branch,
            network=s.network,
            limits=Limits(s.memory, s.pids, s.cpus),
            setup=tuple(s.setup),
            host_root=self.ctx.root,
            include=worktree_includes(self.ctx.root),
            image=c.image,
            expose=self.ctx.expose,
        )

    def prepare(self, branch: str) -> Sandbox:
        """A clean workspace on ``branch`` (continued from the hub if it is there)."""
        if self._sb is None:
            self._sb = self._open_existing()
        if self._sb is None:
            self._sb = registry.create(self._spec(branch), self.ctx.config.sandbox.backend)
        else:
            if self._maybe_dirty:
                self.salvage()
            self._sb.reset(work_branch=branch)
        self._maybe_dirty = True
        return self._sb

    def delivered(self) -> None:
        """The last attempt's work is all on the hub: the next reset loses nothing."""
        self._maybe_dirty = False

    def _open_existing(self) -> Sandbox | None:
        """The sandbox a killed run left (resume), if there is one."""
        try:
            sb = registry.open_sandbox(self.ctx.project, self.name)
        except IsollmError:
            return None
        with contextlib.suppress(IsollmError):
            sb.ensure_workspace()
            sb.start()
        return sb

    def salvage(self) -> str | None:
        """Save uncommitted or unpushed work of the workspace to the hub; the ref, or None."""
        sb = self.current
        state = sb.work_state()
        if state.clean:
            return None
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        ref = f"{SALVAGE_PREFIX}/{self.name}/{stamp}"
        result = sb.exec(
            ["sh", "-c", SALVAGE_SCRIPT, "sh", "isollm: salvage of unfinished work", ref],
            timeout=300,
        )
        if not result.ok:
            raise SandboxError(
                f"sandbox {self.name} holds work that could not be saved, so it was kept:\n"
                f"{result.describe()}",
                hint=f"inspect it with `isollm worker shell {self.name}`",
            )
        self.ctx.observer(
            Progress(Kind.RECOVERED, self.name, detail=f"unfinished work saved to {ref}")
        )
        return ref

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
        sb = self.current
        if isinstance(sb, OverlaySandbox):
            return Path(SANDBOX_HOME)
        if not sb.isolated:
            return fsutil.ensure_dir(sb.record.directory / "agent-home")
        return Path(sb.info().home)

    def read_file(self, rel: str) -> str | None:
        """A workspace file's text as the sandbox sees it, or None."""
        result = self.current.exec(["cat", "--", rel], timeout=60)
        return result.stdout if result.ok else None

    def install_context_file(self, rel: str, text: str, keep_out: tuple[str, ...]) -> None:
        """Write an instruction file into the workspace from inside the sandbox."""
        self.current.exec(
            ["sh", "-c", CONTEXT_SCRIPT, "sh", rel, *keep_out], input=text, timeout=60
        ).check(SandboxError)

    def diff(self, base: str, head: str) -> str:
        """``git diff base head`` run inside (no textconv or external diff of the agent's)."""
        result = self.current.exec(
            ["git", "diff", "--no-textconv", "--no-ext-diff", base, head], timeout=300
        )
        result.check(SandboxError)
        return result.stdout

    def prepare_agent(self, agent: Agent, workdir: Path) -> None:
        """Write the agent's settings files into the sandbox's HOME (no secrets in them).

        Isolated sandboxes get them through a command run inside: the agent can write its
        HOME, so a symlink it left there must not redirect a write made by the host.
        """
        sb = self.current
        if not sb.isolated:
            agent.prepare(self.home_inside, workdir)
            return
        with tempfile.TemporaryDirectory(prefix="isollm-agent-home-") as tmp:
            for path in agent.prepare(Path(tmp), workdir):
                target = self.home_inside / path.relative_to(tmp)
                sb.exec(
                    ["sh", "-c", COPY_IN_SCRIPT, "sh", str(target)],
                    input=path.read_bytes(),
                    timeout=60,
                ).check(SandboxError)

    def finish(self) -> None:
        """At the end of a run: remove the sandbox if nothing in it is unsaved."""
        if self._sb is None:
            return
        try:
            if self._maybe_dirty:
                self.salvage()
            self._sb.destroy()
        except IsollmError as exc:
            log.warning("kept sandbox %s: %s", self.name, exc)
            self.ctx.observer(Progress(Kind.WARNING, self.name, detail=f"kept: {exc}"))
        self._sb = None
