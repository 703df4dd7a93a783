"""The installed packages an npm package needs beside itself.

An agent CLI installed with npm is rarely one directory: Codex's ``@openai/codex``
starts a native program shipped in ``@openai/codex-linux-x64``, an optional dependency
installed next to it. A sandbox that shows only the package's own directory (a
container, or an install under a hidden home) needs those too: :func:`dependencies`
finds them the way node does, in the ``node_modules`` folders holding the package.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

# package.json fields naming what is installed for a package (absent ones are skipped:
# an optional dependency for another platform, a peer the user never installed).
FIELDS = ("dependencies", "optionalDependencies", "peerDependencies")
MANIFEST_LIMIT = 1 << 20
MOST_PACKAGES = 1000  # a bound on the walk, far above any agent CLI's


def declared(package: Path) -> list[str]:
    """The names ``package``'s ``package.json`` depends on (none if it cannot be read)."""
    try:
        with (package / "package.json").open("rb") as f:
            manifest = json.loads(f.read(MANIFEST_LIMIT))
    except (OSError, ValueError):
        return []
    if not isinstance(manifest, dict):
        return []
    names: list[str] = []
    for field in FIELDS:
        value = manifest.get(field)
        if isinstance(value, dict):
            names += [n for n in value if isinstance(n, str) and _valid(n)]
    return list(dict.fromkeys(names))


def _valid(name: str) -> bool:
    parts = name.split("/")
    scoped = len(parts) == 2 and parts[0].startswith("@")
    return (len(parts) == 1 or scoped) and all(p and p not in (".", "..") for p in parts)


def resolve(name: str, package: Path) -> Path | None:
    """Where node finds ``name`` required from ``package``: the nearest
    ``node_modules/<name>`` in ``package`` or a folder above it (its real path)."""
    for folder in (package, *package.parents):
        if folder.name == "node_modules":
            continue
        candidate = folder / "node_modules" / name
        if candidate.is_dir():
            return Path(os.path.realpath(candidate))
    return None


def dependencies(package: Path) -> list[Path]:
    """Every installed package ``package`` depends on, however indirectly, that is not
    inside ``package`` itself (shown with it) nor inside another one listed."""
    seen = {package}
    todo = [package]
    while todo and len(seen) < MOST_PACKAGES:
        current = todo.pop()
        for name in declared(current):
            found = resolve(name, current)
            if found is not None and found not in seen:
                seen.add(found)
                todo.append(found)
    outside = [p for p in seen if p != package and not p.is_relative_to(package)]
    return sorted(p for p in outside if not any(p != o and p.is_relative_to(o) for o in outside))
