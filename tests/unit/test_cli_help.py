"""Every command, including the lazily registered ones, has help text and renders --help.

New commands are picked up from ``COMMANDS`` without touching this file.
"""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from isollm.cli.root import COMMANDS, cli


def walk(
    command: click.Command, path: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        ctx = click.Context(command, info_name=path[-1] if path else "isollm")
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, f"{' '.join(path)} lists {name!r} but cannot load it"
            yield from walk(sub, (*path, name))


def test_the_root_group_lists_every_registered_command() -> None:
    ctx = click.Context(cli, info_name="isollm")
    assert cli.list_commands(ctx) == sorted(COMMANDS)


@pytest.mark.parametrize("name", [None, *sorted(COMMANDS)])
def test_every_command_has_help(name: str | None) -> None:
    ctx = click.Context(cli, info_name="isollm")
    top = cli if name is None else cli.get_command(ctx, name)
    assert top is not None, f"COMMANDS[{name!r}] = {COMMANDS.get(name or '')!r} cannot be loaded"
    runner = CliRunner()
    for path, command in walk(top, () if name is None else (name,)):
        if name is None and path:
            break  # the root alone; its children have their own cases
        shown = " ".join(("isollm", *path))
        assert (command.help or "").strip(), f"`{shown}` has no help text"
        assert (command.get_short_help_str() or "").strip(), f"`{shown}` has no short help"
        result = runner.invoke(cli, [*path, "--help"], catch_exceptions=False)
        assert result.exit_code == 0, f"`{shown} --help` failed:\n{result.output}"
        assert "Usage:" in result.output
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert (param.help or "").strip(), f"`{shown}` option {param.opts} has no help"
