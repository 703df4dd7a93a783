"""A scripted stand-in for a coding agent, used by ``isollm demo`` (no model, no network).

Run as ``python -m isollm.demo.agent PROMPT`` in a workspace. The prompt is the task as
isollm gives it to any agent; this agent follows the "recipes" in it: each fenced block
opened with ```` ```file PATH ```` is written to PATH (relative to the workspace), and a
block opened with ```` ```append PATH ```` is appended. It prints what it did, the way
a real agent reports, and fails when the prompt holds no recipe.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

RECIPE = re.compile(r"^```(file|append) +(\S+)\n(.*?)^```\s*$", re.M | re.S)


def apply(prompt: str, workdir: Path) -> list[str]:
    """Write every recipe block of ``prompt`` under ``workdir``; return what was done."""
    done = []
    root = workdir.resolve()
    for kind, rel, body in RECIPE.findall(prompt):
        target = (root / rel).resolve()
        if root not in target.parents:
            raise ValueError(f"refusing to write outside the workspace: {rel}")
        target.parent.mkdir(parents=True, exist_ok=True)
        mode = "a" if kind == "append" else "w"
        with target.open(mode, encoding="utf-8") as f:
            f.write(body)
        done.append(f"{'appended to' if kind == 'append' else 'wrote'} {rel}")
    return done


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m isollm.demo.agent PROMPT\n")
        return 2
    actions = apply(args[0], Path.cwd())
    if not actions:
        sys.stderr.write("demo agent: the task holds no ```file PATH recipe; nothing to do\n")
        return 1
    for line in actions:
        sys.stdout.write(f"demo agent: {line}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
