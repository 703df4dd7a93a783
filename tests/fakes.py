"""In-memory fakes of isollm's own interfaces, for fast unit tests of the runner.

- :class:`FakeTasks`: the task client (claim-next, heartbeat, done, release, block),
  with claims that can be lost on purpose;
- :class:`FakeHub`: branch heads and changed files;
- :class:`FakeWorkspace`: a worker's sandbox (:class:`isollm.runner.ports.Workspace`),
  whose agent runs play :class:`Play` scripts instead of processes;
- :class:`FakeAgent`: an agent adapter (:class:`isollm.agents.base.Agent`);
- :func:`make_context`: a :class:`~isollm.runner.context.RunContext` over them, with a
  real ledger in a temporary directory.

Only what the runner observes is faked: the ledger, the view, the policy, the gates
and the receipts are the real ones.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from isollm.agents.base import AgentOutcome, AgentSettings, Invocation
from isollm.config.model import AiryraConfig, Config
from isollm.git import intake
from isollm.runner.attempt import AgentRun, Heartbeat, Merge
from isollm.runner.context import RunContext, RunSettings
from isollm.runner.events import Progress
from isollm.runner.layout import RunPaths
from isollm.runner.ledger import LedgerWriter
from isollm.runner.policy import Outcome
from isollm.runner.watch import AgentWatch
from isollm.sandbox.gitops import AfterCheckout
from isollm.tasks.store.errors import StaleClaimError
from isollm.tasks.store.model import Claim, Dependency, Status, Task

BASE = "b" * 40
RUN_ID = "20260101-000000-abcd"


def sha(*parts: object) -> str:
    return hashlib.sha1(repr(parts).encode()).hexdigest()  # noqa: S324 - a name, not security


# --- the task client ---------------------------------------------------------------------
class FakeTasks:
    """The queue: tasks claimed in the order added, dependencies respected."""

    def __init__(self) -> None:
        self.tasks: dict[str, Task] = {}
        self.deps: list[Dependency] = []
        self.fences: dict[str, int] = {}
        self.history: list[tuple[str, str]] = []  # (action, task id)
        self.lose_on: dict[str, str] = {}  # task id -> the call that finds its claim lost
        self.lock = threading.Lock()
        self.claim_error: BaseException | None = None
        self.healthy = True  # what health() answers (False: the server is away)

    def add(self, task_id: str, title: str = "", *, after: Sequence[str] = ()) -> Task:
        now = datetime.now(UTC)
        task = Task(task_id, title or f"task {task_id}", Status.OPEN, 2, now, now)
        self.tasks[task_id] = task
        self.deps += [Dependency(task_id, parent) for parent in after]
        return task

    def status(self, task_id: str) -> Status:
        return self.tasks[task_id].status

    def _ready(self, task: Task) -> bool:
        parents = [d.parent_id for d in self.deps if d.child_id == task.id]
        return task.status is Status.OPEN and all(
            self.tasks[p].status is Status.DONE for p in parents
        )

    def health(self) -> bool:
        return self.healthy

    def claim_next(self, agent: str, lease: float) -> Claim | None:
        if self.claim_error is not None:
            raise self.claim_error
        with self.lock:
            task = next((t for t in self.tasks.values() if self._ready(t)), None)
            if task is None:
                return None
            task.status, task.claimed_by = Status.IN_PROGRESS, agent
            self.fences[task.id] = self.fences.get(task.id, 0) + 1
            self.history.append(("claim", task.id))
            return Claim(task, self.fences[task.id], datetime.now(UTC))

    def _check(self, call: str, task_id: str, agent: str, fence: int) -> None:
        task = self.tasks[task_id]
        if self.lose_on.get(task_id) == call:
            task.status, task.claimed_by = Status.OPEN, None
            self.fences[task_id] += 1
        if task.claimed_by != agent or self.fences[task_id] != fence:
            raise StaleClaimError.of(task_id, fence, task.status.value, task.claimed_by)

    def heartbeat(self, task_id: str, agent: str, fence: int, lease: float) -> None:
        with self.lock:
            self._check("heartbeat", task_id, agent, fence)

    def done(self, task_id: str, agent: str, fence: int | None = None) -> None:
        with self.lock:
            self._check("done", task_id, agent, fence or self.fences[task_id])
            self.tasks[task_id].status = Status.DONE
            self.history.append(("done", task_id))

    def release(self, task_id: str, agent: str, fence: int | None = None, **_: Any) -> None:
        with self.lock:
            self._check("release", task_id, agent, fence or self.fences[task_id])
            task = self.tasks[task_id]
            task.status, task.claimed_by = Status.OPEN, None
            self.history.append(("release", task_id))

    def block(self, task_id: str, reason: str, *, agent: str = "") -> None:
        with self.lock:
            task = self.tasks[task_id]
            task.status, task.description = Status.BLOCKED, reason
            self.history.append(("block", task_id))

    def dependencies(self, task_id: str) -> list[Dependency]:
        return [d for d in self.deps if d.child_id == task_id]

    def get_task(self, task_id: str) -> Task:
        return self.tasks[task_id]

    def all_tasks(self, status: Status | None = None) -> list[Task]:
        return [t for t in self.tasks.values() if status is None or t.status is status]

    def locks(self) -> list[Any]:
        return []  # file claims: tests/integration/test_coordination.py covers them

    def context_board(self) -> list[Any]:
        return []


# --- the hub -----------------------------------------------------------------------------
class FakeHub:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.heads: dict[str, str] = {}
        self.files: dict[str, tuple[str, ...]] = {}  # commit -> files it changed
        self.conflicts: dict[str, tuple[str, ...]] = {}  # branch -> files a merge conflicts in
        self.packs = 0

    def head_of(self, branch: str) -> str | None:
        return self.heads.get(branch)

    def git(self) -> FakeHub:
        return self

    def changed_files(self, start: str, head: str) -> list[str]:
        return list(self.files.get(head, ()))

    def task_branches(self, prefix: str) -> list[Any]:
        return []  # the conflict check finds no pushed branch to compare

    def pack_refs(self) -> None:
        self.packs += 1


# --- the agent ---------------------------------------------------------------------------
@dataclass
class FakeAgent:
    name: str = "fake"
    instruction_file: str = "AGENTS.md"
    workdir_ignores: tuple[str, ...] = ()
    install_hint: str = ""
    settings: AgentSettings = field(default_factory=AgentSettings)

    @property
    def binary(self) -> str:
        return ""

    def headless_argv(self, inv: Invocation) -> list[str]:
        return [self.name, inv.prompt]

    def interactive_argv(self, prompt: str = "", **_: Any) -> list[str]:
        return [self.name]

    def env(self, host_env: Mapping[str, str], inv: Invocation) -> dict[str, str]:
        return {}

    def prepare(self, home: Path, workdir: Path | None = None) -> list[Path]:
        return []

    def parse_result(self, exit_code: int, output: str) -> AgentOutcome:
        """Success by the exit code; 10 + 5 tokens a run; ``cost=0.0042`` in the output
        is the run's cost."""
        cost = re.search(r"cost=([0-9.]+)", output)
        return AgentOutcome(
            exit_code == 0,
            output.strip(),
            tokens_in=10,
            tokens_out=5,
            cost_usd=float(cost.group(1)) if cost else None,
        )


