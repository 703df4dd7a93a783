"""``isollm run`` gives a real agent CLI a task whose description is over 200 KB of
non-ASCII text, and the whole description reaches the model.

A prompt that long cannot be a command-line argument (``E2BIG``), so isollm writes it
to a file in the agent's home (:mod:`isollm.agents.promptfile`); each CLI must still
hand all of it, byte for byte, to the model: the fake model server records every
request body, and one of them must hold the description intact. Then the agent writes
``hello.txt`` and the task ends done.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import git
from tests.e2e.run_support import RunProject, story
from tests.e2e.test_agents_real_cli import KEY_VARIABLES, SECRET, cli_path
from tests.fakemodel import FakeModelServer, Script, WriteFile
from tests.fakemodel.script import texts

pytestmark = [pytest.mark.agents, pytest.mark.timeout(180)]

DESCRIPTION = "Ü漢字のテスト、" * 10_000  # 80,000 characters, 220 KB of UTF-8
HELLO = "hello from the agent\n"
SCRIPT = Script(actions=(WriteFile("hello.txt", HELLO),))
# aider finds this file in the repository: the fake model's limits and prices.
AIDER_METADATA = ".aider.model.metadata.json"
OFFLINE_PRICES = "LITELLM_LOCAL_MODEL_COST_MAP"


def agent_settings(name: str, server: FakeModelServer) -> dict[str, object]:
    settings: dict[str, object] = {"name": name, "binary": str(cli_path(name)), "timeout": 90}
    if name == "claude":
        return {**settings, "base_url": server.url}
    if name == "gemini":
        return {**settings, "base_url": server.url, "model": "gemini-fake"}
    if name == "aider":
        return {
            **settings,
            "base_url": f"{server.url}/v1",
            "model": "openai/fake-model",
            "args": ["--edit-format", "diff", "--map-tokens", "0"],
            "pass_env": [OFFLINE_PRICES],  # no price list download
        }
    return {**settings, "base_url": f"{server.url}/v1", "model": "fake-model"}


def describe_the_fake_model_to_aider(root: Path) -> None:
    info = {"max_input_tokens": 1_000_000, "max_output_tokens": 4096, "mode": "chat"}
    costs = {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}
    doc = {"openai/fake-model": {**info, **costs, "litellm_provider": "openai"}}
    (root / AIDER_METADATA).write_text(json.dumps(doc))
    git(root, "add", AIDER_METADATA)
    git(root, "commit", "-q", "-m", "aider: the fake model's metadata")


@pytest.mark.parametrize("name", ["claude", "codex", "gemini", "aider"])
def test_a_200_kb_non_ascii_description_reaches_the_model(project: RunProject, name: str) -> None:
    assert len(DESCRIPTION.encode()) > 200 * 1024
    if name == "aider":
        describe_the_fake_model_to_aider(project.root)
    task_id = project.add("Greet in a long story", description=DESCRIPTION)
    with FakeModelServer(SCRIPT) as server:
        project.configure(workers=1, agent=agent_settings(name, server))
        env = {KEY_VARIABLES[name]: SECRET, OFFLINE_PRICES: "True"}
        result = project.isollm("run", "--plain", "-n", "1", env=env, code=None)
        bodies = [texts(r.body) for r in server.requests if r.method == "POST"]
    told = story(result)

    assert bodies, f"{name} never called the model\n{told}"
    received = [body for body in bodies if DESCRIPTION in body]
    longest = max(len(body) for body in bodies)
    assert received, f"{name}: no request held the whole description (longest {longest})\n{told}"
    assert f"Task {task_id}: Greet in a long story" in received[0]
    assert project.task(task_id).status == "done", told
    assert result.returncode == 0, told
    assert project.hub_show(task_id, "hello.txt") + "\n" == HELLO, told
