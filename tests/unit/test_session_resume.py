"""Which Codex conversation a worker's pane resumes: the id read from the first line of
the newest interactive rollout in the worker's working directory, never anything else
the agent could plant in its home."""

from __future__ import annotations

import json
import os
from pathlib import Path

from isollm.agents import get_agent
from isollm.agents.resume import (
    ROLLOUT_HEAD,
    codex_conversation,
    has_conversation,
    to_resume,
)

WORKDIR = Path("/work/shop")
OLD = "019aa001-0000-7000-8000-000000000001"
NEW = "019aa001-0000-7000-8000-000000000002"


def rollout(
    home: Path,
    conversation: str,
    *,
    when: int,
    cwd: Path = WORKDIR,
    source: object = "cli",
    tail: str = "",
) -> Path:
    """A rollout as Codex writes it: ``session_meta`` first, modified at ``when``."""
    folder = home / ".codex" / "sessions" / "2026" / "12" / "05"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"rollout-2026-12-05T09-00-{when:02d}-{conversation}.jsonl"
    meta = {"id": conversation, "cwd": str(cwd), "source": source, "originator": "codex_tui"}
    path.write_text(json.dumps({"type": "session_meta", "payload": meta}) + "\n" + tail)
    os.utime(path, (1_700_000_000 + when, 1_700_000_000 + when))
    return path


def test_the_newest_interactive_conversation_of_the_workdir_is_resumed(tmp_path: Path) -> None:
    assert codex_conversation(tmp_path, WORKDIR) is None
    assert to_resume("codex", tmp_path, WORKDIR) is False
    rollout(tmp_path, OLD, when=1)
    rollout(tmp_path, NEW, when=2)
    assert codex_conversation(tmp_path, WORKDIR) == NEW
    rollout(tmp_path, OLD, when=3)  # written to last: the one resumed before, continued
    assert to_resume("codex", tmp_path, WORKDIR) == OLD
    assert has_conversation("codex", tmp_path, WORKDIR)


def test_headless_other_directories_and_subagents_are_not_resumed(tmp_path: Path) -> None:
    rollout(tmp_path, OLD, when=1)
    rollout(tmp_path, "019aa001-0000-7000-8000-00000000000a", when=2, source="exec")
    rollout(tmp_path, "019aa001-0000-7000-8000-00000000000b", when=3, cwd=Path("/elsewhere"))
    rollout(tmp_path, "019aa001-0000-7000-8000-00000000000c", when=4, source={"subagent": "x"})
    assert codex_conversation(tmp_path, WORKDIR) == OLD


def test_only_an_id_that_is_a_uuid_is_used(tmp_path: Path) -> None:
    for when, planted in enumerate(("--last", "../../etc", "x" * 36, f"{NEW} --yolo"), 1):
        rollout(tmp_path, planted.replace("/", "_"), when=when)
        path = next(p for p in tmp_path.rglob("*.jsonl") if planted.replace("/", "_") in p.name)
        meta = {"id": planted, "cwd": str(WORKDIR), "source": "cli"}
        path.write_text(json.dumps({"type": "session_meta", "payload": meta}) + "\n")
    assert codex_conversation(tmp_path, WORKDIR) is None


def test_a_long_conversation_is_read_no_further_than_its_head(tmp_path: Path) -> None:
    rollout(tmp_path, NEW, when=1, tail='{"type":"response_item"}\n' * (ROLLOUT_HEAD // 10))
    assert codex_conversation(tmp_path, WORKDIR) == NEW
    huge_first_line = {"type": "session_meta", "payload": {"id": OLD, "pad": "x" * ROLLOUT_HEAD}}
    path = rollout(tmp_path, OLD, when=2)
    path.write_text(json.dumps(huge_first_line) + "\n")
    assert codex_conversation(tmp_path, WORKDIR) == NEW, "a cut first line is no conversation"


def test_garbage_and_planted_links_are_not_conversations(tmp_path: Path) -> None:
    home = tmp_path / "home"
    folder = home / ".codex" / "sessions" / "2026"
    folder.mkdir(parents=True)
    (folder / "rollout-a.jsonl").write_bytes(b"\xff\xfe not json\n")
    (folder / "rollout-b.jsonl").write_text("[" * 100_000 + "\n")
    (folder / "rollout-c.jsonl").write_text('{"type": "session_meta", "payload": 3}\n')
    os.mkfifo(folder / "rollout-d.jsonl")
    elsewhere = rollout(tmp_path / "outside", NEW, when=1)
    (folder / "rollout-e.jsonl").symlink_to(elsewhere)
    assert codex_conversation(home, WORKDIR) is None
    (home / ".codex" / "sessions").rename(home / "real")
    (home / ".codex" / "sessions").symlink_to(elsewhere.parent.parent.parent.parent)
    assert codex_conversation(home, WORKDIR) is None


def test_codex_resumes_a_conversation_by_id_with_its_first_prompt() -> None:
    agent = get_agent("codex")
    argv = agent.interactive_argv("go", auto_approve=True, resume=NEW)
    assert argv[:3] == ["codex", "resume", NEW]
    assert argv[-2:] == ["--", "go"]
    assert "--dangerously-bypass-approvals-and-sandbox" in argv
    assert "--last" not in argv
    idle = agent.interactive_argv("", resume=NEW)
    assert idle[:3] == ["codex", "resume", NEW]
    assert "--" not in idle


def test_claude_continues_its_last_conversation_by_itself(tmp_path: Path) -> None:
    folder = tmp_path / ".claude" / "projects" / "-work-shop"
    folder.mkdir(parents=True)
    (folder / f"{NEW}.jsonl").write_text("{}\n")
    assert to_resume("claude", tmp_path, WORKDIR) is True
    assert get_agent("claude").interactive_argv("go", resume=True)[:2] == ["claude", "--continue"]
    assert to_resume("aider", tmp_path, WORKDIR) is False
