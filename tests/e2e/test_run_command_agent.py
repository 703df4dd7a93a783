"""``isollm run`` end to end with the ``command`` agent: the installed command in
subprocesses, a real git repository and hub, a real task server, real sandboxes.

Agents are small ``sh`` scripts (the sandbox hides /tmp and the homes, so a script
cannot live there): each writes ``task-<id>.txt`` holding its task's title, so every
task leaves exactly one file and one commit on its branch.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import threading
import time
from datetime import datetime
from typing import IO

import pytest

from isollm.runner import runstate
from tests.conftest import git
from tests.e2e.cli import ISOLLM, on_a_terminal
from tests.e2e.run_support import (
    WRITE_TASK_FILE,
    RunProject,
    agents_running,
    events_of,
    task_file,
    wait_for,
)

pytestmark = pytest.mark.timeout(240)


def assert_delivered(p: RunProject, task_id: str, title: str) -> None:
    """The task is done and its branch on the hub holds one commit with its file."""
    story = [e for e in p.ledger() if e.get("task") == task_id]
    assert p.task(task_id).status == "done", story
    assert p.hub_show(task_id, task_file(task_id)) == title
    assert p.hub_log(task_id) == [title]


# --- success ---------------------------------------------------------------------------


# One worktree worker: two creating worktree sandboxes at once can collide on the
# shared clone (its config lock, the worktree admin directory); reported as a sandbox bug.
@pytest.mark.parametrize(("backend", "workers"), [("overlay", 2), ("worktree", 1)])
def test_run_delivers_a_commit_per_task(project: RunProject, backend: str, workers: int) -> None:
    project.configure(workers=workers, backend=backend)
    project.use_agent(WRITE_TASK_FILE + "; echo wrote the file")
    titles = ["Add the parser", "Add the lexer", "Write the docs", "Fix the build"]
    ids = [project.add(t, description=f"details of {t}") for t in titles]

    result = project.isollm("run", "--plain")

    for task_id, title in zip(ids, titles, strict=True):
        assert_delivered(project, task_id, title)
        assert f"{task_id} done" in result.stdout
    assert "run finished - completed" in result.stdout
    assert "4 tasks: 4 done, 0 failed, 0 blocked" in result.stdout
    receipts = project.receipts()
    assert sorted(r["task_id"] for r in receipts) == sorted(ids), result.stdout
    for r in receipts:
        head = project.hub_log(r["task_id"])
        assert r["outcome"] == "done", r
        assert r["files_changed"] == [task_file(r["task_id"])]
        assert r["branch"] == project.branch(r["task_id"])
        assert r["head_commit"] == project.git_hub("rev-parse", r["branch"]), head
        assert "wrote the file" in project.log_text(r["task_id"])
    tree = project.git_hub("ls-tree", "-r", "--name-only", project.branch(ids[0])).split()
    assert "AGENTS.md" not in tree  # the instruction file reached the agent, not the commit
    shown = project.json("run", "show")
    assert shown["status"] == "completed"
    assert {t["task_id"]: t["status"] for t in shown["tasks"]} == dict.fromkeys(ids, "done")
    assert project.isollm("run", "list").stdout.count("completed") == 1


def test_starts_are_staggered_and_heartbeats_keep_long_claims(project: RunProject) -> None:
    """Agents start at least ``stagger_seconds`` apart, and an agent that runs past its
    lease keeps its claim (heartbeats renew it): it is done, not taken back."""
    project.use_agent(f"sleep 7; {WRITE_TASK_FILE}", stagger_seconds=0.6)
    project.configure(workers=3, airyra={"lease_seconds": 5})
    ids = [project.add(f"long task {n}") for n in range(3)]

    project.isollm("run", "--plain")

    for task_id in ids:
        assert_delivered(project, task_id, project.task(task_id).title)
        assert not project.actions(task_id, "release")
    starts = sorted(events_of(project.ledger(), "agent.started"), key=lambda e: e["seq"])
    gaps = [seconds_between(a, b) for a, b in itertools.pairwise(starts)]
    assert all(gap >= 0.55 for gap in gaps), gaps


def test_live_progress_on_a_terminal(project: RunProject) -> None:
    """On a terminal the progress is a live table (rich), then the summary."""
    project.use_agent(WRITE_TASK_FILE)
    ids = [project.add(f"task {n}") for n in range(2)]
    code, screen = on_a_terminal(project.root, [ISOLLM, "run"])
    assert code == 0, screen
    for task_id in ids:
        assert project.task(task_id).status == "done"
    assert "worker" in screen
    assert "done 2" in screen
    assert "2 tasks: 2 done" in screen


def test_the_instruction_file_keeps_the_projects_own_text_out_of_the_commit(
    project: RunProject,
) -> None:
    """A tracked AGENTS.md: the agent reads isollm's section above the project's text;
    the branch keeps the project's file as it was."""
    (project.root / "AGENTS.md").write_text("Project rules: be nice.\n")
    git(project.root, "add", "AGENTS.md")
    git(project.root, "commit", "-q", "-m", "project instructions")
    project.use_agent(
        "grep -q 'isollm:begin' AGENTS.md && grep -q 'be nice' AGENTS.md && "
        f'grep -q "$ISOLLM_TASK_ID" AGENTS.md && {WRITE_TASK_FILE}'
    )
    task_id = project.add("read the instructions")

    project.isollm("run", "--plain")

    assert_delivered(project, task_id, "read the instructions")
    assert project.hub_show(task_id, "AGENTS.md") == "Project rules: be nice."