# --- the sandbox -------------------------------------------------------------------------
@dataclass
class Play:
    """What one run of an agent does in a :class:`FakeWorkspace`."""

    exit: int | None = 0
    output: str = ""
    files: tuple[str, ...] = ("a.txt",)  # what it changes (none: it leaves no work)
    stop: Outcome | None = None  # TIMED_OUT / LOST_CLAIM: how the worker stopped it
    until_aborted: bool = False  # runs until the run is aborted (second Ctrl-C)
    meanwhile: Callable[[], object] | None = None  # called while it runs (a Ctrl-C, say)
    refuse: str = ""  # the intake refuses the delivery that follows, with this reason
    silent: float = 0.0  # after its output, seconds (real ones) it stays silent, watched


def _watched(watch: AgentWatch, play: Play) -> bool:
    """What the real run_agent does with the watch: feed it the output, poll it while
    the agent is silent; True when it says to stop the agent."""
    watch.feed(play.output.encode())
    until = time.monotonic() + play.silent
    while not watch.poll():
        if time.monotonic() >= until:
            return False
        time.sleep(0.01)
    return True


class FakeWorkspace:
    """A worker's sandbox in memory. Agent runs take the next :class:`Play` of
    ``plays`` (shared by every workspace of a test, in the order runs start)."""

    def __init__(self, hub: FakeHub, plays: list[Play], name: str = "fake") -> None:
        self.name = name
        self.hub = hub
        self.plays = plays
        self.log: list[str] = []
        self.branch: str | None = None
        self.work: tuple[str, ...] = ()  # changed files not yet delivered
        self.commit_of: str = BASE
        self.refuse = ""
        self.finished = False
        self.lock = threading.Lock()
        self.salvaged = 0
        self.salvage_refs: list[str] = []

    # what the runner drives
    def ready(self) -> None:
        if self.work:
            self.salvaged += 1
            self.salvage_refs.append(f"refs/isollm/salvage/{self.name}/{self.salvaged}")
        self.work, self.commit_of, self.branch = (), BASE, None
        self.log.append("ready")

    def enter(self, branch: str, then: AfterCheckout | None = None) -> object:
        self.branch = branch
        self.commit_of = self.hub.heads.get(branch, BASE)
        self.log.append(f"enter {branch}")
        return self

    def delivered(self) -> None:
        self.work = ()

    def finish(self) -> None:
        self.finished = True

    def discard_changes(self) -> None:
        self.log.append("discard")

    def diff(self, base: str, head: str) -> str:
        return f"diff {base[:7]}..{head[:7]}"

    def read_file(self, rel: str) -> str | None:
        return None

    def run_script(self, script: AfterCheckout) -> None:
        self.log.append("script")

    def prepare_agent(self, agent: object, workdir: Path) -> None:
        pass

    @property
    def home_inside(self) -> Path:
        return Path("/home/agent")

    def agent_env(self, env: Mapping[str, str], host_socket: str) -> dict[str, str]:
        return dict(env)

    @property
    def workdir(self) -> Path:
        return Path("/work")

    @property
    def isolated(self) -> bool:
        return True

    def run_agent(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        log_path: Path,
        timeout: float,
        abort: threading.Event,
        heartbeat: Heartbeat,
        watch: AgentWatch | None = None,
    ) -> AgentRun:
        with self.lock:
            play = self.plays.pop(0) if self.plays else Play()
        self.log.append(f"agent {argv[0]}")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("a") as log:
            log.write(play.output)
        if play.meanwhile is not None:
            play.meanwhile()
        if watch is not None and _watched(watch, play):
            return AgentRun(None, Outcome.STALLED, play.output, 0.0, why=watch.why)
        if play.until_aborted:
            abort.wait(30)
            return AgentRun(None, Outcome.ABORTED, play.output, 0.0)
        self.work += play.files
        self.refuse = play.refuse
        if play.stop is not None:
            return AgentRun(None, play.stop, play.output, 0.0, why="lease expired")
        return AgentRun(play.exit, None, play.output, 0.0)

    def commit(self, message: str) -> str:
        if self.work:
            self.commit_of = sha(self.commit_of, self.work, message)
            self.hub.files[self.commit_of] = self.work
        return self.commit_of

    def deliver(
        self, grant: intake.Grant, *, haves: Sequence[str], message: str | None
    ) -> intake.Delivery:
        if message is not None:
            self.commit(message)
        if self.refuse:
            raise intake.IntakeRefusedError(self.refuse)
        if grant.still_held is not None:
            grant.still_held()
        branch = grant.ref.removeprefix("refs/heads/")
        old = self.hub.heads.get(branch)
        self.hub.heads[branch] = self.commit_of
        self.log.append(f"deliver {branch}")
        return intake.Delivery(grant.ref, old, self.commit_of)

    def head(self) -> str:
        return self.commit_of

    def merge(self, branch: str) -> Merge:
        conflicts = self.hub.conflicts.get(branch)
        if conflicts:
            return Merge(False, conflicts)
        self.commit_of = sha(self.commit_of, self.hub.heads[branch])
        return Merge(True)

    def take_salvaged(self) -> tuple[str, ...]:
        taken, self.salvage_refs = tuple(self.salvage_refs), []
        return taken


