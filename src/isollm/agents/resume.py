"""Whether an agent has a conversation to resume in a worker (for ``interactive_argv``).

A pane restarted after a crash or a reboot continues the agent's last conversation
(``interactive_argv(..., resume=True)``) only when there is one: Claude Code's
``--continue`` stops with "No conversation found" otherwise. Each CLI keeps its
transcripts under the private home isollm gives it:

- Claude Code: ``$CLAUDE_CONFIG_DIR/projects/<working dir, non-alphanumerics as ->/*.jsonl``
  (either of the two config dirs :meth:`ClaudeAgent.prepare` writes);
- Codex: ``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-*.jsonl``.

The home is writable by the agent, so this only looks at names, never reads a file, and
never follows a symbolic link.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from isollm.agents.claude import CONFIG_DIR, KEY_HELPER_CONFIG_DIR
from isollm.agents.codex import CODEX_DIR

# Claude Code shortens longer directory names and appends a hash.
CLAUDE_NAME_MAX = 200
# Bounds on what is listed: a planted tree of many entries costs no more than this.
MAX_ENTRIES = 2000
TRANSCRIPT = ".jsonl"


def claude_project_dir(workdir: Path) -> str:
    """The name Claude Code gives the transcripts folder of ``workdir``."""
    return re.sub(r"[^a-zA-Z0-9]", "-", str(workdir))


def has_conversation(agent: str, home: Path, workdir: Path) -> bool:
    """Whether agent ``agent`` (an adapter name) left a conversation under ``home`` (its
    private home, as the host sees it) for ``workdir`` (as the agent sees it)."""
    if agent == "claude":
        return _claude(home, workdir)
    if agent == "codex":
        return _no_links(home, CODEX_DIR, "sessions") and any(
            _transcripts(home / CODEX_DIR / "sessions", depth=4)
        )
    return False


def _no_links(home: Path, *parts: str) -> bool:
    """Whether ``home/parts...`` is a directory reached through no symbolic link below ``home``."""
    path = home
    for part in parts:
        path = path / part
        if path.is_symlink() or not path.is_dir():
            return False
    return True


def _claude(home: Path, workdir: Path) -> bool:
    name = claude_project_dir(workdir)
    for config in (CONFIG_DIR, KEY_HELPER_CONFIG_DIR):
        if not _no_links(home, config, "projects"):
            continue
        for entry in _entries(home / config / "projects"):
            fits = entry.name == name or (
                len(name) > CLAUDE_NAME_MAX and entry.name.startswith(name[:CLAUDE_NAME_MAX] + "-")
            )
            if (
                fits
                and entry.is_dir(follow_symlinks=False)
                and any(_transcripts(Path(entry.path), depth=0))
            ):
                return True
    return False


def _entries(directory: Path) -> Iterator[os.DirEntry[str]]:
    """Up to :data:`MAX_ENTRIES` entries of ``directory``; none if it is not a real one."""
    if directory.is_symlink() or not directory.is_dir():
        return
    try:
        with os.scandir(directory) as found:
            for count, entry in enumerate(found):
                if count >= MAX_ENTRIES:
                    return
                yield entry
    except OSError:
        return


def _transcripts(directory: Path, depth: int) -> Iterator[Path]:
    """Regular ``*.jsonl`` files in ``directory`` and (``depth`` levels of) its folders."""
    for entry in _entries(directory):
        if entry.is_symlink():
            continue
        if entry.is_file() and entry.name.endswith(TRANSCRIPT):
            yield Path(entry.path)
        elif depth > 0 and entry.is_dir():
            yield from _transcripts(Path(entry.path), depth - 1)
