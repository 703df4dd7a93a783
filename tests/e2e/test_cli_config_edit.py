"""`isollm config edit` as a user runs it, with a scripted editor standing in for a person.

isollm.yaml must hold the last valid version at every moment: the editor works on a copy,
problems reopen it, and giving up (unchanged or empty) or a failing editor change nothing.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from isollm.config.edit import MARK
from tests.e2e.cli import isollm

VALID = "project: edited\nworkers: 5\n"
INVALID = "project: edited\nworkers: 0\n"
BROKEN_YAML = "project: [\n"

EDITOR = """\
import json, pathlib, sys
here = pathlib.Path(sys.argv[0]).parent
steps = json.loads((here / "steps.json").read_text())
log_path = here / "log.json"
log = json.loads(log_path.read_text()) if log_path.exists() else []
target = pathlib.Path(sys.argv[-1])
log.append({
    "argv": sys.argv[1:],
    "given": target.read_text(),
    "config": (pathlib.Path.cwd() / "isollm.yaml").read_text(),
})
log_path.write_text(json.dumps(log))
step = steps[min(len(log), len(steps)) - 1]
if "write" in step:
    target.write_text(step["write"])
if "also_config" in step:
    (pathlib.Path.cwd() / "isollm.yaml").write_text(step["also_config"])
sys.exit(step.get("exit", 0))
"""


@pytest.fixture
def project(git_repo: Path) -> Path:
    isollm(git_repo, "init")
    return git_repo


def script_editor(
    directory: Path, monkeypatch: pytest.MonkeyPatch, *steps: dict[str, Any], extra: str = ""
) -> Path:
    """EDITOR = a script doing ``steps[n]`` on its n-th run; returns where it logs."""
    folder = directory / "my editor"  # a space: the value is split like a shell, run by none
    folder.mkdir()
    (folder / "edit.py").write_text(EDITOR)
    (folder / "steps.json").write_text(json.dumps(steps))
    value = shlex.join([sys.executable, str(folder / "edit.py")])
    monkeypatch.setenv("EDITOR", f"{value} {extra}".strip())
    return folder / "log.json"


def runs(log: Path) -> list[dict[str, Any]]:
    return list(json.loads(log.read_text()))


def leftovers(project: Path) -> list[str]:
    return sorted(p.name for p in (project / ".isollm").iterdir() if p.name.startswith("isollm."))


def test_problems_reopen_the_editor_and_the_file_stays_valid_meanwhile(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = (project / "isollm.yaml").read_text()
    log = script_editor(tmp_path, monkeypatch, {"write": INVALID}, {"write": VALID})
    result = isollm(project, "config", "edit")
    assert "workers" in result.stderr
    assert "Reopening the editor" in result.stderr
    first, second = runs(log)
    assert first["given"] == original
    assert second["config"] == original  # never the invalid version, even meanwhile
    assert second["given"].startswith(MARK)  # the problems, at the top of the copy
    assert "workers:" in second["given"].splitlines()[1]
    assert second["given"].endswith(INVALID)  # then the user's version to fix
    assert (project / "isollm.yaml").read_text() == VALID
    assert leftovers(project) == []
    isollm(project, "config", "validate")


def test_giving_up_by_saving_unchanged_keeps_the_last_valid_file(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = (project / "isollm.yaml").read_text()
    log = script_editor(tmp_path, monkeypatch, {"write": BROKEN_YAML}, {})
    result = isollm(project, "config", "edit", code=1)
    assert "gave up" in result.stderr
    assert len(runs(log)) == 2
    assert (project / "isollm.yaml").read_text() == original
    assert (project / ".isollm" / "isollm.yaml.rejected").read_text() == BROKEN_YAML
    isollm(project, "config", "validate")  # every command still works
    isollm(project, "config", "show")


def test_giving_up_by_emptying_the_file(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = (project / "isollm.yaml").read_text()
    script_editor(tmp_path, monkeypatch, {"write": INVALID}, {"write": "\n"})
    isollm(project, "config", "edit", code=1)
    assert (project / "isollm.yaml").read_text() == original
    isollm(project, "config", "validate")


@pytest.mark.parametrize("step", [{}, {"write": ""}])
def test_unchanged_or_empty_at_once_is_no_change(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: dict[str, Any]
) -> None:
    original = (project / "isollm.yaml").read_text()
    log = script_editor(tmp_path, monkeypatch, step)
    assert "No change" in isollm(project, "config", "edit").stdout
    assert len(runs(log)) == 1
    assert (project / "isollm.yaml").read_text() == original
    assert leftovers(project) == []


def test_a_failing_editor_changes_nothing(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = (project / "isollm.yaml").read_text()
    script_editor(tmp_path, monkeypatch, {"write": "project: half-writ", "exit": 2})
    result = isollm(project, "config", "edit", code=1)
    assert "the editor exited with status 2" in result.stderr
    assert (project / "isollm.yaml").read_text() == original
    assert leftovers(project) == []


def test_editor_arguments_are_passed_as_words_never_to_a_shell(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = script_editor(
        tmp_path, monkeypatch, {"write": VALID}, extra="-w '$(touch pwned)' ';touch pwned2'"
    )
    isollm(project, "config", "edit")
    (only,) = runs(log)
    assert only["argv"][:3] == ["-w", "$(touch pwned)", ";touch pwned2"]
    assert not list(project.glob("pwned*"))
    assert not list(tmp_path.glob("pwned*"))
    assert (project / "isollm.yaml").read_text() == VALID


def test_a_file_changed_during_the_edit_is_not_overwritten(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = "project: changed-elsewhere\n"
    script_editor(tmp_path, monkeypatch, {"write": VALID, "also_config": other})
    result = isollm(project, "config", "edit", code=1)
    assert "changed while you were editing" in result.stderr
    assert (project / "isollm.yaml").read_text() == other
    assert (project / ".isollm" / "isollm.yaml.rejected").read_text() == VALID


def test_an_invalid_file_can_be_repaired_with_edit(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "isollm.yaml").write_text(BROKEN_YAML)
    isollm(project, "config", "validate", code=1)
    script_editor(tmp_path, monkeypatch, {"write": VALID})
    isollm(project, "config", "edit")
    isollm(project, "config", "validate")
