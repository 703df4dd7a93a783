"""Landing without a test (``--no-test``, or no ``merge.test_command``) and planning
(``--dry-run``): the candidates' landing commits built one on the other in the hub, then
the target moved once, by compare-and-set, to the last of them.

With no test, no intermediate state needs keeping: killed before the compare-and-set,
nothing moved (the commits built are unreferenced and a rerun builds them again);
after it, everything landed. A target that moved meanwhile means building the whole
chain again on its new tip. Per candidate it costs two git commands (merge-tree,
commit-tree); whether a candidate already landed is read once for all of them.
"""

from __future__ import annotations

from collections.abc import Sequence

from isollm.git.facade import Git
from isollm.land import guard, plumbing
from isollm.land.build import Strategy, build, landed_tips
from isollm.land.candidates import Candidate
from isollm.land.outcome import FAILED, Outcome, Status, blocked_reason

MAX_REBUILDS = 5


def land_chain(
    git: Git,
    ref: str,
    prefix: str,
    candidates: Sequence[Candidate],
    strategy: Strategy,
    *,
    dry_run: bool,
    allow_isollm_files: bool = False,
) -> list[Outcome]:
    """Land (or with ``dry_run``, plan) every candidate that merges; their outcomes."""
    for _ in range(MAX_REBUILDS):
        old = git.rev_parse(ref)
        outcomes, new = _build_chain(
            git, ref, prefix, old, candidates, strategy, allow_isollm_files
        )
        if dry_run:
            return [_planned(o) for o in outcomes]
        if new == old or git.update_ref(ref, new, old, reason="isollm merge"):
            return outcomes
    reason = f"{ref} kept moving while it was being merged; run `isollm merge` again"
    return [Outcome(c.task_id, c.branch, Status.SKIPPED, c.tip, reason=reason) for c in candidates]


def _planned(o: Outcome) -> Outcome:
    if o.status is Status.LANDED:
        o.status = Status.PLANNED
    return o


def _build_chain(
    git: Git,
    ref: str,
    prefix: str,
    old: str,
    candidates: Sequence[Candidate],
    strategy: Strategy,
    allow_isollm_files: bool,
) -> tuple[list[Outcome], str]:
    target = ref.removeprefix("refs/heads/")
    landed = landed_tips(git, old, prefix)
    onto, tree = old, plumbing.tree_of(git, old)
    failed: set[str] = set()
    outcomes = []
    for c in candidates:
        reason = blocked_reason(c, failed)
        if reason:
            failed.add(c.task_id)
            outcomes.append(Outcome(c.task_id, c.branch, Status.SKIPPED, c.tip, reason=reason))
            continue
        if c.tip in landed:
            outcomes.append(Outcome(c.task_id, c.branch, Status.ALREADY, c.tip, onto))
            continue
        built = build(git, c, onto, strategy, target, prefix)
        touched = (
            []
            if allow_isollm_files or built.commit is None
            else guard.isollm_files(git, onto, built.commit)
        )
        if built.commit is None:
            outcome = Outcome.conflict(c, built)
        elif touched:
            outcome = Outcome.refused(c, onto, touched)
        elif built.tree == tree and not built.records:
            outcome = Outcome.nothing_new(c, onto, ref)  # its changes are all there
        else:  # one changing no file may still land: it records history
            onto, tree = built.commit, built.tree
            outcome = Outcome(c.task_id, c.branch, Status.LANDED, c.tip, onto)
        if outcome.status in FAILED:
            failed.add(c.task_id)
        outcomes.append(outcome)
    return outcomes, onto
