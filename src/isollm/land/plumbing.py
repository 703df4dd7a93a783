"""The git plumbing of landing, run by host git in the hub (checked, hooks off).

Nothing here touches a checkout: merges are computed with ``git merge-tree
--write-tree`` (objects only), commits made with ``commit-tree`` and refs moved by
compare-and-set. Every command goes through :meth:`isollm.git.facade.Git.run` of the
hub's facade (:meth:`isollm.git.hub.Hub.git`), whose environment turns hooks off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from isollm import proc
from isollm.errors import GitError
from isollm.git.facade import Git
from isollm.git.hub import HOST_GIT_ENV
from isollm.git.parse import zsplit

# merge-tree exits 1 when the merge has conflicts (the tree is still written).
_CONFLICTS = 1
_USAGE = 129
# Whether this git knows ``merge-tree --merge-base`` (2.40+); found out on first use.
_MERGE_BASE_OPTION = [True]
_FIELD = "\x1f"
MAX_COMMITS_LISTED = 50


@dataclass(frozen=True)
class MergeTree:
    """What merging ``theirs`` into ``ours`` gives: a tree, or the conflicting paths."""

    tree: str
    conflicts: tuple[str, ...] = ()

    @property
    def clean(self) -> bool:
        return not self.conflicts


@dataclass(frozen=True)
class Author:
    name: str
    email: str
    date: str  # git's raw form: "<seconds> <zone>"


@dataclass(frozen=True)
class Commit:
    sha: str
    subject: str
    author: Author
    parents: tuple[str, ...]


@dataclass(frozen=True)
class FileStat:
    """One file of a diff: lines added and deleted (None for a binary file)."""

    path: str
    added: int | None
    deleted: int | None

    def to_json(self) -> dict[str, object]:
        return {"path": self.path, "added": self.added, "deleted": self.deleted}


def merge_tree(git: Git, ours: str, theirs: str, merge_base: str | None = None) -> MergeTree:
    """The merge of ``theirs`` into ``ours`` as a tree (written to the object database)."""
    args = ["merge-tree", "--write-tree", "-z", "--name-only", "--no-messages"]
    if merge_base and _MERGE_BASE_OPTION[0]:
        base = f"--merge-base={merge_base}"
        result = git.run(*args, base, "--end-of-options", ours, theirs, check=False)
        if result.returncode != _USAGE:
            return _merged(result, ours, theirs)
        _MERGE_BASE_OPTION[0] = False  # git < 2.40: merge with the base git finds
    return _merged(git.run(*args, "--end-of-options", ours, theirs, check=False), ours, theirs)


def _merged(result: proc.Result, ours: str, theirs: str) -> MergeTree:
    if result.returncode not in (0, _CONFLICTS):
        raise GitError(proc.describe_failure(result))
    fields = zsplit(result.stdout)
    if not fields:
        raise GitError(f"git merge-tree printed no tree for {ours} and {theirs}")
    conflicts = tuple(sorted(set(fields[1:]))) if result.returncode == _CONFLICTS else ()
    if result.returncode == _CONFLICTS and not conflicts:
        conflicts = ("(a conflict git names no file for)",)
    return MergeTree(fields[0], conflicts)


def commit_tree(
    git: Git, tree: str, parents: tuple[str, ...], message: str, author: Author | None = None
) -> str:
    """A new commit of ``tree`` on ``parents``; ``author`` kept when replaying a commit."""
    if author is not None:
        env = {
            "GIT_AUTHOR_NAME": author.name,
            "GIT_AUTHOR_EMAIL": author.email,
            "GIT_AUTHOR_DATE": author.date,
        }
        git = Git(git.cwd, {**HOST_GIT_ENV, **env})  # a hub facade: hooks stay off
    args = ["commit-tree", tree]
    for parent in parents:
        args += ["-p", parent]
    return git.run(*args, "-F", "-", input=message).stdout.strip()


def merge_base(git: Git, a: str, b: str) -> str | None:
    """The best common ancestor of two commits; None when they share no history."""
    result = git.run("merge-base", "--end-of-options", a, b, check=False)
    if result.ok:
        return result.stdout.strip()
    if result.returncode == 1:
        return None
    raise GitError(proc.describe_failure(result))


def empty_tree(git: Git) -> str:
    """The empty tree (for a diff of a branch with no history in common)."""
    return git.run("hash-object", "-t", "tree", "-w", "--stdin", input="").stdout.strip()


def tree_of(git: Git, commit: str) -> str:
    return git.out("rev-parse", "--verify", "--end-of-options", f"{commit}^{{tree}}")


def commits(
    git: Git,
    base: str | None,
    head: str,
    *,
    limit: int | None = None,
    paths: Sequence[str] = (),
) -> list[Commit]:
    """Commits of ``head`` not in ``base``, oldest first (merges left out); with
    ``paths``, only those that change one of them (names taken literally)."""
    fmt = _FIELD.join(["%H", "%P", "%an", "%ae", "%ad", "%s"])
    args = ["log", "--reverse", "--topo-order", "--no-merges", "--date=raw", f"--format={fmt}"]
    args += [f"--max-count={limit}"] if limit else []
    spec = [head, f"^{base}"] if base else [head]
    pathspec = [f":(literal){p}" for p in paths]
    found = []
    for line in git.lines([*args, "--end-of-options", *spec, "--", *pathspec]):
        sha, parents, name, email, date, subject = line.split(_FIELD, 5)
        found.append(Commit(sha, subject, Author(name, email, date), tuple(parents.split())))
    return found


def numstat(git: Git, old: str, new: str) -> list[FileStat]:
    """Lines added and deleted per file between two commits or trees."""
    text = git.run(
        "diff", "--numstat", "-z", "--no-renames", "--no-ext-diff", old, new, "--"
    ).stdout
    stats = []
    for entry in zsplit(text):
        added, deleted, path = entry.split("\t", 2)
        stats.append(
            FileStat(
                path, None if added == "-" else int(added), None if deleted == "-" else int(deleted)
            )
        )
    return stats


def patch(git: Git, old: str, new: str) -> str:
    """The patch from ``old`` to ``new`` (commits or trees), without colour or drivers."""
    return git.run(
        "diff", "--no-color", "--no-ext-diff", "--no-textconv", "--no-renames", old, new, "--"
    ).stdout


def landed_by_trailer(git: Git, target: str, trailer: str) -> bool:
    """Whether a commit on ``target``'s first-parent line carries ``trailer`` as a line
    of its own (a subject or a line merely containing it does not count)."""
    text = git.run(
        "log",
        "--first-parent",
        "-F",
        f"--grep={trailer}",
        "--format=%B",
        "--end-of-options",
        target,
        "--",
    ).stdout
    return any(line.strip() == trailer for line in text.splitlines())


def refs_under(git: Git, prefix: str) -> dict[str, str]:
    """Every ref below ``prefix`` and the object it names."""
    text = git.run("for-each-ref", "--format=%(refname)%00%(objectname)", "--", prefix).stdout
    refs = {}
    for line in text.splitlines():
        name, _, sha = line.partition("\0")
        if name and sha:
            refs[name] = sha
    return refs
