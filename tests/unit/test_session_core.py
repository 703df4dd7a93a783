"""The pure parts of ``isollm up`` / ``attach`` / ``down``: pane argvs, settings, the
salvage decision, what ``up`` reports, the files a worker gets."""

from __future__ import annotations

import dataclasses
import io
import sys
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from isollm.agents.registry import get_agent
from isollm.config import Config
from isollm.errors import IsollmError
from isollm.runner import agenthome
from isollm.sandbox.gitops import WorkState
from isollm.sandbox.workers import Project, WorkerRow
from isollm.session import alive, down, panes, recovery, up
from isollm.session.settings import SessionSettings
from isollm.state import FileState, Session

ROOT = Path("/work/app")
PROGRAM = ["/opt/isollm/bin/isollm"]


def test_the_plan_has_a_dashboard_and_a_pane_per_worker() -> None:
    plan = panes.plan(
        "app", ROOT, ["worker-1", "worker-2"], agent="claude", layout="grid", program=PROGRAM
    )
    assert plan.name == "isollm-app"
    assert plan.layout == "grid"
    assert plan.dashboard.argv == (*PROGRAM, "status", "--watch", "2")
    assert [p.title for p in plan.workers] == ["worker-1", "worker-2"]
    assert plan.workers[1].argv == (*PROGRAM, "attach", "worker-2", "--agent", "claude", "--pane")
    assert {p.cwd for p in (plan.dashboard, *plan.workers)} == {ROOT}


def test_an_idle_session_tells_the_panes() -> None:
    pane = panes.worker_pane(PROGRAM, ROOT, "worker-1", "codex", idle=True)
    assert pane.argv[-1] == "--idle"


def test_a_worker_name_that_is_not_one_never_reaches_a_pane() -> None:
    with pytest.raises(IsollmError):
        panes.attach_argv(PROGRAM, "; rm -rf /", "claude")


def test_the_pane_program_is_this_isollm_by_absolute_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    script = tmp_path / "isollm"
    script.write_text("#!/bin/sh\n")
    monkeypatch.setattr(sys, "argv", [str(script), "up"])
    assert panes.isollm_argv() == [str(script.resolve())]
    monkeypatch.setattr(sys, "argv", ["/usr/lib/python3/isollm/__main__.py", "up"])
    assert panes.isollm_argv() == [sys.executable, "-m", "isollm"]


def test_settings_come_from_the_config_with_the_command_lines_overrides() -> None:
    config = Config(project="app")
    config = dataclasses.replace(
        config, session=dataclasses.replace(config.session, mux="tmux", notify=["n", "x"])
    )
    settings = SessionSettings.from_config(config)
    assert (settings.mux, settings.notify, settings.layout) == ("tmux", ("n", "x"), "auto")
    assert settings.prompt.startswith("Work through the task queue")
    assert SessionSettings.from_config(config, mux="none", idle=True).prompt == ""
    assert SessionSettings.from_config(config, mux="none").mux == "none"


class Answers:
    def __init__(self, choice: down.Choice, discard: bool = False) -> None:
        self.choice, self.discard, self.asked = choice, discard, 0

    def choose(self, unsaved: list[down.WorkerWork]) -> down.Choice:
        self.asked += 1
        return self.choice

    def confirm_discard(self, unsaved: list[down.WorkerWork]) -> bool:
        return self.discard

    def confirm_destroy(self, names: list[str]) -> bool:
        return False


DIRTY = [down.WorkerWork("worker-1", WorkState(uncommitted=("?? a.txt",)))]


def test_down_salvages_with_yes_without_asking() -> None:
    answers = Answers(down.Choice.DISCARD, discard=True)
    assert down.decide(DIRTY, down.DownOptions(yes=True), answers) is down.Choice.SALVAGE
    assert answers.asked == 0


def test_down_asks_only_when_there_is_unsaved_work() -> None:
    answers = Answers(down.Choice.CANCEL)
    assert down.decide([], down.DownOptions(), answers) is None
    assert answers.asked == 0


@pytest.mark.parametrize(
    ("choice", "confirmed"), [(down.Choice.CANCEL, True), (down.Choice.DISCARD, False)]
)
def test_cancel_and_an_unconfirmed_discard_stop_down(choice: down.Choice, confirmed: bool) -> None:
    with pytest.raises(down.CancelledError):
        down.decide(DIRTY, down.DownOptions(), Answers(choice, confirmed))


def test_a_confirmed_discard_is_a_discard() -> None:
    answers = Answers(down.Choice.DISCARD, discard=True)
    assert down.decide(DIRTY, down.DownOptions(), answers) is down.Choice.DISCARD


def test_the_command_line_overrides_the_config(tmp_path: Path) -> None:
    project = Project(tmp_path, Config(project="app"), FileState.for_project(tmp_path))
    changed = up.configured(project, up.UpOptions(workers=5, base="trunk"))
    assert (changed.config.workers, changed.config.git.base_branch) == (5, "trunk")
    with pytest.raises(IsollmError, match="-n must be at least 1"):
        up.configured(project, up.UpOptions(workers=0))


