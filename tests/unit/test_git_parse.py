"""The pure parsers of git's machine-readable output."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from isollm.git.parse import (
    REF_FORMAT,
    BranchRef,
    RefInfo,
    Worktree,
    parse_ahead_behind,
    parse_refs,
    parse_worktrees,
    zsplit,
)

SHA1 = "1" * 40
SHA2 = "2" * 40


@pytest.mark.parametrize(
    ("text", "records"),
    [
        ("", []),
        ("\0", []),
        ("a\0", ["a"]),
        ("a\0b c\0", ["a", "b c"]),
        ("new\nline\0x", ["new\nline", "x"]),
    ],
)
def test_zsplit(text: str, records: list[str]) -> None:
    assert zsplit(text) == records


def test_ref_format_ends_every_field_with_nul() -> None:
    assert REF_FORMAT.count("%00") == 4
    assert REF_FORMAT.endswith("%00")


def test_parse_refs_reads_records_ending_in_nul_newline() -> None:
    text = (
        f"refs/heads/isollm/t1\0{SHA1}\0{1700000000}\0fix: a [b] c\0\n"
        f"refs/heads/main\0{SHA2}\0{1700000060}\0subject\twith tab\0\n"
    )
    assert parse_refs(text) == [
        RefInfo(
            "refs/heads/isollm/t1",
            SHA1,
            datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
            "fix: a [b] c",
        ),
        RefInfo(
            "refs/heads/main",
            SHA2,
            datetime(2023, 11, 14, 22, 14, 20, tzinfo=UTC),
            "subject\twith tab",
        ),
    ]


def test_parse_refs_of_nothing_is_empty() -> None:
    assert parse_refs("") == []


def test_parse_refs_keeps_an_empty_subject() -> None:
    (ref,) = parse_refs(f"refs/heads/x\0{SHA1}\0{5}\0\0\n")
    assert ref.subject == ""
    assert ref.time == datetime.fromtimestamp(5, UTC)


def test_short_name_and_branch_ref() -> None:
    ref = RefInfo("refs/heads/isollm/t1", SHA1, datetime.fromtimestamp(0, UTC), "s")
    assert ref.short == "isollm/t1"
    assert RefInfo("refs/remotes/o/x", SHA1, ref.time, "s").short == "refs/remotes/o/x"
    assert BranchRef.from_ref(ref) == BranchRef("isollm/t1", SHA1, ref.time, "s")


@pytest.mark.parametrize(("text", "pair"), [("0\t0", (0, 0)), ("3\t12\n", (3, 12))])
def test_parse_ahead_behind(text: str, pair: tuple[int, int]) -> None:
    assert parse_ahead_behind(text) == pair


def test_parse_worktrees() -> None:
    text = (
        f"worktree /repo\0HEAD {SHA1}\0branch refs/heads/main\0\0"
        f"worktree /wt/with space\0HEAD {SHA2}\0detached\0\0"
        "worktree /hub.git\0bare\0\0"
    )
    assert parse_worktrees(text) == [
        Worktree("/repo", SHA1, "refs/heads/main"),
        Worktree("/wt/with space", SHA2, None, detached=True),
        Worktree("/hub.git", None, None, bare=True),
    ]


def test_parse_worktrees_keeps_lock_reasons_apart() -> None:
    text = f"worktree /w\0HEAD {SHA1}\0branch refs/heads/x\0locked reason\0prunable gone\0\0"
    (wt,) = parse_worktrees(text)
    assert wt.branch == "refs/heads/x"
    assert parse_worktrees("") == []
