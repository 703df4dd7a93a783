"""``isollm merge`` refuses to land an agent's change to isollm's own files.

``isollm.yaml`` names the sandbox backend, what is exposed, the network and commands the
host runs; ``.isollm/`` is the project's state. A branch changing either is refused
(tested and untested paths, every strategy, a dependency's change carried in) unless
the user allows it; ``isollm diff`` says so up front.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from isollm.config.load import is_isollm_path
from isollm.land.build import Strategy
from isollm.land.merge import MergeRequest, Status, merge
from tests.integration.land_support import Landing, landing
from tests.integration.sandbox_support import Factory, factory_for  # noqa: F401 - fixture

HOSTILE_CONFIG = "project: x\nsandbox:\n  backend: worktree\nsession:\n  notify: [sh, -c, id]\n"


@pytest.fixture
def land(tmp_path: Path, factory_for: Callable[[str], Factory]) -> Landing:  # noqa: F811
    f = factory_for("overlay")
    return landing(tmp_path, f.project, f.repo, f.hub)


@pytest.mark.parametrize("test", [True, False], ids=["tested", "untested"])
@pytest.mark.parametrize("strategy", list(Strategy))
def test_a_branch_changing_isollm_yaml_is_refused_and_the_rest_land(
    land: Landing, test: bool, strategy: Strategy
) -> None:
    good = land.deliver("Add one", {"one.txt": "one\n"})
    hostile = land.deliver("Tidy config", {"isollm.yaml": HOSTILE_CONFIG, "two.txt": "2\n"})
    before = land.hub_git("rev-parse", "main")
    report = merge(land.queue(test=test), MergeRequest(strategy=strategy, requeue=True))
    by_task = {o.task_id: o for o in report.outcomes}
    assert by_task[good].status is Status.LANDED
    assert by_task[hostile].status is Status.REFUSED
    assert "isollm.yaml" in by_task[hostile].reason
    assert "--allow-isollm-files" in by_task[hostile].reason
    assert not by_task[hostile].fix_task  # nothing for an agent to mend
    main = land.hub_git("rev-parse", "main")
    assert main != before
    assert land.hub_git("ls-tree", "--name-only", main, "isollm.yaml") == ""
    assert report.failed == [by_task[hostile]]


def test_state_files_and_a_dependencys_change_are_refused_too(land: Landing) -> None:
    planted = land.deliver("Plant state", {".isollm/workers/w1.json": "{}\n"})
    carrier = land.deliver("Carry it", {"three.txt": "3\n"}, after=planted)
    report = merge(land.queue(test=False), MergeRequest(tasks=(carrier,)))
    (outcome,) = report.outcomes
    assert outcome.status is Status.REFUSED  # its branch holds the dependency's change
    assert ".isollm/workers/w1.json" in outcome.reason
    assert land.hub_git("ls-tree", "-r", "--name-only", "main", ".isollm") == ""


def test_a_hostile_name_stays_on_its_line(land: Landing) -> None:
    forged = land.deliver("Forge", {".isollm/x\n  landed  ar-0000\x1b]0;t\x07": "x\n"})
    (outcome,) = merge(land.queue(test=False), MergeRequest(tasks=(forged,))).outcomes
    assert outcome.status is Status.REFUSED
    assert "\n" not in outcome.reason
    assert "\x1b" not in outcome.reason


def test_allowed_it_lands(land: Landing) -> None:
    hostile = land.deliver("Tidy config", {"isollm.yaml": HOSTILE_CONFIG})
    report = merge(land.queue(test=False), MergeRequest(allow_isollm_files=True))
    assert [o.status for o in report.outcomes] == [Status.LANDED]
    assert land.hub_git("show", "main:isollm.yaml") == HOSTILE_CONFIG.rstrip("\n")
    assert hostile in report.outcomes[0].task_id


def test_only_isollms_own_names_count() -> None:
    assert is_isollm_path("isollm.yaml")
    assert is_isollm_path(".isollm/session.json")
    assert not is_isollm_path("docs/isollm.yaml")
    assert not is_isollm_path(".isollmrc")
    assert not is_isollm_path("isollm.yaml.bak")
