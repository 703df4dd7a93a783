"""A project for the `isollm status` tests: initialised, with a name and a task server
port of its own; its server, sandboxes and mounts gone afterwards."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from isollm import config as cfg
from isollm import fsutil
from isollm.project import init_project
from isollm.sandbox import registry
from isollm.tasks.server import control
from tests.integration.sandbox_support import unmount_under
from tests.integration.tasks_support import free_port


@pytest.fixture
def project(git_repo: Path) -> Iterator[Path]:
    """An initialised project with a name and a task server port of its own."""
    init_project(git_repo)
    loaded = cfg.load(git_repo)
    airyra = dataclasses.replace(loaded.config.airyra, port=free_port())
    name = f"st-{uuid.uuid4().hex[:8]}"
    cfg.save(loaded.path, dataclasses.replace(loaded.config, project=name, airyra=airyra))
    yield git_repo
    config = cfg.load(git_repo).config
    control.stop(config.airyra.port)
    for sandbox in registry.list_sandboxes(config.project)[0]:
        sandbox.destroy()
    unmount_under(fsutil.isollm_home())
