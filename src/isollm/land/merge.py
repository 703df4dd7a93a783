"""``isollm merge``: a serialized, test-gated merge queue built in the hub.

For each candidate (:mod:`isollm.land.candidates`), under the integrator lock
(:mod:`isollm.land.lock`): skip it if it already landed; build its landing commit with
``merge-tree`` + ``commit-tree`` (:mod:`isollm.land.build`); run the test in a
throwaway sandbox at that commit (:mod:`isollm.land.testing`); and only when green move
the target by compare-and-set (a target that moved meanwhile: rebuild on its new tip).
A conflicting or red candidate is reported and skipped (with ``requeue``, a fix task is
made for it); the rest go on. The journal (:mod:`isollm.land.journal`) makes a killed
merge resumable. The user's checkout is never touched: ``isollm sync pull`` brings the
advanced base home.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from isollm.errors import IsollmError, StateError
from isollm.git.facade import Git
from isollm.git.hub import Hub
from isollm.land import guard, journal, plumbing, requeue
from isollm.land.build import already_landed, build, landed_task
from isollm.land.candidates import Candidate, Skipped, TaskBook, select
from isollm.land.chain import land_chain
from isollm.land.journal import CANDIDATE_REF, Entry, Step
from isollm.land.lock import integrator
from isollm.land.outcome import (
    FAILED,
    REQUEUED,
    MergeReport,
    MergeRequest,
    Outcome,
    Status,
    blocked_reason,
)
from isollm.land.testing import MergeTester, TestResult

MAX_REBUILDS = 5  # the target moved under us this many times in a row: give up on it
__all__ = [
    "FAILED",
    "REQUEUED",
    "MergeReport",
    "MergeRequest",
    "Outcome",
    "Queue",
    "Status",
    "merge",
]


@dataclass(frozen=True)
class Queue:
    """Everything one merge works with."""

    hub: Hub
    git: Git
    base_branch: str
    prefix: str
    book: TaskBook
    tester: MergeTester | None  # None: no test (--no-test, or no merge.test_command)


def merge(queue: Queue, request: MergeRequest) -> MergeReport:
    """Land the requested task branches on the target; never raises for one candidate."""
    target = request.into or queue.base_branch
    ref = f"refs/heads/{target}"
    old = queue.git.resolve(ref)
    if old is None:
        raise StateError(
            f"the hub has no branch {target} to merge into",
            hint="run `isollm sync push` to publish your base branch, or pick --into",
        )
    report = MergeReport(
        target, str(request.strategy), old, old, request.dry_run, bool(queue.tester)
    )
    # A dry run moves nothing: it needs no lock, and plans while another merge runs.
    lock = contextlib.nullcontext() if request.dry_run else integrator(queue.hub)
    with lock as dead:
        report.took_over = dead.pid if dead and not dead.alive() else None
        if not request.dry_run:
            report.resumed = resume(queue)
        _land_all(queue, request, ref, report)
    report.new = queue.git.resolve(ref) or report.old
    return report


def _land_all(queue: Queue, request: MergeRequest, ref: str, report: MergeReport) -> None:
    branches = queue.hub.task_branches(queue.prefix)
    branches = [b for b in branches if f"refs/heads/{b.name}" != ref]
    wanted = list(request.tasks) if request.tasks else None
    candidates, skipped = select(branches, queue.prefix, queue.book, wanted)
    report.outcomes += [_not_candidate(queue.git, ref, s) for s in skipped]
    if queue.tester is None or request.dry_run:
        outcomes = land_chain(
            queue.git,
            ref,
            queue.prefix,
            candidates,
            request.strategy,
            dry_run=request.dry_run,
            allow_isollm_files=request.allow_isollm_files,
        )
    else:
        outcomes = _land_tested(queue, request, ref, candidates)
    if not request.dry_run:
        outcomes = [_landed_since(queue.git, ref, o) for o in outcomes]
    by_id = {c.task_id: c for c in candidates}
    for outcome in outcomes:
        if outcome.status in REQUEUED and request.requeue and not request.dry_run:
            outcome.fix_task = requeue.fix_task(queue.book, by_id[outcome.task_id], outcome, ref)
    report.outcomes += outcomes


def _not_candidate(git: Git, ref: str, s: Skipped) -> Outcome:
    """A task this merge cannot take; one whose branch is gone may have landed before."""
    if s.missing and landed_task(git, ref, s.task_id):
        reason = "it landed before (its branch was cleaned up since)"
        return Outcome(s.task_id, s.branch, Status.ALREADY, reason=reason)
    return Outcome(s.task_id, s.branch, Status.SKIPPED, reason=s.reason)


def _landed_since(git: Git, ref: str, o: Outcome) -> Outcome:
    """A failed candidate that a branch landed after it brought in (a fix task's, which
    merged it and resolved the conflict or repaired the test) has landed after all."""
    now = git.resolve(ref)
    if o.status not in FAILED or now is None or not already_landed(git, now, o.tip):
        return o
    reason = "landed within a later task's branch, which brought it in"
    return Outcome(o.task_id, o.branch, Status.ALREADY, o.tip, now, reason=reason)


def _land_tested(
    queue: Queue, request: MergeRequest, ref: str, candidates: Sequence[Candidate]
) -> list[Outcome]:
    failed: set[str] = set()
    outcomes = []
    for c in candidates:
        reason = blocked_reason(c, failed)
        outcome = (
            Outcome(c.task_id, c.branch, Status.SKIPPED, c.tip, reason=reason)
            if reason
            else land_one(queue, request, ref, c)
        )
        if reason or outcome.status in FAILED:
            failed.add(c.task_id)
        outcomes.append(outcome)
    return outcomes


def land_one(queue: Queue, request: MergeRequest, ref: str, c: Candidate) -> Outcome:
    """Build, test and land one candidate; a target that moves under us means building
    again on its new tip."""
    git = queue.git
    for _ in range(MAX_REBUILDS):
        onto = git.rev_parse(ref)
        if already_landed(git, onto, c.tip):
            return Outcome(c.task_id, c.branch, Status.ALREADY, c.tip, onto)
        target = ref.removeprefix("refs/heads/")
        built = build(git, c, onto, request.strategy, target, queue.prefix)
        if built.commit is None:
            return Outcome.conflict(c, built)
        touched = [] if request.allow_isollm_files else guard.isollm_files(git, onto, built.commit)
        if touched:
            return Outcome.refused(c, onto, touched)
        same = built.tree == plumbing.tree_of(git, onto)  # it changes no file of the target
        if same and not built.records:
            return Outcome.nothing_new(c, onto, ref)
        entry = Entry(c.task_id, c.branch, c.tip, ref, onto, built.commit, str(request.strategy))
        outcome = _test_and_advance(queue, entry, test=not same)
        if outcome is not None:
            return outcome
    reason = f"{ref} kept moving while it was being merged; run `isollm merge` again"
    return Outcome(c.task_id, c.branch, Status.SKIPPED, c.tip, reason=reason)


def _test_and_advance(queue: Queue, entry: Entry, *, test: bool = True) -> Outcome | None:
    """Test ``entry.commit`` (``test``: False when its files are the target's) and move
    the target to it; None when the target moved."""
    git, hub = queue.git, queue.hub
    git.run("update-ref", "-m", "isollm merge: candidate", CANDIDATE_REF, entry.commit)
    journal.save(hub, entry)
    try:
        result = queue.tester.test(entry.commit) if queue.tester and test else None
    except IsollmError:  # the test could not run at all: nothing is in flight
        _forget(queue)
        raise
    if result is not None and not result.passed:
        _forget(queue)
        return _red(entry, result)
    journal.save(hub, dataclasses.replace(entry, step=Step.TESTED, tested=result is not None))
    moved = _advance(queue, entry)
    _forget(queue)
    if not moved:
        return None
    return Outcome(entry.task_id, entry.branch, Status.LANDED, entry.tip, entry.commit)


def _red(entry: Entry, result: TestResult) -> Outcome:
    what = "ran past merge.test_timeout" if result.timed_out else f"exit {result.exit_code}"
    return Outcome(
        entry.task_id,
        entry.branch,
        Status.TEST_FAILED,
        entry.tip,
        entry.commit,
        reason=f"the test failed ({what})",
        test_tail=result.tail,
        exit_code=result.exit_code,
    )


def _forget(queue: Queue) -> None:
    journal.clear(queue.hub)
    queue.git.run("update-ref", "-d", CANDIDATE_REF, check=False)


def resume(queue: Queue) -> str:
    """Finish or redo what a killed merge left in flight; what was done, for the report."""
    entry = journal.load(queue.hub)
    if entry is None:
        _forget(queue)
        return ""
    now = queue.git.resolve(entry.target)
    if now == entry.commit:
        done = f"task {entry.task_id} had landed before the last merge stopped"
    elif entry.step is Step.TESTED and now == entry.old and _advance(queue, entry):
        done = f"landed task {entry.task_id}: its merge was tested before the last merge stopped"
    elif entry.step is Step.TESTED:
        done = (
            f"task {entry.task_id} is merged again: the last merge stopped after its test, "
            "and the target has moved since"
        )
    else:
        done = f"task {entry.task_id} is merged again: the last merge stopped before its test"
    _forget(queue)
    return done


def _advance(queue: Queue, entry: Entry) -> bool:
    reason = f"isollm merge {entry.task_id}"
    return queue.git.update_ref(entry.target, entry.commit, entry.old, reason=reason)


def summary_counts(outcomes: Sequence[Outcome]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[str(o.status)] = counts.get(str(o.status), 0) + 1
    return counts
