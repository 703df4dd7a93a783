"""The commented ``isollm.yaml`` that ``isollm init`` writes, generated from the model."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from isollm.config.model import Config

_PLAIN = re.compile(r"^[A-Za-z][A-Za-z0-9._/:@-]*$")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}

HEADER = """\
# isollm project configuration. Every key is optional except `project`;
# `isollm config show` prints the values in force, `isollm config validate` checks them.
"""


def _scalar(value: Any) -> str:
    if isinstance(value, str) and _PLAIN.match(value) and value.lower() not in _RESERVED:
        return value
    return json.dumps(value)


def _lines(obj: Any, indent: int) -> list[str]:
    out: list[str] = []
    pad = " " * indent
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        help_text = f.metadata.get("help", "")
        if help_text:
            out.append(f"{pad}# {help_text}")
        if dataclasses.is_dataclass(value):
            out.append(f"{pad}{f.name}:")
            out.extend(_lines(value, indent + 2))
        else:
            out.append(f"{pad}{f.name}: {_scalar(value)}")
        if indent == 0:
            out.append("")
    return out


def render(config: Config) -> str:
    """YAML text for ``config`` with a comment above every key."""
    return HEADER + "\n" + "\n".join(_lines(config, 0)).rstrip() + "\n"
