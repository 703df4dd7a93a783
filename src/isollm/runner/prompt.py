"""The prompt a headless agent gets for one task (pure).

It is the task as the queue holds it (title, description), what the tasks it depends on
produced (their branches, commits and files, already merged into this workspace), and
the few rules of a headless run: stay on the branch, commit is optional (isollm commits
what is left), never push or touch the queue (isollm does both).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DependencyOutput:
    task_id: str
    title: str
    branch: str
    commit: str | None
    files: tuple[str, ...] = ()
    merged: bool = False
    conflicts: tuple[str, ...] = ()  # the files in conflict, when it did not merge
    why: str = ""  # why it did not merge, when no file was in conflict


@dataclass(frozen=True)
class TaskPrompt:
    task_id: str
    title: str
    description: str
    branch: str
    base_branch: str
    attempt: int = 1
    dependencies: tuple[DependencyOutput, ...] = ()
    previous_failures: tuple[str, ...] = ()
    review_feedback: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)


_FILES_SHOWN = 20


def _dependency(dep: DependencyOutput) -> str:
    head = f"- {dep.task_id} \u201c{dep.title}\u201d on branch `{dep.branch}`"
    if dep.commit:
        head += f" at {dep.commit[:12]}"
    if dep.merged:
        head += " (merged into this workspace)"
    elif dep.conflicts:
        head += f" (NOT merged: conflicts in {', '.join(dep.conflicts[:_FILES_SHOWN])})"
    else:
        head += " (NOT merged: see its branch)"
    files = list(dep.files[:_FILES_SHOWN])
    lines = [head] + [f"    - {f}" for f in files]
    if len(dep.files) > _FILES_SHOWN:
        lines.append(f"    - … and {len(dep.files) - _FILES_SHOWN} more")
    return "\n".join(lines)


def render(p: TaskPrompt) -> str:
    """The whole prompt text for one attempt."""
    parts = [f"Task {p.task_id}: {p.title}"]
    if p.description.strip():
        parts.append(p.description.strip())
    if p.dependencies:
        parts.append(
            "This task builds on work that is already done:\n"
            + "\n".join(_dependency(d) for d in p.dependencies)
        )
    if p.previous_failures:
        tried = "\n".join(f"- attempt {i}: {r}" for i, r in enumerate(p.previous_failures, 1))
        parts.append(f"Earlier attempts at this task failed:\n{tried}")
    if p.review_feedback.strip():
        parts.append(f"A reviewer asked for changes:\n{p.review_feedback.strip()}")
    parts.extend(p.notes)
    parts.append(
        f"You are on branch `{p.branch}` (from `{p.base_branch}`). Make the change in this "
        "checkout. You may commit; isollm commits whatever is left, takes the branch to the "
        "shared repository and marks the task done when you exit successfully, so do not "
        "push (the shared repository is read-only to you) and do not change the task's "
        "status yourself. Exit with an error if you cannot do the task."
    )
    return "\n\n".join(parts) + "\n"
