"""`isollm run` in lxc and podman containers with `network: none`: the agent reaches the
queue through the task server's socket where containers see it (no TCP path exists)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from isollm.config.model import SandboxBackendName
from tests.e2e.run_support import RunProject, in_containers, run_project, story, task_file
from tests.integration.sandbox_support import container_base, podman_image, require_backend

__all__ = ["container_base", "podman_image"]  # the fixtures, for this module's tests

pytestmark = [pytest.mark.lxc, pytest.mark.timeout(240)]

# What the agent does with the queue itself: it reads its own task over the socket.
AGENT = (
    'airyra show "$ISOLLM_TASK_ID" --json > "task-$ISOLLM_TASK_ID.txt" '
    '|| { echo "the queue is out of reach: $AIRYRA_SOCKET" >&2; exit 1; }'
)
BACKENDS: list[SandboxBackendName] = ["lxc", "podman"]


@pytest.fixture(params=BACKENDS)
def project(request: pytest.FixtureRequest, git_repo: Path) -> Iterator[RunProject]:
    backend: SandboxBackendName = request.param
    require_backend(request, backend)
    with run_project(git_repo) as p:
        in_containers(p.root, backend, "r")
        yield p


def test_a_headless_agent_in_a_container_reaches_the_queue_by_its_socket(
    project: RunProject,
) -> None:
    project.use_agent(AGENT)
    task_id = project.add("read me back")
    result = project.isollm("run", "--plain", "-n", "1")
    assert project.task(task_id).status == "done", story(result)
    assert "read me back" in project.hub_show(task_id, task_file(task_id))
