"""Which conversation an agent resumes in a worker (for ``interactive_argv(resume=...)``).

A pane restarted after a crash, a reboot or an ``isollm down`` continues the agent's
conversation only when there is one: Claude Code's ``--continue`` stops with "No
conversation found" otherwise. Each CLI keeps its transcripts under the private home
isollm gives it:

- Claude Code: ``$CLAUDE_CONFIG_DIR/projects/<working dir, non-alphanumerics as ->/*.jsonl``
  (either of the two config dirs :meth:`ClaudeAgent.prepare` writes); ``--continue``
  finds the last one itself, only names are looked at;
- Codex: ``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-*.jsonl``, one per conversation,
  whose first line (``session_meta``) names its id, working directory and origin. Codex
  is given the id (``codex resume ID PROMPT``: ``--last`` takes no first prompt), read
  from the newest rollouts' first lines: an interactive conversation (what Codex's own
  ``--last`` picks) in the worker's working directory.

The home is writable by the agent: nothing here follows a symbolic link, a rollout is
read only through :func:`isollm.fsutil.read_bounded` (its first :data:`ROLLOUT_HEAD`
bytes), and of its content only an id that is a UUID is used.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

from isollm import fsutil
from isollm.agents.claude import CONFIG_DIR, KEY_HELPER_CONFIG_DIR
from isollm.agents.codex import CODEX_DIR

# Claude Code shortens longer directory names and appends a hash.
CLAUDE_NAME_MAX = 200
# Bounds on what is listed: a planted tree of many entries costs no more than this.
MAX_ENTRIES = 2000
TRANSCRIPT = ".jsonl"
ROLLOUT_HEAD = 256 * 1024  # what is read of a rollout: its first line fits
MAX_ROLLOUTS_READ = 20  # the newest rollouts looked into for the worker's conversation
INTERACTIVE = ("cli", "vscode")  # the origins Codex's own `resume --last` considers
CONVERSATION_ID = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


def claude_project_dir(workdir: Path) -> str:
    """The name Claude Code gives the transcripts folder of ``workdir``."""
    return re.sub(r"[^a-zA-Z0-9]", "-", str(workdir))


def has_conversation(agent: str, home: Path, workdir: Path) -> bool:
    """Whether agent ``agent`` (an adapter name) left a conversation under ``home`` (its
    private home, as the host sees it) for ``workdir`` (as the agent sees it)."""
    return bool(to_resume(agent, home, workdir))


def to_resume(agent: str, home: Path, workdir: Path) -> bool | str:
    """What ``interactive_argv(resume=...)`` is given: the id of the conversation to
    continue where the CLI is told one (Codex), True where it finds its last one itself
    (Claude Code), False when there is none (or the agent resumes nothing)."""
    if agent == "claude":
        return _claude(home, workdir)
    if agent == "codex":
        return codex_conversation(home, workdir) or False
    return False


def codex_conversation(home: Path, workdir: Path) -> str | None:
    """The id of the interactive Codex conversation in ``workdir`` written to last
    under ``home`` (see the module's docstring), or None."""
    if not _no_links(home, CODEX_DIR, "sessions"):
        return None
    rollouts = sorted(_transcripts(home / CODEX_DIR / "sessions", depth=4), key=_written)
    for path in reversed(rollouts[-MAX_ROLLOUTS_READ:]):
        conversation = _rollout_id(home, path.relative_to(home), workdir)
        if conversation is not None:
            return conversation
    return None


def _written(path: Path) -> float:
    try:
        return path.lstat().st_mtime
    except OSError:
        return 0.0


def _rollout_id(home: Path, rel: Path, workdir: Path) -> str | None:
    """The id a rollout's first line gives, if it is an interactive conversation in
    ``workdir``; None for anything else, unreadable or malformed."""
    try:
        head = fsutil.read_bounded(home, rel, limit=ROLLOUT_HEAD, head=True)
        record = json.loads(head.split(b"\n", 1)[0]) if head else None
    except (fsutil.UnsafeFileError, OSError, ValueError, RecursionError):
        return None  # a symlink, not a regular file, not JSON (ValueError: not UTF-8 too)
    if not isinstance(record, dict) or record.get("type") != "session_meta":
        return None
    meta = record.get("payload")
    if not isinstance(meta, dict):
        return None
    conversation = meta.get("id")
    if (
        meta.get("cwd") == str(workdir)
        and meta.get("source") in INTERACTIVE
        and isinstance(conversation, str)
        and CONVERSATION_ID.fullmatch(conversation)
    ):
        return conversation
    return None


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
