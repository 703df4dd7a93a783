"""A manifest of the base at run start: branch, commit, tree and every tracked file.

A run works from one commit of the base branch. The snapshot pins it, so a resumed run
can tell whether the base is still what the run started from, and a receipt's base
commit can be checked against it. The file list comes from ``git ls-tree -r -z`` and
is parsed by the pure :func:`parse_ls_tree`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from isollm.errors import GitError, RunError
from isollm.git.facade import Git, zsplit
from isollm.runner import records
from isollm.runner.idempotency import canonical_json
from isollm.runner.ledger import now

FORMAT = 1


@dataclass(frozen=True)
class TreeEntry:
    """One entry of ``git ls-tree -r``: a blob (file or symlink) or a commit (submodule)."""

    path: str
    mode: str
    type: str
    object: str


@dataclass(frozen=True)
class Snapshot:
    id: str  # snap-<12 hex>: the same files at the same ids give the same id
    base_branch: str
    commit: str
    tree: str
    taken: str
    files: list[TreeEntry] = field(default_factory=list)
    format: int = FORMAT


def parse_ls_tree(text: str) -> list[TreeEntry]:
    """Entries of ``git ls-tree -r -z`` output: ``<mode> SP <type> SP <object> TAB <path>``.

    With ``-z`` paths are not quoted, so tabs, newlines and quotes in names come through.
    """
    entries = []
    for record in zsplit(text):
        meta, sep, path = record.partition("\t")
        parts = meta.split(" ")
        if not sep or len(parts) != 3 or not path:
            raise ValueError(f"not an ls-tree record: {record!r}")
        mode, kind, obj = parts
        entries.append(TreeEntry(path=path, mode=mode, type=kind, object=obj))
    return entries


def snapshot_id(files: list[TreeEntry]) -> str:
    listing = [[f.path, f.mode, f.type, f.object] for f in files]
    return "snap-" + hashlib.sha256(canonical_json(listing)).hexdigest()[:12]


def capture(repo: Path, base_branch: str) -> Snapshot:
    """The snapshot of ``base_branch`` (any revision git resolves) in ``repo``."""
    git = Git(repo)
    commit = _resolve(git, base_branch, "commit")
    tree = _resolve(git, commit, "tree")
    listing = git.run("ls-tree", "-r", "-z", "--full-tree", "--end-of-options", commit).stdout
    files = sorted(parse_ls_tree(listing), key=lambda f: f.path)
    return Snapshot(snapshot_id(files), base_branch, commit, tree, now(), files)


def _resolve(git: Git, rev: str, kind: str) -> str:
    try:
        return git.out("rev-parse", "--verify", "--end-of-options", f"{rev}^{{{kind}}}")
    except GitError as exc:
        raise RunError(
            f"cannot snapshot the base: {rev!r} is not a {kind} in {git.cwd}",
            hint="check git.base_branch in isollm.yaml and that the branch has a commit",
        ) from exc


def base_unchanged(repo: Path, snapshot: Snapshot) -> bool:
    """Whether ``snapshot.base_branch`` still points at the snapshot's commit in ``repo``."""
    result = Git(repo).run(
        "rev-parse",
        "--verify",
        "--quiet",
        "--end-of-options",
        f"{snapshot.base_branch}^{{commit}}",
        check=False,
    )
    return result.ok and result.stdout.strip() == snapshot.commit


def write(path: Path, snapshot: Snapshot) -> None:
    """Write the manifest atomically as JSON."""
    records.write(path, snapshot)


def load(path: Path) -> Snapshot:
    return records.read(Snapshot, path, "snapshot manifest")
