"""``airyra push``: deliver the work of this git repository's HEAD to the task's branch.

Inside an isollm sandbox the hub is read-only; the agent's work reaches it through the
task server instead: ask it which commits the hub has (the base tip and the task
branch's tip), make ``git bundle create FILE HEAD --not <those we have too>`` and post
the bundle with the agent's own token. The server applies it to the task's branch only
while this agent holds the task's claim, and answers what the hub now holds.
``airyra done`` does the same first when ISOLLM_DELIVER=1 (set in isollm's sandboxes).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from isollm.tasks.agent_cli.api import Api, CliError
from isollm.tasks.agent_cli.render import emit

BUNDLE_TYPE = "application/x-git-bundle"
PUSH_SECONDS = 900.0  # sending a bundle and the server applying it
GIT_SECONDS = 300.0
_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    """git in the working directory (the agent's own, inside its sandbox; this program is
    standard library only, so not through isollm.proc), an argv list, bounded in time."""
    argv = ["git", *args]
    try:
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=GIT_SECONDS, check=False
        )
    except FileNotFoundError:
        raise CliError("git is not installed here: cannot push") from None
    except subprocess.TimeoutExpired:
        raise CliError(f"git {args[0]} took longer than {GIT_SECONDS:g}s") from None


def _head() -> str:
    result = _git("rev-parse", "-q", "--verify", "HEAD^{commit}")
    if result.returncode != 0:
        where = _git("rev-parse", "--git-dir")
        if where.returncode != 0:
            raise CliError("not inside a git repository: run airyra push in your workspace")
        raise CliError("there is no commit at HEAD yet: commit your work first")
    return result.stdout.strip()


def _has_commit(sha: str) -> bool:
    return _git("cat-file", "-e", f"{sha}^{{commit}}").returncode == 0


def _contains(sha: str, head: str) -> bool:
    """Whether ``head`` is ``sha`` or one of its ancestors (nothing new to send)."""
    return _git("merge-base", "--is-ancestor", head, sha).returncode == 0


def push_work(api: Api, task_id: str, fence: int | None = None) -> dict[str, Any]:
    """Deliver HEAD to the task's branch; what the server answered (``pushed`` False:
    there was nothing new to send)."""
    headers = api.fence(task_id, fence)
    info = api.json("GET", api.path("tasks", task_id, "push"), None, headers) or {}
    have = [c for c in info.get("have") or [] if isinstance(c, str) and _SHA.match(c)]
    branch, head = str(info.get("branch") or f"the branch of {task_id}"), _head()
    local = [c for c in have if _has_commit(c)]
    answer: dict[str, Any] = {"task": task_id, "branch": branch, "head": head}
    if any(_contains(c, head) for c in local):
        return {**answer, "pushed": False}
    limit = info.get("max_bytes") if isinstance(info.get("max_bytes"), int) else None
    with tempfile.TemporaryDirectory(prefix="airyra-push-") as tmp:
        bundle = Path(tmp) / "work.bundle"
        try:
            sent = _upload(api, task_id, headers, bundle, local, limit)
        except CliError as exc:
            if exc.code != "BUNDLE_INCOMPLETE" or not local:
                raise
            bundle.unlink(missing_ok=True)
            sent = _upload(api, task_id, headers, bundle, [], limit)  # whole this time
    return {**answer, "pushed": True, **sent}


def _upload(
    api: Api,
    task_id: str,
    headers: dict[str, str],
    bundle: Path,
    exclude: list[str],
    limit: int | None,
) -> dict[str, Any]:
    made = _git("bundle", "create", "-q", str(bundle), "HEAD", *(f"^{c}" for c in exclude))
    if made.returncode != 0:
        raise CliError(f"git bundle failed: {made.stderr.strip()[-500:]}")
    size = bundle.stat().st_size
    if limit is not None and size > limit:
        raise CliError(
            f"the work is {size} bytes as a git bundle, over the server's limit of {limit}: "
            "keep build outputs and large files out of your commits"
        )
    with bundle.open("rb") as data:
        _, answer, _ = api.call(
            "POST",
            api.path("tasks", task_id, "push"),
            None,
            headers,
            timeout=PUSH_SECONDS,
            upload=(BUNDLE_TYPE, data, size),
        )
    return answer if isinstance(answer, dict) else {}


def push_summary(result: dict[str, Any]) -> str:
    branch, head = result.get("branch", ""), str(result.get("head", ""))[:12]
    if not result.get("pushed"):
        return f"No new commits: HEAD ({head}) is already in the hub"
    new, old = str(result.get("new") or "")[:12], str(result.get("old") or "")[:12]
    line = f"Pushed: {branch} is now at {new}" + (f" (was {old})" if old and old != new else "")
    if result.get("backup"):
        line += f"; its old tip is kept at {result['backup']}"
    return line


def cmd_push(api: Api, a: Any, as_json: bool) -> None:
    result = push_work(api, a.id, a.fence)
    if as_json:
        emit(result)
    else:
        print(push_summary(result))
