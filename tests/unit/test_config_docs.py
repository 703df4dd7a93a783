"""docs/configuration.md documents every key of isollm.yaml with its real default."""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from isollm.config import Config

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
ROW = re.compile(r"^\| `([a-z_.]+)` \| `(.*?)` \|", re.MULTILINE)


def leaves(cls: type, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, default) for every setting; sections are walked, not listed."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if dataclasses.is_dataclass(hints[f.name]):
            yield from leaves(hints[f.name], f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", default


DOCUMENTED = dict(ROW.findall(DOC.read_text(encoding="utf-8")))
KEYS = dict(leaves(Config))


@pytest.mark.parametrize("key", sorted(KEYS))
def test_every_key_is_documented_with_its_default(key: str) -> None:
    assert key in DOCUMENTED, f"add a row for `{key}` to {DOC.name}"
    assert DOCUMENTED[key] == json.dumps(KEYS[key]), f"the default of `{key}` in {DOC.name}"


def test_the_docs_describe_no_key_that_does_not_exist() -> None:
    assert sorted(set(DOCUMENTED) - set(KEYS)) == []
