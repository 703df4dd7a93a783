"""Checks on values entering the store, shared by the store and the HTTP layer.

Each returns a list of problems (airyra's ``details``) rather than raising, so a
request with several mistakes is answered with all of them at once.
"""

from __future__ import annotations

import re

from isollm.tasks.store.errors import ValidationFailedError
from isollm.tasks.store.model import NewTask, SpecPatch, TaskPatch
from isollm.tasks.store.protocol import MAX_LEASE_SECONDS, MIN_LEASE_SECONDS

VALID_PROJECT = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_TITLE = 1000
MAX_TEXT = 100_000
MAX_AGENT = 200


def text_problem(name: str, value: str | None, *, required: bool, limit: int) -> str | None:
    if value is None:
        return f"{name} is required" if required else None
    if required and not value.strip():
        return f"{name} cannot be empty"
    if len(value) > limit:
        return f"{name} cannot exceed {limit} characters"
    if "\x00" in value:  # no C string (argv, environment, file name) can carry it
        return f"{name} cannot contain a NUL character (\\0); remove it and try again"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return f"{name} is not valid UTF-8 text"
    return None


def priority_problem(value: int | None) -> str | None:
    if value is not None and not 0 <= value <= 4:
        return "priority must be between 0 and 4"
    return None


def _raise(problems: list[str | None]) -> None:
    found = [p for p in problems if p]
    if found:
        raise ValidationFailedError.of(*found)


def check_new_task(new: NewTask) -> None:
    _raise(
        [
            text_problem("title", new.title, required=True, limit=MAX_TITLE),
            text_problem("description", new.description, required=False, limit=MAX_TEXT),
            priority_problem(new.priority),
            text_problem("parent_id", new.parent_id, required=False, limit=MAX_TITLE),
            text_problem("spec_id", new.spec_id, required=False, limit=MAX_TITLE),
        ]
    )


def check_patch(patch: TaskPatch) -> None:
    _raise(
        [
            None
            if patch.title is None
            else text_problem("title", patch.title, required=True, limit=MAX_TITLE),
            text_problem("description", patch.description, required=False, limit=MAX_TEXT),
            priority_problem(patch.priority),
            text_problem("parent_id", patch.parent_id, required=False, limit=MAX_TITLE),
        ]
    )


def check_spec(title: str | None, description: str | None, *, new: bool) -> None:
    _raise(
        [
            None
            if title is None and not new
            else text_problem("title", title, required=True, limit=MAX_TITLE),
            text_problem("description", description, required=False, limit=MAX_TEXT),
        ]
    )


def check_spec_patch(patch: SpecPatch) -> None:
    check_spec(patch.title, patch.description, new=False)


def check_agent(agent: str) -> None:
    if agent and agent.isascii() and len(agent) <= MAX_AGENT and not agent.isspace():
        return  # the common case, checked on every claim
    _raise([text_problem("agent", agent, required=True, limit=MAX_AGENT)])


def check_lease(seconds: float) -> None:
    if not MIN_LEASE_SECONDS <= seconds <= MAX_LEASE_SECONDS:
        raise ValidationFailedError.of(
            f"lease_seconds must be between {MIN_LEASE_SECONDS:g} and {MAX_LEASE_SECONDS:g}"
        )


def check_project(name: str) -> None:
    if not VALID_PROJECT.match(name):
        raise ValidationFailedError.of(
            "Invalid project name. Must be 1-64 alphanumeric characters, hyphens, or underscores."
        )
