"""The instruction file each agent reads: CLAUDE.md for Claude Code, AGENTS.md otherwise.

:func:`render` writes the worker's whole brief from a :class:`WorkerContext`: where it
is, how to take tasks with the ``airyra`` agent CLI (``claim-next``, ``heartbeat``,
``push``, ``done``, ``release``, ``block``), how to coordinate with the other agents
(``context``, ``lock``), how to name branches and commit, and the
project's own context (``claude.context`` in isollm.yaml). In a headless run isollm
has already claimed the task and does the bookkeeping, so the brief says so instead.

:func:`merge` puts that text between markers at the top of a file the project may
already have, keeping the project's own text; :func:`install` writes it into a
checkout and keeps it out of commits.
"""

from __future__ import annotations

from pathlib import Path

from isollm import fsutil
from isollm.agents.context import WorkerContext
from isollm.config.model import DEFAULT_SESSION_PROMPT
from isollm.git.facade import Git

BEGIN = "<!-- isollm:begin (generated; edits here are replaced) -->"
END = "<!-- isollm:end -->"
FILE_MODE = 0o644

# DEFAULT_SESSION_PROMPT: a session's first prompt, defined with its key (session.prompt).
__all__ = ["DEFAULT_SESSION_PROMPT", "install", "keep_out_of_commits", "merge", "render"]


def _header(ctx: WorkerContext) -> str:
    return (
        f"# isollm worker `{ctx.worker}` on project `{ctx.project}`\n\n"
        "You are one of several AI coding agents working on this repository at the same\n"
        "time, each in its own sandbox, on its own branch, on tasks from a shared queue.\n"
        "Stay inside this checkout; other agents' work reaches you only through git.\n"
    )


def _environment(ctx: WorkerContext) -> str:
    lines = ["## Where you are", ""]
    if ctx.project_path:
        lines.append(f"- Project checkout: `{ctx.project_path}`")
    hub = f"`{ctx.hub}`, " if ctx.hub else ""
    lines += [
        f"- Shared repository (the hub): {hub}git remote `{ctx.remote}`",
        f"- Base branch: `{ctx.base_branch}`; task branches: `{ctx.branch_prefix}<task-id>`",
        f"- Task server: {ctx.server_url}, project `{ctx.task_project}`, "
        f"you are agent `{ctx.agent_id}`",
        "- The `AIRYRA_*` environment variables already point the `airyra` command at the",
        "  task server with your identity; run it from any directory.",
    ]
    return "\n".join(lines) + "\n"