# --- failures ------------------------------------------------------------------------

RETRYING_AGENT = f"""
case "$ISOLLM_TASK_TITLE" in
  broken*) echo "cannot build $ISOLLM_TASK_ID: no compiler" >&2; exit 3 ;;
esac
case "$1" in
  *"Earlier attempts at this task failed"*) printf '%s\\n' "$1" ;;
  *) echo "first try fails" >&2; exit 4 ;;
esac
{WRITE_TASK_FILE}
"""


def test_failures_are_retried_with_backoff_then_blocked_with_the_reason(
    project: RunProject,
) -> None:
    project.use_agent(RETRYING_AGENT, max_attempts=3, backoff_seconds=0.4)
    flaky = project.add("flaky task")
    broken = project.add("broken task")

    result = project.isollm("run", "--plain", "-n", "2", code=1)

    assert "1 task(s) blocked after failing every attempt" in result.stderr
    assert_delivered(project, flaky, "flaky task")
    second_prompt = project.log_text(flaky, 2)
    assert "attempt 1: the agent failed (exit 4): first try fails" in second_prompt
    assert project.task(broken).status == "blocked"
    [why] = [h.new_value for h in project.actions(broken, "block") if h.field == "reason"]
    last = f"the agent failed (exit 3): cannot build {broken}: no compiler"
    assert why == f"failed 3 attempt(s); last: {last}"
    assert f"{broken} blocked" in result.stdout
    assert broken not in project.hub_branches()

    outcomes = {(r["task_id"], r["attempt"]): r for r in project.receipts()}
    assert sorted(outcomes) == sorted([(flaky, 1), (flaky, 2), *((broken, n) for n in (1, 2, 3))])
    assert (outcomes[flaky, 1]["outcome"], outcomes[flaky, 1]["exit_code"]) == ("failed", 4)
    assert outcomes[flaky, 2]["outcome"] == "done"
    assert {outcomes[broken, n]["exit_code"] for n in (1, 2, 3)} == {3}
    ledger = project.ledger()
    claims = events_of(ledger, "task.claimed", broken)
    fails = events_of(ledger, "task.failed", broken)
    gaps = [seconds_between(f, c) for f, c in zip(fails, claims[1:], strict=False)]
    assert gaps[0] >= 0.4, gaps
    assert gaps[1] >= 0.8, gaps  # the wait doubles
    assert events_of(ledger, "task.blocked", broken)
    shown = {t["task_id"]: t for t in project.json("run", "show")["tasks"]}
    assert (shown[broken]["status"], shown[broken]["attempts"]) == ("blocked", 3)


def seconds_between(earlier: dict, later: dict) -> float:
    """Seconds from one ledger event to another, by their timestamps."""
    stamps = [datetime.fromisoformat(e["ts"]) for e in (earlier, later)]
    return (stamps[1] - stamps[0]).total_seconds()


def test_an_agent_past_its_timeout_is_stopped_and_its_work_salvaged(
    project: RunProject,
) -> None:
    project.use_agent("echo half > half-done.txt; echo working; exec sleep 300", timeout=1)
    project.configure(runner={"max_attempts": 1})
    slow = project.add("slow task")

    started = time.monotonic()
    project.isollm("run", "--plain", code=1)

    assert time.monotonic() - started < 30
    assert project.task(slow).status == "blocked"
    [receipt] = project.receipts()
    assert receipt["exit_code"] is None
    assert receipt["reason"] == "the agent ran past its timeout and was stopped"
    assert "working" in project.log_text(slow)
    assert not agents_running([slow])
    # Nothing reached the task's branch, but the half-done work is kept on the hub.
    assert project.branch(slow) not in project.hub_branches()
    salvaged = project.git_hub("for-each-ref", "--format=%(refname)", "refs/isollm/salvage")
    assert salvaged, "the stopped agent's work was not saved"
    ref = salvaged.splitlines()[0]
    assert project.git_hub("show", f"{ref}:half-done.txt") == "half"


