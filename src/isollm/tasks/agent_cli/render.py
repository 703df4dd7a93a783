"""What the agent CLI prints: tasks, lists, dependencies and history as text or JSON."""

from __future__ import annotations

import json
from typing import Any

from isollm.tasks.agent_cli.api import PRIORITIES, CliError


def emit(value: Any) -> None:
    print(json.dumps(value, indent=2))


def priority_text(value: Any) -> str:
    return (
        PRIORITIES[value] if isinstance(value, int) and 0 <= value < len(PRIORITIES) else str(value)
    )


def parse_priority(text: str) -> int:
    lowered = text.strip().lower()
    if lowered in PRIORITIES:
        return PRIORITIES.index(lowered)
    if lowered in {"0", "1", "2", "3", "4"}:
        return int(lowered)
    raise CliError(f"invalid priority: {text} (use 0-4 or critical/high/normal/low/lowest)")


def _when(value: str | None) -> str:
    return value.replace("T", " ")[:19] if value else ""


def show_task(task: dict[str, Any], as_json: bool, extra: dict[str, Any] | None = None) -> None:
    if as_json:
        emit({**task, **(extra or {})})
        return
    rows = [
        ("ID", task["id"]),
        ("Title", task["title"]),
        ("Status", task["status"]),
        ("Priority", priority_text(task.get("priority"))),
        ("Description", task.get("description")),
        ("Parent", task.get("parent_id")),
        ("Spec", task.get("spec_id")),
        ("Claimed By", task.get("claimed_by")),
        ("Claimed At", _when(task.get("claimed_at"))),
        ("Lease Ends", _when(task.get("lease_expires_at"))),
        *((k.title(), v) for k, v in (extra or {}).items()),
        ("Created", _when(task.get("created_at"))),
        ("Updated", _when(task.get("updated_at"))),
    ]
    for label, value in rows:
        if value not in (None, ""):
            print(f"{label + ':':<13} {value}")


def table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    for row in [header, ["-" * len(h) for h in header], *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip())


def show_list(result: dict[str, Any], as_json: bool, kind: str = "tasks") -> None:
    if as_json:
        emit(result)
        return
    items, pages = result.get("data") or [], result.get("pagination") or {}
    if not items:
        print(f"No {kind} found")
        return
    if kind == "tasks":
        table(
            ["ID", "TITLE", "STATUS", "PRIORITY"],
            [
                [t["id"], _cut(t["title"], 40), t["status"], priority_text(t["priority"])]
                for t in items
            ],
        )
    else:
        table(
            ["ID", "TITLE", "STATUS", "PROGRESS"],
            [
                [s["id"], _cut(s["title"], 40), s["status"], f"{s['done_count']}/{s['task_count']}"]
                for s in items
            ],
        )
    if pages.get("total_pages", 1) > 1:
        print(f"\nPage {pages['page']} of {pages['total_pages']} ({pages['total']} total {kind})")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def message(text: str, as_json: bool) -> None:
    emit({"message": text}) if as_json else print(text)


def show_deps(deps: list[dict[str, str]], owner: str, as_json: bool, kind: str) -> None:
    if as_json:
        emit(deps)
    elif not deps:
        print(f"{kind} {owner} has no dependencies")
    else:
        table(["TYPE", f"{kind.upper()} ID"], [["depends on", d["parent_id"]] for d in deps])


def show_history(entries: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        emit(entries)
        return
    if not entries:
        print("No history found")
        return
    table(
        ["TIME", "ACTION", "FIELD", "OLD", "NEW", "BY"],
        [
            [
                _when(e["changed_at"]),
                e["action"],
                e.get("field") or "",
                _cut(e.get("old_value") or "", 20),
                _cut(e.get("new_value") or "", 20),
                _cut(e["changed_by"], 30),
            ]
            for e in entries
        ],
    )


def show_spec(spec: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit(spec)
        return
    for label, value in (
        ("ID", spec["id"]),
        ("Title", spec["title"]),
        ("Status", spec["status"]),
        ("Description", spec.get("description")),
        ("Tasks", f"{spec['done_count']}/{spec['task_count']} done"),
        ("Created", _when(spec["created_at"])),
        ("Updated", _when(spec["updated_at"])),
    ):
        if value:
            print(f"{label + ':':<13} {value}")
