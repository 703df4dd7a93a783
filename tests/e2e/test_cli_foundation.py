"""The foundation as a user meets it: the installed ``isollm`` script in real processes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from isollm.config import CONFIG_FILE, Config, to_dict
from isollm.liveness import is_alive

ISOLLM = str(Path(sys.executable).parent / "isollm")

EIGHT_MISTAKES = """\
project: 1x
workers: many
image: ""
git:
  base_branch: bad..branch
  branch_prefix: noslash
airyra:
  port: 80
zellij:
  layout: diagonal
sandbox:
  setup: 8080
"""
EIGHT_FIELDS = [
    "project",
    "workers",
    "image",
    "git.base_branch",
    "git.branch_prefix",
    "airyra.port",
    "zellij.layout",
    "sandbox.setup",
]


def isollm(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ISOLLM, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def no_traceback(result: subprocess.CompletedProcess[str]) -> bool:
    return "Traceback" not in result.stdout + result.stderr


@pytest.fixture
def project(git_repo: Path) -> Path:
    result = isollm(git_repo, "init")
    assert result.returncode == 0, result.stderr
    return git_repo


def editor(directory: Path, body: str) -> str:
    script = directory / "editor"
    script.write_text(f"#!{sys.executable}\nimport os, pathlib, sys, time\n{body}\n")
    script.chmod(0o755)
    return str(script)


def test_init_in_a_new_repository_then_config_show_prints_the_defaults(git_repo: Path) -> None:
    init = isollm(git_repo, "init")
    assert init.returncode == 0, init.stderr
    assert f"Created {git_repo / CONFIG_FILE} (project: repo)" in init.stdout
    show = isollm(git_repo, "config", "show")
    assert (show.returncode, show.stderr) == (0, "")
    assert YAML(typ="safe").load(show.stdout) == to_dict(Config(project="repo"))
    assert (git_repo / ".gitignore").read_text() == ".isollm/\n"


@pytest.mark.parametrize("command", ["show", "validate"])
def test_eight_mistakes_are_all_listed_and_exit_1(project: Path, command: str) -> None:
    (project / CONFIG_FILE).write_text(EIGHT_MISTAKES)
    result = isollm(project, "config", command)
    assert result.returncode == 1
    assert no_traceback(result)
    assert "8 problems in isollm.yaml:" in result.stderr
    listed = [line[4:] for line in result.stderr.splitlines() if line.startswith("  - ")]
    assert [line.split(":")[0] for line in listed] == EIGHT_FIELDS
    assert "workers: expected a whole number, got 'many'" in listed
    assert "sandbox.setup: expected a list, got 8080" in listed


def test_malformed_yaml_names_the_line_and_exits_1(project: Path) -> None:
    (project / CONFIG_FILE).write_text("project: repo\nworkers: [1, 2\n")
    result = isollm(project, "config", "validate")
    assert result.returncode == 1
    assert no_traceback(result)
    assert "line 3, column 1" in result.stderr


def test_init_outside_a_git_repository_exits_1(tmp_path: Path) -> None:
    result = isollm(tmp_path, "init")
    assert result.returncode == 1
    assert no_traceback(result)
    assert "not inside a git repository" in result.stderr


@pytest.mark.parametrize(
    "argv", [["frobnicate"], ["config", "show", "--bogus"], ["-C"], ["init", "a", "b"]]
)
def test_usage_errors_exit_2(tmp_path: Path, argv: list[str]) -> None:
    result = isollm(tmp_path, *argv)
    assert result.returncode == 2
    assert "Error:" in result.stderr
    assert no_traceback(result)


def test_an_unexpected_error_exits_3_and_prints_a_crash_log_path(
    project: Path, tmp_path: Path
) -> None:
    """A bug is injected through sitecustomize: the installed program is not changed."""
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(
        "import isollm.config\n"
        "def broken(*args, **kwargs):\n"
        "    raise ZeroDivisionError('injected bug')\n"
        "isollm.config.find_project_root = broken\n"
    )
    env = {**os.environ, "PYTHONPATH": str(inject)}
    result = isollm(project, "config", "show", env=env)
    assert result.returncode == 3
    assert no_traceback(result)
    assert "ZeroDivisionError: injected bug" in result.stderr
    match = re.search(r"crash log with the details is at (\S+\.log)", result.stderr)
    assert match, result.stderr
    log = Path(match.group(1))
    assert log.parent == Path(os.environ["ISOLLM_HOME"]) / "crash"
    assert "Traceback (most recent call last)" in log.read_text()
    assert "argv:" in log.read_text()


def test_ctrl_c_exits_130_and_stops_the_editor(project: Path, tmp_path: Path) -> None:
    started = tmp_path / "editor-started"
    env = {
        **os.environ,
        "EDITOR": editor(
            tmp_path, f"pathlib.Path({str(started)!r}).write_text(str(os.getpid()))\ntime.sleep(60)"
        ),
    }
    proc = subprocess.Popen(
        [ISOLLM, "config", "edit"],
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not (started.exists() and started.read_text()) and time.monotonic() < deadline:
            time.sleep(0.02)
        editor_pid = int(started.read_text())
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130
    assert "Traceback" not in err
    assert not is_alive(editor_pid)


def test_config_edit_without_a_terminal_lists_problems_and_exits_1(
    project: Path, tmp_path: Path
) -> None:
    bad = "project: x\\nworkers: 50\\n"
    env = {
        **os.environ,
        "EDITOR": editor(tmp_path, f"pathlib.Path(sys.argv[-1]).write_text('{bad}')"),
    }
    result = isollm(project, "config", "edit", env=env)
    assert result.returncode == 1
    assert no_traceback(result)
    assert "2 problems in isollm.yaml" in result.stderr
    assert "Reopen" not in result.stdout


def test_config_edit_reopens_the_editor_on_problems(project: Path, tmp_path: Path) -> None:
    """First edit breaks the copy; the editor opens again by itself; the second fixes it."""
    runs = tmp_path / "runs"
    body = (
        f"runs = pathlib.Path({str(runs)!r})\n"
        "n = len(runs.read_text()) if runs.exists() else 0\n"
        "runs.write_text('x' * (n + 1))\n"
        "text = 'project: x\\n' if n == 0 else 'project: fixed\\n'\n"
        "pathlib.Path(sys.argv[-1]).write_text(text)"
    )
    env = {**os.environ, "EDITOR": editor(tmp_path, body)}
    result = isollm(project, "config", "edit", env=env)
    assert result.returncode == 0, result.stderr
    assert "Reopening the editor" in result.stderr
    assert "must be at least 2 characters" in result.stderr
    assert "saved and valid" in result.stdout
    assert runs.read_text() == "xx"
    assert (project / CONFIG_FILE).read_text() == "project: fixed\n"