# --- dependencies --------------------------------------------------------------------

DEPENDENT_AGENT = f"""
printf '%s\\n' "$1"
ls task-*.txt 2>/dev/null > "seen-$ISOLLM_TASK_ID.txt" || true
{WRITE_TASK_FILE}
"""


def test_a_dependent_task_runs_after_its_dependency_with_its_work_merged(
    project: RunProject,
) -> None:
    project.use_agent(DEPENDENT_AGENT)
    schema = project.add("Create the schema")
    api = project.add("Build the API", after=[schema])
    other = project.add("Unrelated chore")

    project.isollm("run", "--plain", "-n", "3")

    for task_id in (schema, api, other):
        assert project.task(task_id).status == "done"
    assert project.hub_show(api, f"seen-{api}.txt") == task_file(schema)
    assert project.hub_show(api, task_file(schema)) == "Create the schema"
    assert project.hub_show(other, f"seen-{other}.txt") == ""
    prompt = project.log_text(api)
    assert f"{schema} \u201cCreate the schema\u201d on branch `{project.branch(schema)}`" in prompt
    assert "(merged into this workspace)" in prompt
    assert f"- {task_file(schema)}" in prompt
    # On the server (the order that counts): the schema was done before the API was claimed.
    [schema_done] = project.actions(schema, "done")
    [api_claimed] = project.actions(api, "claim")
    assert schema_done.id < api_claimed.id
    assert schema_done.changed_at <= api_claimed.changed_at


# --- watching, interrupting ----------------------------------------------------------


def ledger_count(p: RunProject, kind: str) -> int:
    runs = p.runs()
    if not runs or not (runs[-1] / "events.ndjson").exists():
        return 0
    return len(events_of(p.ledger(), kind))


def test_watch_picks_up_a_task_added_later(project: RunProject) -> None:
    project.use_agent(WRITE_TASK_FILE)
    first = project.add("first task")
    runner = project.start("run", "--watch", "--plain", "-n", "1")
    wait_for(lambda: project.task(first).status == "done", 60, "the first task")
    time.sleep(1.5)  # idle: a run without --watch would have ended here
    assert runner.poll() is None
    later = project.add("added later")
    wait_for(lambda: project.task(later).status == "done", 60, "the task added later")

    runner.send_signal(signal.SIGINT)
    out, err = runner.communicate(timeout=60)
    assert runner.returncode == 130, out + err
    assert_delivered(project, later, "added later")
    assert events_of(project.ledger(), "run.finished")[0]["status"] == "aborted"


SLOW_AGENT = f"echo started; sleep 2; {WRITE_TASK_FILE}"


def test_first_ctrl_c_finishes_running_tasks_and_claims_no_more(project: RunProject) -> None:
    project.use_agent(SLOW_AGENT)
    ids = [project.add(f"task {n}") for n in range(3)]
    runner = project.start("run", "--plain", "-n", "2")
    wait_for(lambda: ledger_count(project, "agent.started") == 2, 60, "two agents")

    os_killpg(runner, signal.SIGINT)  # Ctrl-C on a terminal: the whole foreground group
    out, err = runner.communicate(timeout=60)

    assert runner.returncode == 130, out + err
    assert "stopping - finishing running tasks" in out
    ledger = project.ledger()
    claimed = {e["task"] for e in events_of(ledger, "task.claimed")}
    assert len(claimed) == 2
    for task_id in claimed:
        assert_delivered(project, task_id, project.task(task_id).title)
    [waiting] = set(ids) - claimed
    assert project.task(waiting).status == "open"
    assert project.json("run", "show")["status"] == "aborted"


