"""`isollm` starts fast: the start path imports nothing a command does not need.

The dashboard runs `isollm status --brief` every 2 s (issue #13): from a fresh saved
snapshot it must not even import click. `isollm --help` lists the commands from the
summaries kept in ``COMMANDS``, so those must say what each command's help says.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest

from isollm.cli.root import COMMANDS, cli
from isollm.session.status import snapfile
from isollm.session.status.model import Snapshot

HEAVY = ("rich", "httpx", "importlib.metadata", "ruamel", "yaml", "isollm.config", "uvicorn")
PROBE = """
import json, sys
from isollm.cli.main import main
code = main(sys.argv[1:])
sys.stdout.flush()
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def started(cwd: Path, *args: str) -> tuple[str, set[str]]:
    """What `isollm ARGS` prints, and the modules it imported."""
    env = {**os.environ, "ISOLLM_HOME": str(cwd / "isollm-home")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    report = json.loads(done.stderr.splitlines()[-1])
    assert report["code"] == 0, done.stderr
    return done.stdout, set(report["modules"])


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(f"{n}.") for n in names))


@pytest.mark.parametrize("args", [["--version"], ["--help"]])
def test_version_and_help_import_no_command_and_nothing_heavy(
    args: list[str], tmp_path: Path
) -> None:
    shown, modules = started(tmp_path, *args)
    assert shown.strip()
    assert loaded(modules, HEAVY) == []
    commands = {entry.target.split(":")[0] for entry in COMMANDS.values()}
    assert sorted(commands & modules) == []


def test_status_brief_from_a_fresh_snapshot_does_not_import_click(tmp_path: Path) -> None:
    (tmp_path / "isollm.yaml").write_text("project: app\n")
    snapfile.write(tmp_path, Snapshot("app", str(tmp_path), datetime.now(UTC)))
    shown, modules = started(tmp_path, "status", "--brief")
    assert shown.startswith("workers: 0 |")
    assert shown.count("\n") == 1
    assert loaded(modules, ("click", *HEAVY)) == []


@pytest.mark.parametrize("width", [50, 80, 100, 160])
def test_help_lists_each_command_as_its_own_help_would(width: int) -> None:
    ctx = click.Context(cli, info_name="isollm")
    from_summaries = click.HelpFormatter(width=width)
    from_commands = click.HelpFormatter(width=width)
    cli.format_commands(ctx, from_summaries)
    click.Group.format_commands(cli, ctx, from_commands)  # imports every command
    assert from_summaries.getvalue() == from_commands.getvalue()
    assert from_summaries.getvalue().count("\n") == len(COMMANDS) + 1  # heading + one each
