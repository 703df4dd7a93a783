"""``isollm init`` and ``isollm config ...`` run in-process, and how outcomes map to exit codes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

import isollm.config
from isollm.cli.main import main
from isollm.config import CONFIG_FILE, Config, to_dict
from isollm.errors import ExitCode

Capture = pytest.CaptureFixture[str]


@pytest.fixture
def project(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(git_repo)
    assert main(["init"]) == 0
    return git_repo


def run(capsys: Capture, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def fake_editor(directory: Path, *contents: str) -> Path:
    """An editor that writes ``contents[n]`` on its n-th run (the last one from then on)."""
    script = directory / "fake-editor"
    runs = directory / "editor-runs"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, pathlib, sys\n"
        f"runs = pathlib.Path({str(runs)!r})\n"
        "n = int(runs.read_text()) if runs.exists() else 0\n"
        "runs.write_text(str(n + 1))\n"
        f"contents = json.loads({json.dumps(json.dumps(contents))})\n"
        "pathlib.Path(sys.argv[-1]).write_text(contents[min(n, len(contents) - 1)])\n"
    )
    script.chmod(0o755)
    return script


def editor_runs(directory: Path) -> int:
    return int((directory / "editor-runs").read_text())


# -- init and show ----------------------------------------------------------------------


def test_init_then_show_prints_the_defaults(project: Path, capsys: Capture) -> None:
    code, out, err = run(capsys, "config", "show")
    assert (code, err) == (0, "")
    assert out.startswith(f"# {project / CONFIG_FILE} (defaults filled in)\n")
    assert YAML(typ="safe").load(out) == to_dict(Config(project="repo"))


def test_init_prints_what_it_did(git_repo: Path, capsys: Capture) -> None:
    code, out, _err = run(capsys, "init", str(git_repo))
    assert code == 0
    assert f"Created {git_repo / CONFIG_FILE} (project: repo)" in out
    assert "Added .isollm/ to" in out
    code, _out, err = run(capsys, "init", str(git_repo))
    assert code == 1
    assert "already exists" in err
    assert "--force" in err
    code, out, _err = run(capsys, "init", "--force", str(git_repo))
    assert code == 0
    assert "Replaced" in out
    assert "Added" not in out


def test_init_outside_a_repository(tmp_path: Path, capsys: Capture) -> None:
    code, out, err = run(capsys, "init", str(tmp_path))
    assert (code, out) == (1, "")
    assert "not inside a git repository" in err
    assert "Traceback" not in err


def test_show_json(project: Path, capsys: Capture) -> None:
    code, out, _err = run(capsys, "config", "show", "--json")
    doc = json.loads(out)
    assert code == 0
    assert (doc["schema"], doc["kind"]) == (1, "config")
    assert doc["data"] == {
        "path": str(project / CONFIG_FILE),
        "valid": True,
        "errors": [],
        "warnings": [],
        "config": to_dict(Config(project="repo")),
    }


def test_show_an_invalid_config(project: Path, capsys: Capture) -> None:
    (project / CONFIG_FILE).write_text("project: x\nworkers: 0\nimage: debian\nwrkers: 2\n")
    code, out, err = run(capsys, "config", "show")
    assert code == 1
    assert YAML(typ="safe").load(out)["workers"] == 0  # what is in force is still shown
    assert "2 problems in isollm.yaml" in err
    assert "  - project: must be at least 2 characters" in err
    assert "  - workers: must be at least 1 (got 0)" in err
    assert "warning: image: 'debian' has no tag" in err
    assert "did you mean 'workers'?" in err
    code, out, err = run(capsys, "config", "show", "--json")
    data = json.loads(out)["data"]
    assert (code, data["valid"], len(data["errors"]), len(data["warnings"])) == (1, False, 2, 2)


def test_show_malformed_yaml(project: Path, capsys: Capture) -> None:
    (project / CONFIG_FILE).write_text("project: [oops\n")
    code, out, err = run(capsys, "config", "show")
    assert (code, out) == (1, "")
    assert "line 2, column 1" in err
    code, out, err = run(capsys, "config", "show", "--json")
    data = json.loads(out)["data"]
    assert (code, data["valid"], data["config"]) == (1, False, None)
    assert "line 2, column 1" in data["errors"][0]


def test_show_outside_a_project(
    tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _out, err = run(capsys, "config", "show")
    assert code == 1
    assert "no isollm.yaml" in err
    assert "isollm init" in err


def test_dash_c_runs_elsewhere(
    project: Path,
    tmp_path_factory: pytest.TempPathFactory,
    capsys: Capture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    code, out, _err = run(capsys, "-C", str(project), "config", "validate")
    assert code == 0
    assert "is valid" in out
    code, _out, err = run(capsys, "-C", str(project / "missing"), "config", "validate")
    assert code == 1
    assert "cannot enter" in err


# -- validate ---------------------------------------------------------------------------


def test_validate(project: Path, capsys: Capture) -> None:
    assert run(capsys, "config", "validate")[:2] == (0, f"{project / CONFIG_FILE} is valid\n")
    code, out, _err = run(capsys, "config", "validate", "--json")
    assert (code, json.loads(out)["data"]["valid"]) == (0, True)
    (project / CONFIG_FILE).write_text("project: my-app\nworkers: 0\ngit: {branch_prefix: x}\n")
    code, out, err = run(capsys, "config", "validate")
    assert (code, out) == (1, "")
    assert "workers: must be at least 1" in err
    assert "git.branch_prefix: must end with '/'" in err
    code, out, _err = run(capsys, "config", "validate", "--json")
    assert (code, len(json.loads(out)["data"]["errors"])) == (1, 2)
    (project / CONFIG_FILE).write_text(": :\n")
    code, out, _err = run(capsys, "config", "validate", "--json")
    assert (code, json.loads(out)["data"]["valid"]) == (1, False)


# -- edit -------------------------------------------------------------------------------


def test_edit_valid(
    project: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("EDITOR", str(fake_editor(tmp_path, "project: edited\nworkers: 5\n")))
    code, out, err = run(capsys, "config", "edit")
    assert (code, err) == (0, "")
    assert "saved and valid" in out
    assert isollm.config.load(project).config.workers == 5


def test_edit_invalid_lists_every_problem_and_reopens(
    project: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    before = (project / CONFIG_FILE).read_text()
    monkeypatch.setenv("EDITOR", str(fake_editor(tmp_path, "project: x\nworkers: 0\nports: 1\n")))
    code, out, err = run(capsys, "config", "edit")
    assert (code, out) == (1, "")
    assert "3 problems in isollm.yaml" in err
    for field in ("project:", "workers:", "ports:"):
        assert f"  - {field}" in err
    assert editor_runs(tmp_path) == 2  # reopened; the same text again gives up
    assert (project / CONFIG_FILE).read_text() == before


def test_edit_malformed_yaml(
    project: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("EDITOR", str(fake_editor(tmp_path, "project: [\n")))
    code, _out, err = run(capsys, "config", "edit")
    assert code == 1
    assert "1 problem in isollm.yaml" in err
    assert "line 2, column 1" in err


def test_edit_prefers_visual_and_splits_arguments(
    project: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    editor = fake_editor(tmp_path, "project: from-visual\n")
    monkeypatch.setenv("VISUAL", f"{sys.executable} {editor} --wait")
    monkeypatch.setenv("EDITOR", "/nonexistent/editor")
    assert run(capsys, "config", "edit")[0] == 0
    assert isollm.config.load(project).config.project == "from-visual"


def test_edit_with_a_failing_or_missing_editor(
    project: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDITOR", "false")
    code, _out, err = run(capsys, "config", "edit")
    assert code == 1
    assert "the editor exited with status 1" in err
    monkeypatch.setenv("EDITOR", "/nonexistent/editor")
    code, _out, err = run(capsys, "config", "edit")
    assert code == 1
    assert "not installed" in err


def test_edit_falls_back_to_vi(monkeypatch: pytest.MonkeyPatch) -> None:
    from isollm.cli.config import editor_argv

    assert editor_argv() == ["vi"]
    monkeypatch.setenv("EDITOR", "code --wait")
    assert editor_argv() == ["code", "--wait"]
    monkeypatch.setenv("VISUAL", "  ")
    assert editor_argv() == ["code", "--wait"]


# -- exit codes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv", [["nosuch"], ["config", "show", "--bogus"], ["config", "nosuch"], ["init", "a", "b"]]
)
def test_usage_errors_exit_2(argv: list[str], capsys: Capture) -> None:
    code, _out, err = run(capsys, *argv)
    assert code == ExitCode.USAGE == 2
    assert "Usage:" in err


def test_help_and_version_exit_0(capsys: Capture) -> None:
    code, out, _err = run(capsys, "--help")
    assert code == 0
    assert "init" in out
    code, out, _err = run(capsys, "--version")
    assert code == 0
    assert out.startswith("isollm, version ")


def test_an_unexpected_error_exits_3_with_a_crash_log(
    project: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object) -> None:
        raise RuntimeError("injected failure")

    monkeypatch.setattr(isollm.config, "find_project_root", broken)
    code, _out, err = run(capsys, "config", "show")
    assert code == ExitCode.UNEXPECTED == 3
    assert "RuntimeError: injected failure" in err
    assert "Traceback" not in err
    logs = list((Path.home() / ".isollm" / "crash").iterdir())
    assert len(logs) == 1
    assert str(logs[0]) in err.replace("\n", "")
    text = logs[0].read_text()
    assert text.startswith("isollm ")
    assert "python 3." in text
    assert "click " in text
    assert "Traceback (most recent call last)" in text
    assert "RuntimeError: injected failure" in text


@pytest.mark.parametrize(
    ("exc", "code"),
    [(KeyboardInterrupt(), 130), (BrokenPipeError(), 0)],
)
def test_interrupts_and_broken_pipes(
    project: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch, exc: BaseException, code: int
) -> None:
    def raise_it(*_args: object) -> None:
        raise exc

    monkeypatch.setattr(isollm.config, "find_project_root", raise_it)
    assert run(capsys, "config", "show")[0] == code
