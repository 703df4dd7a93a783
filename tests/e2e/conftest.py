"""Fixtures of the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.run_support import RunProject, run_project


@pytest.fixture
def project(git_repo: Path) -> Iterator[RunProject]:
    """A project for ``isollm run`` (see :func:`~tests.e2e.run_support.run_project`); a
    test module defining its own ``project`` fixture uses that one instead."""
    with run_project(git_repo) as p:
        yield p
