"""Pure parsers for git's machine-readable output (``-z`` and NUL-separated formats).

Nothing here runs git: each function takes the text a command printed and returns
typed records, so every corner (spaces, newlines or quotes in paths, renames) is
tested without a repository.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

# for-each-ref prints this per ref, then a newline: fields end in NUL, so a record ends
# in NUL + newline, which no field can contain.
REF_FIELDS = ("%(refname)", "%(objectname)", "%(committerdate:unix)", "%(subject)")
REF_FORMAT = "".join(f"{field}%00" for field in REF_FIELDS)
_REF_END = "\0\n"


def zsplit(text: str) -> list[str]:
    """Split NUL-terminated ``-z`` output into its records."""
    text = text.rstrip("\0")
    return text.split("\0") if text else []


@dataclass(frozen=True)
class RefInfo:
    """One ref as for-each-ref reports it: full name, commit, commit time, subject."""

    ref: str
    sha: str
    time: datetime
    subject: str

    @property
    def short(self) -> str:
        """``refs/heads/isollm/t1`` -> ``isollm/t1`` (other refs keep their full name)."""
        return self.ref.removeprefix("refs/heads/")


@dataclass(frozen=True)
class BranchRef:
    """A branch by its short name, with the commit it points at, its time and subject."""

    name: str
    sha: str
    time: datetime
    subject: str

    @classmethod
    def from_ref(cls, ref: RefInfo) -> BranchRef:
        return cls(ref.short, ref.sha, ref.time, ref.subject)


def parse_refs(text: str) -> list[RefInfo]:
    """Records printed by ``for-each-ref --format=REF_FORMAT``."""
    refs = []
    for record in text.split(_REF_END):
        if not record:
            continue
        ref, sha, stamp, subject = record.split("\0")
        when = datetime.fromtimestamp(int(stamp), UTC) if stamp else datetime.fromtimestamp(0, UTC)
        refs.append(RefInfo(ref, sha, when, subject))
    return refs


def parse_ahead_behind(text: str) -> tuple[int, int]:
    """``rev-list --left-right --count A...B`` -> (only in A, only in B)."""
    left, right = text.split()
    return int(left), int(right)


@dataclass(frozen=True)
class Worktree:
    """One entry of ``worktree list --porcelain -z``; ``branch`` is a full ref or None."""

    path: str
    head: str | None
    branch: str | None
    bare: bool = False
    detached: bool = False


def _worktree(lines: list[str]) -> Worktree:
    fields: dict[str, str] = {}
    for line in lines:
        key, _, value = line.partition(" ")
        fields[key] = value
    return Worktree(
        path=fields.get("worktree", ""),
        head=fields.get("HEAD"),
        branch=fields.get("branch"),
        bare="bare" in fields,
        detached="detached" in fields,
    )


def parse_worktrees(text: str) -> list[Worktree]:
    """Entries of ``worktree list --porcelain -z``: attributes end in NUL, entries in two."""
    return [_worktree(block.split("\0")) for block in text.split("\0\0") if block.strip("\0")]
