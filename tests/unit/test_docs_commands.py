"""Every `isollm …` command named in a hint, a help text or the docs exists, with its options.

Mentions are taken from string literals in src/ (hints, errors, help texts, docstrings)
and from README.md and docs/*.md (inline code and shell blocks), then walked down the
real click command tree: each word must be a command or subcommand, each option one the
command it ends on accepts. A command that is not built yet may be named only in docs
that describe the plan, marked on the same line with "(coming".
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from isollm.cli.root import cli
from isollm.git.hub import Hub
from isollm.git.sync import DivergedError, push_base
from tests.conftest import git

ROOT = Path(__file__).resolve().parents[2]
INLINE = re.compile(r"`isollm(?: [^`\n]*)?`")
SHELL_LINE = re.compile(r"^\s*(?:\$ )?(isollm(?: .*)?)$")
WORD = re.compile(r"[a-z][a-z0-9-]*")
OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")
QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")
PLANNED = "(coming"


@dataclass(frozen=True)
class Mention:
    where: str  # file:line
    text: str  # starts with "isollm"
    planned: bool = False


def _string_literals(path: Path) -> list[tuple[int, str]]:
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
    return [(t.start[0], t.string) for t in tokens if t.type == tokenize.STRING]


def source_mentions() -> list[Mention]:
    found = []
    for path in sorted((ROOT / "src").rglob("*.py")):
        for line, literal in _string_literals(path):
            where = f"{path.relative_to(ROOT)}:{line}"
            found += [Mention(where, m.group(0).strip("`")) for m in INLINE.finditer(literal)]
    return found


def doc_mentions() -> list[Mention]:
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        fenced = False
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            where, planned = f"{path.relative_to(ROOT)}:{number}", PLANNED in line
            if line.lstrip().startswith("```"):
                fenced = not fenced
                continue
            texts = [m.group(0).strip("`") for m in INLINE.finditer(line)]
            shell = SHELL_LINE.match(line.split(" #")[0].rstrip()) if fenced else None
            texts += [shell.group(1)] if shell else []
            found += [Mention(where, text, planned) for text in texts]
    return found


def _subcommand(group: click.Group, name: str) -> click.Command | None:
    return group.get_command(click.Context(group), name)


def _option_names(command: click.Command) -> set[str]:
    names = {"-h", "--help"}
    for param in command.params:
        if isinstance(param, click.Option):
            names.update(param.opts + param.secondary_opts)
    return names


def problems_of(text: str) -> list[str]:
    """What is wrong with one mention (empty when every word and option exists)."""
    words = text.split()[1:]
    command: click.Command = cli
    path = ["isollm"]
    rest: list[str] = []
    for i, word in enumerate(words):
        alternatives = word.replace("\\|", "|").split("|")
        if not isinstance(command, click.Group) or not all(WORD.fullmatch(a) for a in alternatives):
            rest = words[i:]
            break
        missing = [a for a in alternatives if _subcommand(command, a) is None]
        if missing:
            return [f"`{' '.join(path)} {'|'.join(missing)}` is not a command"]
        if len(alternatives) > 1:
            return []
        found = _subcommand(command, word)
        assert found is not None
        command, path = found, [*path, word]
    return _option_problems(command, path, rest)


def _option_problems(command: click.Command, path: list[str], rest: list[str]) -> list[str]:
    tail = " ".join(rest)
    tail = tail.split(" -- ")[0].split(" | ")[0]  # after `--`: another program's arguments
    tail = QUOTED.sub("", tail)  # "Add a --verbose flag" is an argument, not an option
    known = _option_names(command)
    return [
        f"`{' '.join(path)}` has no option {option}"
        for option in OPTION.findall(tail)
        if option not in known
    ]


def all_mentions() -> list[Mention]:
    return source_mentions() + doc_mentions()


def test_the_scan_finds_mentions_everywhere() -> None:
    found = all_mentions()
    places = {m.where.split("/")[0].split(":")[0] for m in found}
    assert {"src", "docs", "README.md"} <= places
    assert len(found) > 100


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("isollm run --resume [ID]", []),
        ("isollm sync push|pull|status", []),
        ("isollm worker exec w2 -- make test -x", []),
        ("isollm task …", []),
        ('isollm task add "Add a --verbose flag" -p high', []),
        ("isollm upp", ["`isollm upp` is not a command"]),
        ("isollm sync push|pull|nope", ["`isollm sync nope` is not a command"]),
        ("isollm run --force", ["`isollm run` has no option --force"]),
    ],
)
def test_the_checker_itself(text: str, expected: list[str]) -> None:
    assert problems_of(text) == expected


def test_every_mentioned_command_exists() -> None:
    wrong = [
        f"{m.where}: {problem}"
        for m in all_mentions()
        if not m.planned
        for problem in problems_of(m.text)
    ]
    assert wrong == []


def test_planned_commands_are_only_named_in_docs_and_are_really_missing() -> None:
    planned = [m for m in all_mentions() if m.planned]
    assert all(not m.where.startswith("src") for m in planned)
    still_planned = [m for m in planned if problems_of(m.text)]
    assert still_planned == planned, "built now: drop its (coming …) note"


def test_the_diverged_hub_hint_names_a_command_that_takes_force(
    git_repo: Path, tmp_path: Path
) -> None:
    """`isollm run` shows this hint too: "pass --force" alone would point at `run`."""
    hub = Hub(tmp_path / "hub.git")
    push_base(git_repo, hub, "main")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(hub.path), str(other))
    git(other, "commit", "-q", "--allow-empty", "-m", "hub side")
    git(other, "push", "-q", "origin", "main")
    git(git_repo, "commit", "-q", "--allow-empty", "-m", "host side")
    with pytest.raises(DivergedError) as info:
        push_base(git_repo, hub, "main")
    hint = info.value.hint or ""
    assert "`isollm sync push --force`" in hint
    named = [problems_of(m.group(0).strip("`")) for m in INLINE.finditer(hint)]
    assert named
    assert all(problems == [] for problems in named), named