def test_first_ctrl_c_gives_back_a_task_waiting_to_retry(project: RunProject) -> None:
    project.use_agent("echo broken >&2; exit 1", max_attempts=3, backoff_seconds=30)
    task_id = project.add("failing task")
    runner = project.start("run", "--plain")
    wait_for(lambda: ledger_count(project, "task.failed") == 1, 60, "the first failure")

    os_killpg(runner, signal.SIGINT)
    out, err = runner.communicate(timeout=20)  # not after the 30 s backoff

    assert runner.returncode == 130, out + err
    assert project.task(task_id).status == "open"
    ledger = project.ledger()
    assert len(events_of(ledger, "task.claimed", task_id)) == 1
    [released] = events_of(ledger, "task.released", task_id)
    assert released["reason"] == "the run was stopped before the next attempt"


def test_second_ctrl_c_stops_the_agents_and_releases_their_claims(project: RunProject) -> None:
    project.use_agent(f"echo started; sleep 120; {WRITE_TASK_FILE}")
    ids = [project.add(f"long task {n}") for n in range(2)]
    runner = project.start("run", "--plain", "-n", "2")
    wait_for(lambda: ledger_count(project, "agent.started") == 2, 60, "two agents")

    os_killpg(runner, signal.SIGINT)
    time.sleep(0.5)
    os_killpg(runner, signal.SIGINT)
    started = time.monotonic()
    out, err = runner.communicate(timeout=60)

    assert runner.returncode == 130, out + err
    assert time.monotonic() - started < 20
    wait_for(lambda: not agents_running(ids), 10, "the agents to be gone")
    for task_id in ids:
        task = project.task(task_id)
        assert (task.status, task.claimed_by) == ("open", None)
        assert project.actions(task_id, "release")
    released = events_of(project.ledger(), "task.released")
    assert sorted(e["task"] for e in released) == sorted(ids)
    assert not [b for b in project.hub_branches() if b != "main"]


def os_killpg(child: subprocess.Popen[str], sig: int) -> None:
    os.killpg(child.pid, sig)


# --- review --------------------------------------------------------------------------

REVIEWING_AGENT = """
case "$1" in
  "Review the change"*)
    case "$1" in
      *"+round 2"*) echo "looks right"; echo "VERDICT: APPROVE" ;;
      *) echo "VERDICT: CHANGES write round 2 instead" ;;
    esac ;;
  *"A reviewer asked for changes"*"write round 2 instead"*)
    echo "round 2" > "task-$ISOLLM_TASK_ID.txt" ;;
  *) echo "round 1" > "task-$ISOLLM_TASK_ID.txt" ;;
esac
"""


def test_a_reviewer_asks_for_changes_once_then_approves(project: RunProject) -> None:
    project.use_agent(REVIEWING_AGENT, review=True, max_review_rounds=3)
    task_id = project.add("reviewed task")

    project.isollm("run", "--plain")

    assert project.task(task_id).status == "done"
    assert project.hub_show(task_id, task_file(task_id)) == "round 2"
    assert project.hub_log(task_id) == ["reviewed task", "reviewed task"]
    ledger = project.ledger()
    verdicts = [e["verdict"] for e in events_of(ledger, "review.finished", task_id)]
    assert verdicts == ["changes", "approve"]
    roles = [e["role"] for e in events_of(ledger, "agent.started", task_id)]
    assert roles == ["agent", "reviewer", "agent", "reviewer"]


# --- crash campaign ------------------------------------------------------------------

CRASH_SEED = int(os.environ.get("ISOLLM_CRASH_SEED", "20261121"))
CRASH_TASKS = 12
CRASH_ROUNDS = 40  # runner starts, each killed at a random moment
CRASH_MIN_HITS = 12  # kills that must strike a run with tasks under way
# Writes its file, commits half the time itself, and takes a while.
CRASH_AGENT = f"""
{WRITE_TASK_FILE}
case "$ISOLLM_TASK_ID" in
  *[0-7]) git add -A && git commit -q -m "$ISOLLM_TASK_TITLE" ;;
esac
sleep 1
"""


def next_command(p: RunProject, by_id: bool = False) -> list[str]:
    """Resume the latest run if it did not finish (naming it, or not), else start one."""
    state = runstate.latest_run(p.root)
    if state is None or state.run_status in runstate.FINAL:
        return ["run", "--plain"]
    return ["run", "--plain", "--resume", *([state.id] if by_id else [])]


def tear_last_line(p: RunProject) -> None:
    """Append the first half of an event, without its newline, to the latest ledger."""
    ledger = p.run_dir() / "events.ndjson"
    with ledger.open("ab") as f:
        f.write(b'{"seq":999999,"ts":"2026-11-21T20:00:00.0')


