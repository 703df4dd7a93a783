"""Git as the sandboxes need it, run from the host on a workspace or the hub.

Workspaces may belong to another uid (a container's ``dev`` user), so every call here
passes ``safe.directory=*`` and ``--no-optional-locks``: these calls only read, and must
not trip git's ownership check or rewrite the index behind an agent's back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from isollm.errors import IsollmError, SandboxError
from isollm.git.facade import Git, zsplit

_READ_ONLY = ("--no-optional-locks", "-c", "safe.directory=*")
_RENAME_OR_COPY = frozenset("RC")
_SHOWN = 5


@dataclass(frozen=True)
class WorkState:
    """What would be lost if a workspace were discarded now."""

    uncommitted: tuple[str, ...] = ()  # porcelain entries: "M path", "?? path"
    unpushed: tuple[tuple[str, int], ...] = ()  # (branch, commits the hub lacks)
    unknown: str = ""  # why it could not be checked; treated as "maybe work"

    @property
    def clean(self) -> bool:
        return not (self.uncommitted or self.unpushed or self.unknown)

    def describe(self) -> str:
        parts = []
        if self.uncommitted:
            shown = ", ".join(entry.split(" ", 1)[-1] for entry in self.uncommitted[:_SHOWN])
            extra = len(self.uncommitted) - _SHOWN
            more = f" and {extra} more" if extra > 0 else ""
            parts.append(f"{len(self.uncommitted)} uncommitted change(s): {shown}{more}")
        parts += [f"{count} unpushed commit(s) on {branch}" for branch, count in self.unpushed]
        if self.unknown:
            parts.append(f"work that could not be checked ({self.unknown})")
        return "; ".join(parts) or "nothing"


def git_out(path: Path, *args: str) -> str:
    return Git(path).out(*_READ_ONLY, *args)


def parse_status_z(text: str) -> list[str]:
    """``git status --porcelain -z`` records as "XY path" strings (renames: the new path)."""
    records = zsplit(text)
    out: list[str] = []
    skip = False
    for record in records:
        if skip:
            skip = False
            continue
        code, path = record[:2], record[3:]
        out.append(f"{code.strip()} {path}")
        skip = bool(_RENAME_OR_COPY & set(code))
    return out


def parse_refs(text: str) -> dict[str, str]:
    """Lines of ``%(refname) %(objectname)`` as a mapping name -> sha."""
    refs: dict[str, str] = {}
    for line in text.splitlines():
        name, _, sha = line.rpartition(" ")
        if name:
            refs[name] = sha
    return refs


def ref_map(repo: Path, *patterns: str) -> dict[str, str]:
    text = git_out(repo, "for-each-ref", "--format=%(refname) %(objectname)", *patterns)
    return parse_refs(text)


def hub_commit(hub: Path, branch: str) -> str | None:
    """The commit ``branch`` points at in the hub, or None."""
    return ref_map(hub, f"refs/heads/{branch}").get(f"refs/heads/{branch}")


def require_hub_commit(hub: Path, branch: str) -> str:
    sha = hub_commit(hub, branch)
    if sha is None:
        raise SandboxError(
            f"the hub {hub} has no branch {branch!r}",
            hint="run `isollm sync push` to publish your base branch to the hub",
        )
    return sha


def _known(workspace: Path, shas: list[str]) -> list[str]:
    if not shas:
        return []
    result = Git(workspace).run(
        *_READ_ONLY, "cat-file", "--batch-check=%(objectname)", input="\n".join(shas) + "\n"
    )
    return [line for line in result.stdout.splitlines() if not line.endswith(" missing")]


def _branches(workspace: Path, only_head: bool) -> dict[str, str]:
    head = git_out(workspace, "rev-parse", "HEAD")
    branch = Git(workspace).run(*_READ_ONLY, "symbolic-ref", "-q", "--short", "HEAD", check=False)
    name = branch.stdout.strip() or "HEAD (detached)"
    if only_head:
        return {name: head}
    refs = {k.removeprefix("refs/heads/"): v for k, v in ref_map(workspace, "refs/heads").items()}
    if not branch.stdout.strip():
        refs[name] = head
    return refs


def unpushed(workspace: Path, hub: Path, *, only_head: bool = False) -> list[tuple[str, int]]:
    """Local branches with commits the hub does not have, and how many."""
    hub_shas = _known(workspace, sorted(set(ref_map(hub).values())))
    out = []
    for name, sha in sorted(_branches(workspace, only_head).items()):
        count = int(git_out(workspace, "rev-list", "--count", sha, "--not", *hub_shas, "--"))
        if count:
            out.append((name, count))
    return out


def work_state(workspace: Path, hub: Path, *, only_head: bool = False) -> WorkState:
    """Uncommitted changes and unpushed commits in ``workspace``; never raises."""
    try:
        status = git_out(workspace, "status", "--porcelain=v1", "-z", "--untracked-files=all")
        return WorkState(
            tuple(parse_status_z(status)), tuple(unpushed(workspace, hub, only_head=only_head))
        )
    except IsollmError as exc:
        return WorkState(unknown=str(exc).splitlines()[0])
    except Exception as exc:  # a broken checkout: say so rather than call it clean
        return WorkState(unknown=f"{type(exc).__name__}: {str(exc).splitlines()[0]}")


def identity(cwd: Path) -> tuple[str, str] | None:
    """The host user's git committer name and email, if git knows them."""
    result = Git(cwd).run("var", "GIT_COMMITTER_IDENT", check=False)
    ident = result.stdout.strip()
    if not result.ok or "<" not in ident:
        return None
    name, _, rest = ident.partition(" <")
    email = rest.split(">", 1)[0]
    return (name.strip(), email) if name.strip() and email else None


# Run inside the sandbox as `sh -c CHECKOUT_SCRIPT sh BRANCH BASE_COMMIT MODE NAME EMAIL`:
# values travel as positional parameters, never spliced into the script.
CHECKOUT_SCRIPT = """set -e
branch=$1 base=$2 mode=$3
git config push.autoSetupRemote true
git config user.name "$4"
git config user.email "$5"
case $mode in
  detach) git checkout -q --detach "$base" ;;
  hub)
    git fetch -q origin "+refs/heads/$branch:refs/remotes/origin/$branch"
    git checkout -q -B "$branch" "refs/remotes/origin/$branch"
    git branch -q --set-upstream-to="origin/$branch" "$branch" ;;
  *)
    git checkout -q -B "$branch" "$base"
    if git rev-parse -q --verify "refs/remotes/origin/$branch" >/dev/null; then
      git branch -q --set-upstream-to="origin/$branch" "$branch"
    fi ;;
esac
"""

CheckoutMode = Literal["detach", "hub", "base"]


def checkout_argv(
    branch: str, base_commit: str, mode: CheckoutMode, ident: tuple[str, str]
) -> list[str]:
    """The argv that puts a fresh workspace on ``branch`` (run in the workspace).

    ``hub``: the branch exists on the hub, continue from it; ``base``: start it at the
    base commit; ``detach``: stay on a detached HEAD at the base commit.
    """
    return ["sh", "-c", CHECKOUT_SCRIPT, "sh", branch, base_commit, mode, *ident]