def test_a_recorded_session_whose_process_is_gone_is_over(tmp_path: Path) -> None:
    project = Project(tmp_path, Config(project="app"), FileState.for_project(tmp_path))
    assert up.refuse_running(project) is None
    project.state.create_session(Session.for_this_process(str(tmp_path)))
    with pytest.raises(up.SessionRunningError, match="already running"):
        up.refuse_running(project)  # this process is alive
    dead = Session(pid=2**22 + 7, project_root=str(tmp_path), multiplexer="none")
    project.state.clear_session()
    project.state.create_session(dead)
    assert up.refuse_running(project) == dead


def test_what_up_found_is_reported() -> None:
    found = recovery.Found(
        (
            recovery.FoundWorker("worker-1", recovery.How.RESTARTED, "ar-1", "x", "isollm/ar-1"),
            recovery.FoundWorker("worker-2", recovery.How.CREATED),
        ),
        previous=Session(
            pid=1,
            project_root="/r",
            started_at=datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
            multiplexer="tmux",
        ),
        skipped=("worker-3: its sandbox is missing",),
    )
    assert found.lines() == [
        "took over the session started 2026-01-02 03:04 UTC (its tmux is gone)",
        "worker-1: restarted, on isollm/ar-1, holds task ar-1",
        "worker-2: created",
        "worker-3: its sandbox is missing (left alone; see `isollm worker list`)",
    ]
    assert found.names == ["worker-1", "worker-2"]


def test_workers_sort_naturally() -> None:
    names = ["worker-10", "worker-2", "worker-1"]
    assert sorted(names, key=recovery.natural_key) == ["worker-1", "worker-2", "worker-10"]


def test_the_worker_files_travel_as_one_tar_with_airyra_executable() -> None:
    data = agenthome._tar({agenthome.AIRYRA: b"#!x", ".claude/settings.json": b"{}"})
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        modes = {m.name: m.mode for m in tar.getmembers()}
    assert modes == {agenthome.AIRYRA: 0o755, ".claude/settings.json": 0o600}


def test_the_airyra_program_is_one_python_file() -> None:
    program = agenthome.airyra_program()
    assert program.startswith("#!/usr/bin/env python3\n")
    compile(program, "airyra", "exec")


def test_a_session_takes_the_existing_workers_first_then_new_names() -> None:
    roster = recovery.Roster(
        running=("worker-2",),
        stopped=("worker-10",),
        unusable=("worker-1: its sandbox is missing",),
    )
    assert roster.session(1) == (["worker-2"], [])
    assert roster.session(4) == (["worker-2", "worker-10"], ["worker-3", "worker-4"])


def test_a_session_never_takes_a_runs_sandbox_or_the_one_a_merge_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def row(name: str, run: str = "") -> WorkerRow:
        return WorkerRow(name, "overlay", "idle", "running", "", "", "", "", run=run)

    rows = [row("worker-1"), row("merge-test"), row("run-20260101-000000-ab-w1", run="x")]
    monkeypatch.setattr(recovery.reconcile, "list_workers", lambda _project: (rows, []))
    found = recovery.roster(Project(Path("/p"), Config(project="p"), FileState(Path("/p/s"))))
    assert found.running == ("worker-1",)
    assert found.session(2) == (["worker-1"], ["worker-2"])


@pytest.mark.parametrize(
    ("mux", "panes_up", "workers_up", "live"),
    [
        ("tmux", True, False, True),  # its tmux session runs
        ("tmux", False, True, False),  # running workers do not keep panes alive
        ("zellij", True, False, True),  # zellij's server is not recorded: ask zellij
        ("zellij", False, False, False),
        ("none", False, True, True),  # no panes: alive while a worker's sandbox runs
        ("none", True, False, False),
        ("", False, False, False),
    ],
)
def test_a_session_is_live_by_its_multiplexer_once_up_has_exited(
    mux: str, panes_up: bool, workers_up: bool, live: bool
) -> None:
    exited = Session(pid=2**22 + 7, project_root="/r", multiplexer=mux)
    asked = alive.session_alive(
        exited, panes_running=lambda: panes_up, sandboxes_running=lambda: workers_up
    )
    assert asked is live
    this = Session.for_this_process("/r", multiplexer=mux)  # `isollm up` still starting it
    assert alive.session_alive(this, panes_running=_never, sandboxes_running=_never)


def _never() -> bool:
    raise AssertionError("not asked while the recorded process runs")


def test_up_warns_of_missing_credentials_by_doctors_check() -> None:
    claude = get_agent("claude", Config(project="app").agent)
    warning = up.credentials_warning(claude, {"PATH": "/usr/bin"})
    assert warning is not None
    assert "ANTHROPIC_API_KEY" in warning
    assert "`isollm doctor`" in warning
    assert up.credentials_warning(claude, {"ANTHROPIC_API_KEY": "sk-test"}) is None
    assert up.credentials_warning(claude, {"CLAUDE_CODE_USE_BEDROCK": "1"}) is None
    command = get_agent("command", Config(project="app").agent)
    assert up.credentials_warning(command, {}) is None  # it names no credentials
