"""Keys earlier versions of isollm accepted although nothing read them.

They are no longer accepted: a retired key set to a value is an error that says what to
do instead, so nobody relies on a setting that does nothing. Left empty (as
``isollm init`` used to write them) it is only a warning to delete it, so an older
``isollm.yaml`` still loads. Each is removed from the document before the model is
built, so it is reported here and not again as an unknown key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from isollm.config.report import Report

# dotted key -> why it is gone and what to do instead.
RETIRED: dict[str, str] = {
    "ports": (
        "isollm forwards no ports: a sandbox with `sandbox.network: host` shares the "
        "host's ports, and one with `none` has no network"
    ),
    "git.upstream": (
        "isollm never fetched from it: the hub's base is your local `git.base_branch`; "
        "bring upstream changes into it (git pull) before `isollm run`"
    ),
    "claude.args": "use `agent.args` (the default agent) or `agent.per_agent.claude.args`",
}


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and len(value) == 0)


def remove_retired(data: Any, report: Report) -> Any:
    """``data`` (the parsed document) without the retired keys, each one reported."""
    if not isinstance(data, Mapping):
        return data
    out = dict(data)
    for dotted, why in RETIRED.items():
        section, _, key = dotted.rpartition(".")
        holder = out
        if section:
            inner = out.get(section)
            if not isinstance(inner, Mapping) or key not in inner:
                continue
            holder = out[section] = dict(inner)
        elif key not in holder:
            continue
        value = holder.pop(key)
        if _empty(value):
            report.warn(dotted, "no longer used (it never did anything): delete it")
        else:
            report.error(dotted, f"no longer supported (it never did anything): {why}; delete it")
    return out
