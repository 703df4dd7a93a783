"""The optional review stage (seed 003's builder -> reviewer): a second agent reads the
task's diff and approves it or asks for changes, which go back to the implementing agent.

The reviewer answers in plain text; its verdict is the last line of its output that
starts with ``VERDICT:`` — ``VERDICT: APPROVE`` or ``VERDICT: CHANGES`` followed by what
to change. A reviewer that fails or gives no verdict counts as asking for changes.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path

from isollm import fsutil

DIFF_SHOWN = 60_000
_VERDICT = re.compile(r"^\s*VERDICT:\s*(APPROVE|CHANGES)\b[:\s-]*(.*)$", re.I | re.M)


class Verdict(StrEnum):
    APPROVE = "approve"
    CHANGES = "changes"


def review_prompt(task_id: str, title: str, description: str, diff: str) -> str:
    shown = diff if len(diff) <= DIFF_SHOWN else diff[:DIFF_SHOWN] + "\n[diff cut short]\n"
    return (
        f"Review the change made for task {task_id}: {title}\n\n"
        f"{description.strip()}\n\n"
        "Do not edit any file. Read the diff below (and the checkout, if you need more).\n"
        "End your answer with one line: `VERDICT: APPROVE` if the change does the task\n"
        "well, or `VERDICT: CHANGES` followed by what must change.\n\n"
        f"```diff\n{shown}```\n"
    )


def parse_verdict(text: str) -> tuple[Verdict, str] | None:
    """The last VERDICT line of ``text`` and the feedback after it, or None."""
    found = list(_VERDICT.finditer(text))
    if not found:
        return None
    last = found[-1]
    verdict = Verdict.APPROVE if last.group(1).upper() == "APPROVE" else Verdict.CHANGES
    feedback = (last.group(2) + text[last.end() :]).strip()
    return verdict, feedback


def verdict_of(ok: bool, summary: str, log_path: Path) -> tuple[Verdict, str]:
    """The reviewer's verdict from its summary, else from the end of its log."""
    if not ok:
        return Verdict.CHANGES, "the reviewer could not finish; check the change carefully"
    parsed = parse_verdict(summary)
    if parsed is None:
        tail = fsutil.read_tail(log_path, 20_000)
        parsed = parse_verdict(tail.decode(errors="replace")) if tail else None
    if parsed is None:
        return Verdict.CHANGES, "the reviewer gave no VERDICT line"
    return parsed