def kill_at_a_random_moment(runner: subprocess.Popen[str], rng: random.Random) -> tuple[str, str]:
    """SIGKILL ``runner`` at a random moment: a quarter of the time counted from its
    start (startup, the base push), else counted from its first claim, so that a loaded
    machine's slow start does not turn every kill into one before any work. Returns its
    stdout and stderr."""
    out: list[str] = []
    err: list[str] = []
    claimed = threading.Event()

    def read(stream: IO[str] | None, into: list[str]) -> None:
        assert stream is not None
        for line in stream:
            into.append(line)
            if " claimed " in line:
                claimed.set()

    readers = [
        threading.Thread(target=read, args=(runner.stdout, out), daemon=True),
        threading.Thread(target=read, args=(runner.stderr, err), daemon=True),
    ]
    for reader in readers:
        reader.start()
    if rng.random() < 0.25:
        time.sleep(rng.uniform(0.2, 2.5))
    else:
        claimed.wait(timeout=30)
        time.sleep(rng.uniform(0.0, 1.5))
    runner.kill()
    runner.wait(timeout=60)
    for reader in readers:
        reader.join(timeout=60)
        assert not reader.is_alive(), "the killed runner's output never closed"
    return "".join(out), "".join(err)


def all_events(p: RunProject) -> list[dict]:
    """Every run's ledger, oldest run first (runs never overlap)."""
    return [e for run in p.runs() for e in p.ledger(run.name)]


@pytest.mark.slow
def test_crash_campaign_every_task_done_exactly_once(project: RunProject) -> None:
    """SIGKILL the runner at random moments and resume it, again and again: in the end
    every task is done once on the server, its commit is on its branch, and no task
    whose completion was recorded ever ran again."""
    rng = random.Random(CRASH_SEED)
    project.use_agent(CRASH_AGENT, max_attempts=2)
    project.configure(workers=3)
    titles = {project.add(f"crash task {n}"): f"crash task {n}" for n in range(CRASH_TASKS)}
    story = [f"seed {CRASH_SEED}"]
    hits = torn = 0
    for _ in range(CRASH_ROUNDS):
        if all(project.task(t).status == "done" for t in titles):
            if hits >= CRASH_MIN_HITS:
                break
            more = range(len(titles), len(titles) + 4)  # a quick machine: more work to hit
            titles |= {project.add(f"crash task {n}"): f"crash task {n}" for n in more}
        command = next_command(project, by_id=rng.random() < 0.5)
        runner = project.start(*command)
        out, err = kill_at_a_random_moment(runner, rng)
        story.append(f"{' '.join(command)} -> {runner.returncode}:\n{out}{err}")
        if " claimed " in out and "run finished" not in out:
            hits += 1  # it died with tasks under way
            state = runstate.latest_run(project.root)
            if hits % 4 == 0 and state is not None and state.run_status not in runstate.FINAL:
                tear_last_line(project)  # as if it died in the middle of a write
                torn += 1
    for _ in range(5):  # finish: resumes until a run completes
        command = next_command(project)
        result = project.isollm(*command, code=None)
        story.append(f"{' '.join(command)} -> {result.returncode}:\n{result.stdout}{result.stderr}")
        if result.returncode == 0 and "run finished - completed" in result.stdout:
            break
    told = "\n".join(story)

    for task_id, title in titles.items():
        assert project.task(task_id).status == "done", told
        assert len(project.actions(task_id, "done")) == 1, told
        assert project.hub_show(task_id, task_file(task_id)) == title, told
        assert project.hub_log(task_id) == [title], told
    events = all_events(project)
    for task_id in titles:
        mine = [e for e in events if e.get("task") == task_id]
        first_done = next(i for i, e in enumerate(mine) if e["type"] == "task.done")
        again = [e for e in mine[first_done:] if e["type"] in ("task.claimed", "agent.started")]
        assert not again, (task_id, again, told)
    assert not agents_running(list(titles))
    assert hits >= CRASH_MIN_HITS, told
    # Each torn line was cut off by the next runner and recorded in its ledger.opened
    # event; it says so on its output too, unless it was killed before it got that far.
    repairs = [e for e in events if e["type"] == "ledger.opened" and e.get("repaired")]
    assert len(repairs) >= torn > 0, (repairs, told)
    assert all("truncated" in e["repaired"] for e in repairs), repairs
    assert "ledger: last line" in told, told
    finished = project.isollm("run", "--resume", code=1)
    assert "there is nothing to resume" in finished.stderr
    for run in project.runs():
        assert project.json("run", "show", run.name)["run_id"] == run.name
