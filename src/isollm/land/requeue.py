"""``isollm merge --requeue``: a failed candidate becomes a task for an agent.

The fix task depends on nothing and holds the branch to fix in its description, with
what went wrong (the conflicting files and the commits on each side, or the test's
output tail), so an agent can take it from the queue like any other task.
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
        lines += ["", f"Merge {target} into the branch, resolve the conflicts and deliver it."]
    if outcome.test_tail:
        lines += ["", "The end of the test's output:", outcome.test_tail]
        lines += ["", f"Make the test pass on the branch merged with {target} and deliver it."]
    return "\n".join(lines)


def fix_task(book: TaskBook, c: Candidate, outcome: Outcome, ref: str) -> str:
    target = ref.removeprefix("refs/heads/")
    return book.add_fix_task(fix_title(c, outcome, target), fix_description(c, outcome, target))