def _interactive_workflow(ctx: WorkerContext) -> str:
    b, r = ctx.branch_prefix, ctx.remote
    beat = max(ctx.lease_seconds // 3, 1)
    return f"""## Workflow: one task at a time, until the queue is empty

1. Take the most urgent ready task, atomically: `airyra claim-next --json`.
   It prints the task you now hold (`id`, `title`, `description`). If it prints
   `{{"message": "No ready tasks"}}` instead, the queue is empty: stop and say so.
2. `airyra show <task-id>` shows it again whenever you need.
3. Start its branch from the latest base:
   `git fetch {r} && git switch -c {b}<task-id> {r}/{ctx.base_branch}`
4. Tell the other agents what you are on:
   `airyra context set --file <path> --status working -m "<what you are doing>"`
   (one `--file` per file you expect to change); `airyra context show` lists what
   everyone else is doing: read it before you touch files others work on.
5. Before editing a file other tasks may change too (a shared module, a config file,
   a lock file): `airyra lock <path>`. If another agent holds it, the command names
   them: work on something else first, or wait with `airyra lock <path> --wait 120`.
   `airyra unlock <path>` when you are done with it (your locks also end with your task).
6. Do the work. Your claim is a lease of {ctx.lease_seconds} seconds: run
   `airyra heartbeat <task-id>` at least every {beat} seconds while you work (or keep
   `airyra heartbeat <task-id> --every {beat}` running in the background), or the
   task returns to the queue and another agent takes it.
7. Commit on the task branch with a message naming the task:
   `git add -A && git commit -m "<task-id>: <what changed>"`
   `airyra push <task-id>` saves your commits so far to the task's branch on the hub
   (do it after each larger step).
8. When everything is committed and the tests pass: `airyra done <task-id>`. It
   delivers your branch (HEAD) to the hub and marks the task done; if it fails, read
   its message, fix what it says and run it again.
9. Go back to step 1.

Never run `git push`: the hub is read-only to you, and `airyra push` / `airyra done`
are the only way your work reaches it. If you cannot finish a task, run
`airyra release <task-id>` so another agent can take it; if it cannot be done at all
(missing information, a broken dependency), run
`airyra block <task-id> --reason "<why>"`. If `done`, `push`, `heartbeat` or `release`
fails with a conflict (exit code 6), your lease ran out and the task went to someone
else: stop working on it and go back to step 1.
"""


def _headless_workflow(ctx: WorkerContext) -> str:
    title = f" ({ctx.task_title})" if ctx.task_title else ""
    return f"""## Your task

isollm has claimed task `{ctx.task_id}`{title} for you and checked out its branch
`{ctx.branch}`. Your prompt describes the task.

- Do the task in this checkout, on this branch; do not switch branches.
- Commit your work with a message naming the task:
  `git add -A && git commit -m "{ctx.task_id}: <what changed>"`
- Do not run `airyra claim-next`, `done`, `release` or `heartbeat`, and do not push:
  isollm renews the claim, delivers `{ctx.branch}` to the hub and marks the task done
  when you finish.
- End with a short summary of what you changed.
"""


def _rules(ctx: WorkerContext) -> str:
    return f"""## Rules

- Never commit to, push to or rewrite `{ctx.base_branch}` or another agent's branch;
  never force-push.
- Keep each commit focused on its task; do not commit this instruction file, build
  output or secrets.
- Make sure the project's tests pass before you report a task done.
"""


def _project_context(ctx: WorkerContext) -> str:
    text = ctx.custom_context.strip()
    return f"## About this project\n\n{text}\n" if text else ""


def render(ctx: WorkerContext) -> str:
    """The instruction file's text for one worker (headless or interactive)."""
    workflow = _headless_workflow(ctx) if ctx.headless else _interactive_workflow(ctx)
    parts = [_header(ctx), _environment(ctx), workflow, _rules(ctx), _project_context(ctx)]
    return "\n".join(part for part in parts if part)


def merge(existing: str | None, generated: str) -> str:
    """``generated`` between markers at the top of ``existing``, replacing a previous
    generated block and keeping everything else the file holds."""
    block = f"{BEGIN}\n{generated.rstrip()}\n{END}\n"
    rest = existing or ""
    start, end = rest.find(BEGIN), rest.find(END)
    if start != -1 and end > start:
        rest = rest[:start] + rest[end + len(END) :]
    rest = rest.strip("\n")
    return f"{block}\n{rest}\n" if rest else block


def install(workdir: Path, filename: str, ctx: WorkerContext) -> Path:
    """Write the instruction file into the checkout at ``workdir``, kept out of commits."""
    path = workdir / filename
    fsutil.atomic_write_text(path, merge(_read(workdir, filename), render(ctx)), mode=FILE_MODE)
    keep_out_of_commits(workdir, [filename])
    return path


def _read(directory: Path, name: str) -> str | None:
    """A file the agent may have planted (a symlink, a FIFO, /dev/zero): read bounded,
    and treated as absent (then replaced) unless it is a small regular file."""
    try:
        data = fsutil.read_bounded(directory, name)
    except (fsutil.UnsafeFileError, FileNotFoundError):
        return None
    return None if data is None else data.decode("utf-8", errors="replace")


def keep_out_of_commits(workdir: Path, patterns: list[str]) -> None:
    """Make ``git add -A`` skip these files: untracked ones go to ``info/exclude``,
    tracked ones are marked skip-worktree (their local changes stay local)."""
    git = Git(workdir)
    tracked = set(git.lines(["ls-files", "--", *patterns]))
    if tracked:
        git.run("update-index", "--skip-worktree", "--", *sorted(tracked))
    exclude = workdir / git.out("rev-parse", "--git-path", "info/exclude")
    present = (_read(exclude.parent, exclude.name) or "").splitlines()
    missing = [p for p in patterns if p not in present and p not in tracked]
    if missing:
        text = "\n".join([*present, *missing]) + "\n"
        fsutil.atomic_write_text(exclude, text, mode=FILE_MODE)