# --- a run over the fakes ----------------------------------------------------------------
@dataclass
class Rig:
    """Everything one test drives and looks at."""

    ctx: RunContext
    tasks: FakeTasks
    hub: FakeHub
    plays: list[Play]
    progress: list[Progress]
    workspaces: list[FakeWorkspace] = field(default_factory=list)

    def workspace(self, ctx: RunContext, name: str) -> FakeWorkspace:
        ws = FakeWorkspace(self.hub, self.plays, name)
        self.workspaces.append(ws)
        return ws

    def events(self) -> list[dict[str, Any]]:
        import orjson

        self.ctx.ledger.sync()
        lines = self.ctx.paths.ledger.read_bytes().splitlines()
        return [orjson.loads(line) for line in lines]

    def types(self, task_id: str) -> list[str]:
        return [e["type"] for e in self.events() if e.get("task") == task_id]


_runs = itertools.count()


def make_context(tmp: Path, *, plays: Sequence[Play] = (), **settings: Any) -> Rig:
    """A run context over the fakes; ``settings`` override :class:`RunSettings` fields."""
    root = tmp / f"project{next(_runs)}"
    paths = RunPaths.of(root, RUN_ID)
    paths.logs.mkdir(parents=True, exist_ok=True)
    paths.receipts.mkdir(parents=True, exist_ok=True)
    ledger, _ = LedgerWriter.open(paths.ledger, RUN_ID)
    tasks, hub = FakeTasks(), FakeHub(tmp / "hub.git")
    progress: list[Progress] = []
    defaults: dict[str, Any] = {
        "workers": 1,
        "agent_name": "fake",
        "backoff_seconds": 0.0,
        "stagger_seconds": 0.0,
        "poll_seconds": 0.05,
    }
    config = Config(project="fakes", airyra=AiryraConfig(external=True))
    ctx = RunContext(
        root,
        config,
        RUN_ID,
        paths,
        cast(Any, tasks),
        cast(Any, hub),
        FakeAgent(),
        None,
        ledger,
        RunSettings(**{**defaults, **settings}),
        BASE,
        {},
        progress.append,
    )
    return Rig(ctx, tasks, hub, list(plays), progress)
