"""Git as the sandboxes need it: scripts run inside a workspace, reads of the hub.

The host never runs git in a workspace (its config and hooks are the agent's to write):
what needs the workspace runs inside the sandbox as a script (values as positional
parameters). Host-side calls here read only the hub, through
:func:`isollm.git.hub.hub_git` (checked, hooks off), with ``safe.directory=*`` and
``--no-optional-locks``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from isollm.errors import SandboxError
from isollm.git.facade import Git, zsplit
from isollm.git.hub import hub_git

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


def git_out(hub: Path, *args: str) -> str:
    """A read-only git command in the hub (never in a workspace)."""
    return hub_git(hub).out(*_READ_ONLY, *args)


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


def ref_map(hub: Path, *patterns: str) -> dict[str, str]:
    text = git_out(hub, "for-each-ref", "--format=%(refname) %(objectname)", *patterns)
    return parse_refs(text)


def hub_commit(hub: Path, branch: str) -> str | None:
    """The commit ``branch`` points at in the hub, or None."""
    return ref_map(hub, f"refs/heads/{branch}").get(f"refs/heads/{branch}")


def base_commit(hub: Path, base_branch: str, pinned: str = "") -> str:
    """The commit a sandbox is built at: ``pinned`` if given, else the base branch's head
    on the hub."""
    return pinned or require_hub_commit(hub, base_branch)


def require_hub_commit(hub: Path, branch: str) -> str:
    sha = hub_commit(hub, branch)
    if sha is None:
        raise SandboxError(
            f"the hub {hub} has no branch {branch!r}",
            hint="run `isollm sync push` to publish your base branch to the hub",
        )
    return sha


# Run inside the sandbox as `sh -c WORK_STATE_SCRIPT sh HUB SCOPE`. It runs in there, not
# on the host, because the workspace's git config is the agent's to write: a
# core.fsmonitor or a clean filter would run any command as whoever runs `git status`.
UNPUSHED_MARK = "--isollm-unpushed--"
WORK_STATE_SCRIPT = f"""hub=$1 scope=$2
git status --porcelain=v1 -z --untracked-files=all || exit 90
printf '\\n%s\\n' {UNPUSHED_MARK}
if [ "$scope" = head ]; then
  refs=HEAD
else
  refs=$(git for-each-ref --format='%(refname)' refs/heads)
  git symbolic-ref -q HEAD >/dev/null || refs="$refs HEAD"
fi
known=$(git --git-dir="$hub" for-each-ref --format='%(objectname)' | sort -u |
  git cat-file --batch-check='%(objectname) %(objecttype)' | grep -v ' missing$' | cut -d' ' -f1)
for ref in $refs; do
  n=$(for k in $known; do echo "^$k"; done | git rev-list --count --stdin "$ref") || exit 91
  [ "$n" = 0 ] || printf '%s %s\\n' "$n" "$(git rev-parse --abbrev-ref "$ref")"
done
"""


def work_state_argv(hub: Path, *, only_head: bool) -> list[str]:
    return ["sh", "-c", WORK_STATE_SCRIPT, "sh", str(hub), "head" if only_head else "all"]


def parse_work_state(stdout: str) -> WorkState:
    """The output of WORK_STATE_SCRIPT as a WorkState."""
    status, mark, rest = stdout.partition(f"\n{UNPUSHED_MARK}\n")
    if not mark:
        return WorkState(unknown="the check printed nothing usable")
    unpushed = []
    for line in rest.splitlines():
        count, _, name = line.partition(" ")
        if count.isdigit():
            unpushed.append(("HEAD (detached)" if name == "HEAD" else name, int(count)))
    return WorkState(tuple(parse_status_z(status)), tuple(sorted(unpushed)))


def identity(cwd: Path, *, hub: bool = False) -> tuple[str, str] | None:
    """The host user's git committer name and email, if git knows them (asked in the
    user's repository ``cwd``, or in the hub)."""
    git = hub_git(cwd) if hub else Git(cwd)
    result = git.run("var", "GIT_COMMITTER_IDENT", check=False)
    ident = result.stdout.strip()
    if not result.ok or "<" not in ident:
        return None
    name, _, rest = ident.partition(" <")
    email = rest.split(">", 1)[0]
    return (name.strip(), email) if name.strip() and email else None


# Run inside the sandbox as `sh -c CHECKOUT_SCRIPT sh BRANCH BASE_COMMIT MODE`: values
# travel as positional parameters, never spliced into the script. A fresh workspace is
# already at the base commit, so starting a branch there only writes two refs: no
# checkout, no scan of the working tree.
CHECKOUT_SCRIPT = """set -e
branch=$1 base=$2 mode=$3
head=$(git rev-parse HEAD)
case $mode in
  detach) [ "$head" = "$base" ] || git checkout -q --detach "$base" ;;
  hub)
    git fetch -q origin "+refs/heads/$branch:refs/remotes/origin/$branch"
    git checkout -q -B "$branch" "refs/remotes/origin/$branch"
    git branch -q --set-upstream-to="origin/$branch" "$branch" ;;
  *)
    if [ "$head" = "$base" ]; then
      git update-ref "refs/heads/$branch" "$base"
      git symbolic-ref HEAD "refs/heads/$branch"
    else
      git checkout -q -B "$branch" "$base"
    fi
    if git rev-parse -q --verify "refs/remotes/origin/$branch" >/dev/null; then
      git branch -q --set-upstream-to="origin/$branch" "$branch"
    fi ;;
esac
"""

CheckoutMode = Literal["detach", "hub", "base"]


@dataclass(frozen=True)
class AfterCheckout:
    """A script run in the same command right after the checkout, saving a sandbox start:
    ``sh -c SCRIPT sh ARGS...`` with ``input`` on its stdin. Values are positional
    parameters, never part of the script."""

    script: str
    args: tuple[str, ...] = ()
    input: str | None = None

    def argv(self) -> list[str]:
        """The script as a command of its own."""
        return ["sh", "-c", self.script, "sh", *self.args]


def checkout_argv(
    branch: str, base_commit: str, mode: CheckoutMode, then: AfterCheckout | None = None
) -> list[str]:
    """The argv that puts a fresh workspace on ``branch`` (run in the workspace).

    ``hub``: the branch exists on the hub, continue from it; ``base``: start it at the
    base commit; ``detach``: stay on a detached HEAD at the base commit. ``then`` runs
    next, if the checkout succeeded, with its own arguments as ``$1``...
    """
    if then is None:
        return ["sh", "-c", CHECKOUT_SCRIPT, "sh", branch, base_commit, mode]
    script = f"{CHECKOUT_SCRIPT}shift 3\n{then.script}"
    return ["sh", "-c", script, "sh", branch, base_commit, mode, *then.args]


def configure_checkout(repo: Path, ident: tuple[str, str]) -> None:
    """Settings every workspace made from ``repo`` inherits: who commits, how to push.

    Run by the host only on a checkout it just made, before any sandbox has used it.

    ``checkStat=minimal``: inside a sandbox files show another owner (a user namespace
    maps root to uid 1000), and git would otherwise re-hash every file on each status.
    """
    git = Git(repo)
    git.run("config", "core.checkStat", "minimal")
    git.run("config", "push.autoSetupRemote", "true")
    git.run("config", "user.name", ident[0])
    git.run("config", "user.email", ident[1])


def default_identity(host_root: Path | None, hub: Path, name: str) -> tuple[str, str]:
    """The host user's git identity, or one naming the sandbox."""
    ident = (host_root and identity(host_root)) or identity(hub, hub=True)
    return ident or (f"isollm {name}", f"{name}@isollm.invalid")
