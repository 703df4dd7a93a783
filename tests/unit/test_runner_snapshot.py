"""Parsing ``git ls-tree -r -z`` output (pure; the real-git tests are in integration)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isollm.runner.snapshot import TreeEntry, parse_ls_tree, snapshot_id

BLOB = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"


def test_parses_blobs_symlinks_and_submodules() -> None:
    text = (
        f"100644 blob {BLOB}\tREADME.md\0"
        f"100755 blob {BLOB}\tbin/run me\0"
        f"120000 blob {BLOB}\tlink\0"
        f"160000 commit {'1' * 40}\tvendor/lib\0"
    )
    assert parse_ls_tree(text) == [
        TreeEntry("README.md", "100644", "blob", BLOB),
        TreeEntry("bin/run me", "100755", "blob", BLOB),
        TreeEntry("link", "120000", "blob", BLOB),
        TreeEntry("vendor/lib", "160000", "commit", "1" * 40),
    ]


def test_empty_output_is_an_empty_tree() -> None:
    assert parse_ls_tree("") == []


PATHS = st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), min_size=1)


@given(st.lists(PATHS, max_size=8))
def test_any_path_survives_unquoted(paths: list[str]) -> None:
    text = "".join(f"100644 blob {BLOB}\t{p}\0" for p in paths)
    assert [e.path for e in parse_ls_tree(text)] == paths


@pytest.mark.parametrize("record", ["100644 blob", f"100644 {BLOB}\tx", f"100644 blob {BLOB}\t"])
def test_malformed_records_are_refused(record: str) -> None:
    with pytest.raises(ValueError, match="not an ls-tree record"):
        parse_ls_tree(record + "\0")


def test_the_id_depends_on_the_content_only() -> None:
    a = [TreeEntry("a", "100644", "blob", BLOB)]
    b = [TreeEntry("a", "100755", "blob", BLOB)]
    assert snapshot_id(a) == snapshot_id(list(a))
    assert snapshot_id(a) != snapshot_id(b)
    assert re.fullmatch(r"snap-[0-9a-f]{12}", snapshot_id(a))
