"""Building a candidate's landing commit in the hub: no checkout, objects only.

``merge``: one merge commit with the target and the branch as parents. ``squash``: one
commit of the merged tree on the target. ``rebase``: each commit of the branch replayed
on the target (``merge-tree`` with the commit's parent as base, ``commit-tree`` keeping
its author). Every landing commit message names the task; the last carries the trailers
that let a rerun see the task already landed whatever the strategy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from isollm import terminal
from isollm.git.facade import Git
from isollm.land import plumbing
from isollm.land.candidates import Candidate

TASK_TRAILER = "Isollm-Task"
TIP_TRAILER = "Isollm-Tip"


class Strategy(StrEnum):
    MERGE = "merge"
    SQUASH = "squash"
    REBASE = "rebase"


@dataclass(frozen=True)
class Built:
    """The landing commit, or the conflict that prevented it."""

    commit: str | None
    conflicts: tuple[str, ...] = ()
    tree: str = ""  # the landing commit's tree
    # Worth landing even when it changes no file of the target: it records history
    # (a merge commit; a squash naming the other task branches it brought in).
    records: bool = False
    ours: list[str] = field(default_factory=list)  # target commits since the fork (*)
    theirs: list[str] = field(default_factory=list)  # the branch's commits (*)
    # (*) those changing the conflicting files, when any does


def tip_trailer(tip: str) -> str:
    return f"{TIP_TRAILER}: {tip}"


def landed_task(git: Git, target: str, task_id: str) -> bool:
    """Whether a landing commit on ``target`` names task ``task_id`` (its branch may be
    gone: gc removes a branch once it landed)."""
    return plumbing.landed_by_trailer(git, target, f"{TASK_TRAILER}: {task_id}")


def without_trailers(body: str) -> str:
    """A replayed commit's message without lines that look like isollm's trailers: only
    isollm writes those (an agent's could make another task look landed)."""
    keys = (f"{TASK_TRAILER}:", f"{TIP_TRAILER}:")
    return "\n".join(line for line in body.splitlines() if not line.strip().startswith(keys))


def already_landed(git: Git, target: str, tip: str) -> bool:
    """Whether the branch at ``tip`` is in ``target``: by ancestry, or by the trailer a
    squash or rebase left."""
    return git.is_ancestor(tip, target) or plumbing.landed_by_trailer(git, target, tip_trailer(tip))


def landed_tips(git: Git, target: str, prefix: str) -> set[str]:
    """Every commit already landed on ``target`` that a task branch could point at: the
    tips of branches under ``prefix`` merged into it, and the tips its squash and rebase
    commits name (two git commands, whatever the number of branches)."""
    merged = git.run(
        "for-each-ref",
        f"--merged={target}",
        "--format=%(objectname)",
        f"refs/heads/{prefix}",  # a prefix ending in "/": every branch below it
        f"refs/heads/{prefix}*",  # any other prefix ("task-")
    ).stdout.split()
    text = git.run(
        "log", "--first-parent", "-F", f"--grep={TIP_TRAILER}: ", "--format=%B", target, "--"
    ).stdout
    key = f"{TIP_TRAILER}:"
    named = {line.removeprefix(key).strip() for line in text.splitlines() if line.startswith(key)}
    return set(merged) | named


def carried_tips(git: Git, c: Candidate, onto: str, prefix: str) -> list[str]:
    """Tips of other task branches that ``c``'s branch brought in (a fix task merges the
    branch it fixes) and ``onto`` lacks: a squash or rebase lands them too, so its last
    commit names them (``Isollm-Tip:``) as a merge's ancestry would."""
    tips = git.run(
        "for-each-ref",
        f"--merged={c.tip}",
        f"--no-merged={onto}",
        "--format=%(objectname)",
        f"refs/heads/{prefix}",
        f"refs/heads/{prefix}*",
    ).stdout.split()
    return sorted(set(tips) - {c.tip})


def message(
    c: Candidate, strategy: Strategy, target: str, body: str = "", carried: Sequence[str] = ()
) -> str:
    title = terminal.safe_line(c.title)[:200]
    subject = {
        Strategy.MERGE: f"Merge task {c.task_id}: {title}",
        Strategy.SQUASH: f"Task {c.task_id}: {title}",
        Strategy.REBASE: body.rstrip("\n"),
    }[strategy]
    extra = f"\n\n{body.rstrip()}" if body and strategy is Strategy.SQUASH else ""
    tips = "".join(f"{tip_trailer(tip)}\n" for tip in (c.tip, *carried))
    trailers = f"{TASK_TRAILER}: {c.task_id}\n{tips}"
    return f"{subject}{extra}\n\nBranch {c.branch} into {target}.\n\n{trailers}"


def build(git: Git, c: Candidate, onto: str, strategy: Strategy, target: str, prefix: str) -> Built:
    """The landing commit of ``c`` on ``onto`` (the target's current commit); ``prefix``
    names the task branches (see :func:`carried_tips`)."""
    if strategy is Strategy.REBASE:
        return _rebase(git, c, onto, target, carried_tips(git, c, onto, prefix))
    merged = plumbing.merge_tree(git, onto, c.tip)
    if not merged.clean:
        return _conflict(git, c, onto, merged.conflicts)
    if strategy is Strategy.MERGE:
        parents: tuple[str, ...] = (onto, c.tip)
        text = message(c, strategy, target)
        records = True  # the merge commit records the branch's history
    else:
        parents = (onto,)
        subjects = [f"- {x.subject}" for x in plumbing.commits(git, onto, c.tip, limit=50)]
        carried = carried_tips(git, c, onto, prefix)
        text = message(c, strategy, target, "\n".join(subjects), carried)
        records = bool(carried)  # it names other branches that land with it
    commit = plumbing.commit_tree(git, merged.tree, parents, text)
    return Built(commit, tree=merged.tree, records=records)


def _rebase(git: Git, c: Candidate, onto: str, target: str, carried: list[str]) -> Built:
    current, tree = onto, ""
    replayed = plumbing.commits(git, onto, c.tip)
    for index, commit in enumerate(replayed):
        base = commit.parents[0] if commit.parents else None
        merged = plumbing.merge_tree(git, current, commit.sha, merge_base=base)
        if not merged.clean:
            return _conflict(git, c, onto, merged.conflicts)
        body = without_trailers(
            git.out("show", "-s", "--format=%B", "--end-of-options", commit.sha)
        )
        last = index == len(replayed) - 1
        text = message(c, Strategy.REBASE, target, body, carried) if last else body + "\n"
        current = plumbing.commit_tree(git, merged.tree, (current,), text, commit.author)
        tree = merged.tree
    if current == onto:  # nothing to replay: the branch's changes are all in the target
        return Built(None, ("(nothing to replay)",))
    return Built(current, tree=tree)


def _conflict(git: Git, c: Candidate, onto: str, conflicts: tuple[str, ...]) -> Built:
    fork = plumbing.merge_base(git, onto, c.tip)
    ours = _touching(git, fork, onto, conflicts)
    theirs = _touching(git, fork, c.tip, conflicts)
    return Built(None, conflicts, ours=ours, theirs=theirs)


def _touching(git: Git, fork: str | None, head: str, paths: tuple[str, ...]) -> list[str]:
    """The commits of ``head`` since ``fork`` that change ``paths`` (all of them when
    none does: a rename or a conflict git names no file for)."""
    limit = plumbing.MAX_COMMITS_LISTED
    found = plumbing.commits(git, fork, head, limit=limit, paths=paths)
    found = found or plumbing.commits(git, fork, head, limit=limit)
    return [f"{x.sha[:10]} {x.subject}" for x in found]
