"""``isollm config show|edit|validate``."""

from __future__ import annotations

import os
import shlex
import sys

import click

from isollm import config as cfg
from isollm import proc
from isollm.cli import output
from isollm.errors import IsollmError


@click.group("config")
def config_group() -> None:
    """Show, edit and validate isollm.yaml."""


def _report_problems(report: cfg.Report) -> None:
    for w in report.warnings:
        output.warn(str(w))
    if report.errors:
        count = len(report.errors)
        output.error(f"{count} problem{'s' if count != 1 else ''} in isollm.yaml:")
        for p in report.errors:
            output.err.print(f"  - {p}", markup=False)


@config_group.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON document instead of YAML.")
def show(as_json: bool) -> None:
    """Print the configuration in force, defaults filled in.

    Problems and warnings go to stderr; the exit code is 1 when the config is invalid.
    """
    loaded = cfg.load(cfg.find_project_root())
    _report_problems(loaded.report)
    data = cfg.to_dict(loaded.config)
    if as_json:
        output.emit_json(
            "config",
            {
                "path": str(loaded.path),
                "valid": loaded.report.ok,
                "config": data,
                "errors": [str(p) for p in loaded.report.errors],
                "warnings": [str(p) for p in loaded.report.warnings],
            },
        )
    else:
        sys.stdout.write(f"# {loaded.path} (defaults filled in)\n{cfg.dump_yaml(data)}")
    if not loaded.report.ok:
        raise click.exceptions.Exit(1)


@config_group.command("validate")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def validate(as_json: bool) -> None:
    """Check isollm.yaml; exit 0 when valid, 1 with every problem listed when not."""
    try:
        loaded = cfg.load(cfg.find_project_root())
    except cfg.ConfigValidationError as exc:
        if not as_json:
            raise
        output.emit_json("validation", {"valid": False, "errors": [str(p) for p in exc.problems]})
        raise click.exceptions.Exit(1) from exc
    if as_json:
        output.emit_json(
            "validation",
            {
                "valid": loaded.report.ok,
                "errors": [str(p) for p in loaded.report.errors],
                "warnings": [str(p) for p in loaded.report.warnings],
            },
        )
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


def _problems_after_edit() -> list[str]:
    try:
        loaded = cfg.load(cfg.find_project_root())
    except cfg.ConfigValidationError as exc:
        return [str(p) for p in exc.problems]
    for w in loaded.report.warnings:
        output.warn(str(w))
    return [str(p) for p in loaded.report.errors]


@config_group.command("edit")
def edit() -> None:
    """Open isollm.yaml in $VISUAL / $EDITOR (or vi) and validate it afterwards.

    On a terminal you are offered to reopen the editor while problems remain;
    otherwise every problem is listed and the exit code is 1.
    """
    root = cfg.find_project_root()
    path = root / cfg.CONFIG_FILE
    while True:
        code = proc.run_attached([*editor_argv(), str(path)])
        if code != 0:
            raise IsollmError(f"the editor exited with status {code}; isollm.yaml was not checked")
        problems = _problems_after_edit()
        if not problems:
            output.info(f"{path} saved and valid")
            return
        output.error(f"{len(problems)} problem(s) in isollm.yaml:")
        for p in problems:
            output.err.print(f"  - {p}", markup=False)
        if not (sys.stdin.isatty() and click.confirm("Reopen the editor?", default=True)):
            raise click.exceptions.Exit(1)
