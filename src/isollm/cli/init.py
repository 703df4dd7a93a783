"""``isollm init``: make a git repository an isollm project."""

from __future__ import annotations

from pathlib import Path

import click

from isollm.cli import output
from isollm.project import init_project


@click.command("init")
@click.argument(
    "directory", required=False, type=click.Path(file_okay=False, path_type=Path), default="."
)
@click.option("--force", is_flag=True, help="Replace an existing isollm.yaml with the defaults.")
def init(directory: Path, force: bool) -> None:
    """Create isollm.yaml (commented defaults) and .isollm/ in a git repository.

    DIRECTORY defaults to the current one; the config goes to the root of its
    repository. `.isollm/` is added to .gitignore once.
    """
    result = init_project(directory, force=force)
    verb = "Replaced" if result.overwritten else "Created"
    output.info(f"{verb} {result.config_path} (project: {result.project})")
    if result.gitignore_updated:
        output.info(f"Added .isollm/ to {result.root / '.gitignore'}")
    output.info("Next: `isollm config show` to review it, `isollm task add TITLE` to queue work.")
