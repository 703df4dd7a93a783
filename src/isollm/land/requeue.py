"""``isollm merge --requeue``: a failed candidate becomes a task for an agent.

The fix task depends on nothing and holds the branch to fix in its description, with
what went wrong (the conflicting files and the commits on each side, or the test's
output tail) and how to bring the branch into its own, so an agent can take it from the
queue like any other task; once it lands, the failed branch is in the target too. A
rerun reuses a fix task that is not done yet instead of queueing another.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from isollm.land.candidates import Candidate, TaskBook

if TYPE_CHECKING:
    from isollm.land.merge import Outcome

MAX_FILES_IN_TITLE = 3


def fix_title(c: Candidate, outcome: Outcome, target: str) -> str:
    if outcome.files:
        shown = ", ".join(outcome.files[:MAX_FILES_IN_TITLE])
        more = f" (+{len(outcome.files) - MAX_FILES_IN_TITLE})" if len(outcome.files) > 3 else ""
        return f"merge conflict with {target} in files {shown}{more}: task {c.task_id}"
    return f"merge test failed on {target}: task {c.task_id}"


def fix_description(c: Candidate, outcome: Outcome, target: str) -> str:
    lines = [
        f"Branch: {c.branch} (at {c.tip})",
        f"Target: {target}",
        f"Original task: {c.task_id}: {c.title}",
        "",
        f"`isollm merge` could not land it: {outcome.reason}.",
    ]
    if outcome.files:
        lines += ["", "Conflicting files:", *[f"- {f}" for f in outcome.files]]
        lines += ["", f"Commits on {target} since the branch forked:", *outcome.ours]
        lines += ["", "Commits on the branch:", *outcome.theirs]
    if outcome.test_tail:
        lines += ["", "The end of the test's output:", outcome.test_tail]
    todo = "resolve the conflicts" if outcome.files else "make the test pass"
    lines += [
        "",
        f"Your task branch starts from {target}. Bring {c.branch} into it first",
        f"(`git fetch origin {c.branch}` then `git merge FETCH_HEAD`), {todo},",
        f"commit and deliver your task. Once your branch lands, {c.branch} has landed too.",
    ]
    return "\n".join(lines)


def fix_task(book: TaskBook, c: Candidate, outcome: Outcome, ref: str) -> str:
    """The id of the fix task for ``outcome``: a new one, or the one a merge before this
    made and that is not done yet (a rerun never queues the same fix twice)."""
    target = ref.removeprefix("refs/heads/")
    title = fix_title(c, outcome, target)
    return book.unfinished(title) or book.add_fix_task(title, fix_description(c, outcome, target))
