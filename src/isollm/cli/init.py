"""``isollm init``: make a git repository an isollm project."""

from __future__ import annotations

from pathlib import Path

import click

from isollm.cli import output
from isollm.project import InitResult, init_project


@click.command("init")
@click.argument(
    "directory", required=False, type=click.Path(file_okay=False, path_type=Path), default="."
)
@click.option("--force", is_flag=True, help="Replace an existing isollm.yaml with the defaults.")
@click.option(
    "--share",
    is_flag=True,
    help="Share the hub and task queue of a project another checkout already uses "
    "(its name: the folder's, or the one in an existing isollm.yaml, which is kept).",
)
def init(directory: Path, force: bool, share: bool) -> None:
    """Create isollm.yaml (commented defaults) and .isollm/ in a git repository.

    DIRECTORY defaults to the current one; the config goes to the root of its
    repository. `.isollm/` is added to .gitignore once. The base branch is the
    checked-out one (else the remote's default branch, init.defaultBranch, main). The
    project is named after the folder, with a short hash of the checkout's path added
    when another checkout already uses that name: each checkout has its own hub and queue
    unless --share.
    """
    result = init_project(directory, force=force, share=share)
    _render(result)


def _render(result: InitResult) -> None:
    if not result.written:
        output.info(f"Kept {result.config_path} (project: {result.project})")
    else:
        verb = "Replaced" if result.overwritten else "Created"
        output.info(f"{verb} {result.config_path} (project: {result.project})")
        output.info(
            f"Base branch: {result.base.name} ({result.base.source}); change git.base_branch "
            "with `isollm config edit` if tasks should start elsewhere"
        )
    if result.taken_by is not None:
        output.info(
            f"The folder's name is the project of {result.taken_by}: this checkout gets its own "
            "hub and task queue (`isollm init --force --share` would share them instead)"
        )
    if result.shared_with:
        others = ", ".join(str(p) for p in result.shared_with)
        output.info(f"This checkout shares the project's hub and task queue with {others}")
    if result.gitignore_updated:
        output.info(f"Added .isollm/ to {result.root / '.gitignore'}")
    if result.written:
        output.info(
            "Next: `isollm config show` to review it (set merge.test_command, e.g. "
            "[python3, -m, pytest], so `isollm merge` tests each landing), commit it "
            "(`git add isollm.yaml .gitignore && git commit -m 'Add isollm'`: agents start "
            "from your committed base branch), then `isollm task add TITLE` to queue work."
        )
