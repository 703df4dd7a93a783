"""``isollm config show|edit|validate``."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any

import click

from isollm import config as cfg
from isollm import proc
from isollm.cli import output
from isollm.config.edit import Outcome, edit_config
from isollm.errors import IsollmError


@click.group("config")
def config_group() -> None:
    """Show, edit and validate isollm.yaml."""


def _problems(loaded: cfg.Loaded) -> dict[str, Any]:
    return {
        "valid": loaded.report.ok,
        "errors": [str(p) for p in loaded.report.errors],
        "warnings": [str(p) for p in loaded.report.warnings],
    }


def _report_problems(report: cfg.Report) -> None:
    for w in report.warnings:
        output.warn(str(w))
    if report.errors:
        count = len(report.errors)
        output.error(f"{count} problem{'s' if count != 1 else ''} in {cfg.CONFIG_FILE}:")
        for p in report.errors:
            output.err.print(f"  - {p}", markup=False)


def _load(as_json: bool, kind: str) -> cfg.Loaded:
    """The project's config; a file that is not even YAML ends the command (exit 1).

    With ``--json`` that ending is a JSON document too, so scripts always get one.
    """
    path = cfg.find_project_root() / cfg.CONFIG_FILE
    try:
        return cfg.load(path.parent)
    except cfg.ConfigValidationError as exc:
        if not as_json:
            raise
        errors = [str(p) for p in exc.problems]
        data = {"path": str(path), "valid": False, "errors": errors, "warnings": []}
        output.emit_json(kind, {**data, "config": None} if kind == "config" else data)
        raise click.exceptions.Exit(1) from exc


@config_group.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON document instead of YAML.")
def show(as_json: bool) -> None:
    """Print the configuration in force, defaults filled in.

    Problems and warnings go to stderr; the exit code is 1 when the config is invalid.
    """
    loaded = _load(as_json, "config")
    data = cfg.to_dict(loaded.config)
    if as_json:
        output.emit_json("config", {"path": str(loaded.path), **_problems(loaded), "config": data})
    else:
        _report_problems(loaded.report)
        sys.stdout.write(f"# {loaded.path} (defaults filled in)\n{cfg.dump_yaml(data)}")
    if not loaded.report.ok:
        raise click.exceptions.Exit(1)


@config_group.command("validate")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def validate(as_json: bool) -> None:
    """Check isollm.yaml; exit 0 when valid, 1 with every problem listed when not."""
    loaded = _load(as_json, "validation")
    if as_json:
        output.emit_json("validation", {"path": str(loaded.path), **_problems(loaded)})
    else:
        _report_problems(loaded.report)
        if loaded.report.ok:
            output.info(f"{loaded.path} is valid")
    if not loaded.report.ok:
        raise click.exceptions.Exit(1)


def editor_argv() -> list[str]:
    """$VISUAL, then $EDITOR (split like a shell would, but never run by one), then vi."""
    for var in ("VISUAL", "EDITOR"):
        value = os.environ.get(var, "").strip()
        if value:
            return shlex.split(value)
    return ["vi"]


def _run_editor(path: Path) -> None:
    code = proc.run_attached([*editor_argv(), str(path)])
    if code != 0:
        raise IsollmError(
            f"the editor exited with status {code}; {cfg.CONFIG_FILE} was not changed",
            hint="run `isollm config edit` again (or check $VISUAL / $EDITOR)",
        )


def _show_problems(problems: list[cfg.Problem]) -> None:
    _report_problems(cfg.Report(errors=problems))
    output.err.print("Reopening the editor (the problems are listed at the top of the file).")


@config_group.command("edit")
def edit() -> None:
    """Edit isollm.yaml in $VISUAL / $EDITOR (or vi); it is replaced only when valid.

    You edit a copy. While it has problems, they are shown at the top of the copy and
    the editor opens again; save it unchanged or empty to give up, leaving isollm.yaml
    as it was (exit 1 when given up with problems left).
    """
    result = edit_config(cfg.find_project_root(), _run_editor, _show_problems)
    if result.outcome is Outcome.UNCHANGED:
        output.info(f"No change: {result.path} left as it was")
    elif result.outcome is Outcome.ABANDONED:
        output.error(
            f"gave up: {result.path} left as it was; "
            f"your last version (with its problems) is in {result.rejected}"
        )
        raise click.exceptions.Exit(1)
    else:
        _report_problems(cfg.Report(warnings=result.warnings))
        output.info(f"{result.path} saved and valid")
