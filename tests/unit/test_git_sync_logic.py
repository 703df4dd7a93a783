"""Pure decisions of sync (push/pull/stale) and how the CLI renders results."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from isollm.cli.sync import ago, render_pull, render_push, render_status
from isollm.git.hub import hub_path
from isollm.git.pull import PulledBranch, PullOutcome, PullResult, decide
from isollm.git.sync import (
    BaseComparison,
    BaseState,
    PushOutcome,
    PushResult,
    Relation,
    SyncStatus,
    TaskBranchStatus,
    classify,
    quote_alternate,
    task_id,
    tracking_ref,
)

A = "a" * 40
B = "b" * 40
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ahead", "behind", "relation"),
    [
        (0, 0, Relation.SAME),
        (2, 0, Relation.AHEAD),
        (0, 3, Relation.BEHIND),
        (1, 1, Relation.DIVERGED),
    ],
)
def test_classify(ahead: int, behind: int, relation: Relation) -> None:
    assert classify(ahead, behind) is relation


@pytest.mark.parametrize(
    ("local", "relation", "checked_out", "outcome"),
    [
        (None, Relation.SAME, False, PullOutcome.CREATED),
        (A, Relation.SAME, True, PullOutcome.UP_TO_DATE),
        (A, Relation.BEHIND, False, PullOutcome.UPDATED),
        (A, Relation.BEHIND, True, PullOutcome.CHECKED_OUT),
        (A, Relation.AHEAD, False, PullOutcome.LOCAL_AHEAD),
        (A, Relation.DIVERGED, False, PullOutcome.DIVERGED),
        (A, Relation.DIVERGED, True, PullOutcome.DIVERGED),
    ],
)
def test_pull_decision(
    local: str | None, relation: Relation, checked_out: bool, outcome: PullOutcome
) -> None:
    assert decide(local, relation, checked_out) is outcome


def test_task_id_and_tracking_ref() -> None:
    assert task_id("isollm/ar-12", "isollm/") == "ar-12"
    assert task_id("work/x/y", "work/") == "x/y"
    assert tracking_ref("isollm/ar-12") == "refs/remotes/isollm/isollm/ar-12"


@pytest.mark.parametrize(
    ("state", "stale"),
    [
        (BaseState.NO_HUB, False),
        (BaseState.NO_HOST_BRANCH, False),
        (BaseState.NOT_PUSHED, True),
        (BaseState.IN_SYNC, False),
        (BaseState.AHEAD, True),
        (BaseState.BEHIND, False),
        (BaseState.DIVERGED, True),
    ],
)
def test_which_states_are_stale(state: BaseState, stale: bool) -> None:
    assert state.stale is stale


def test_hub_path_is_under_isollm_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ISOLLM_HOME", str(tmp_path / "h"))
    assert hub_path("my-proj") == tmp_path / "h" / "my-proj.git"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s ago"),
        (59, "59s ago"),
        (60, "1m ago"),
        (7200, "2h ago"),
        (3 * 86400 + 5, "3d ago"),
        (-10, "0s ago"),
    ],
)
def test_ago(seconds: int, text: str) -> None:
    assert ago(NOW - timedelta(seconds=seconds), NOW) == text


def test_render_push_outcomes() -> None:
    hub = Path("/h/p.git")
    assert "new hub /h/p.git" in render_push(
        PushResult(hub, "main", None, A, PushOutcome.CREATED, True)
    )
    assert "aaaaaaaaaa" in render_push(PushResult(hub, "main", None, A, PushOutcome.CREATED, True))
    assert "bbbbbbbbbb..aaaaaaaaaa" in render_push(
        PushResult(hub, "main", B, A, PushOutcome.UPDATED, False)
    )
    assert "nothing to push" in render_push(
        PushResult(hub, "main", A, A, PushOutcome.UP_TO_DATE, False)
    )
    forced = render_push(PushResult(hub, "main", B, A, PushOutcome.FORCED, False, dropped=2))
    assert "2 hub commit(s) dropped" in forced


def _pulled(outcome: PullOutcome, **kw: int) -> PulledBranch:
    return PulledBranch("isollm/t1", "t1", A, B, outcome, **kw)


def test_render_pull_summary_and_advice() -> None:
    result = PullResult(
        Path("/h/p.git"),
        (
            PulledBranch("isollm/t0", "t0", A, None, PullOutcome.CREATED),
            _pulled(PullOutcome.DIVERGED, local_ahead=1, local_behind=2),
            _pulled(PullOutcome.CHECKED_OUT, local_behind=3),
            _pulled(PullOutcome.UP_TO_DATE),
        ),
        ("isollm/old",),
    )
    lines = render_pull(result)
    assert lines[0] == (
        "Pulled 4 task branch(es) from /h/p.git: 1 created, 1 up to date, 2 left alone"
    )
    assert "isollm/t0  created at aaaaaaaaaa" in lines[1]
    assert "diverged (1 yours, 2 the hub's)" in lines[2]
    assert "`git merge isollm/isollm/t1`" in lines[2]
    assert "`git merge --ff-only isollm/isollm/t1`" in lines[3]
    assert lines[-1] == "Gone from the hub (local branches kept): isollm/old"
    assert len(lines) == 5  # up-to-date branches are only counted


def test_render_pull_with_nothing() -> None:
    assert render_pull(PullResult(Path("/h"), (), ())) == ["No task branches on the hub /h."]
    gone = render_pull(PullResult(Path("/h"), (), ("isollm/t1",)))
    assert gone == [
        "No task branches on the hub /h.",
        "Gone from the hub (local branches kept): isollm/t1",
    ]


def test_pulled_branch_local_after() -> None:
    assert _pulled(PullOutcome.UPDATED).local_after == A
    assert _pulled(PullOutcome.DIVERGED).local_after == B
    assert _pulled(PullOutcome.RACED).local_after == B


def _status(state: BaseState, tasks: tuple[TaskBranchStatus, ...] = ()) -> SyncStatus:
    base = BaseComparison(state, A, B, ahead=2, behind=1)
    return SyncStatus(Path("/h/p.git"), True, "main", "feature", A, base, tasks)


def test_render_status_lines() -> None:
    tasks = (
        TaskBranchStatus("isollm/t1", "t1", A, NOW - timedelta(minutes=5), "add [x]", 2, False, A),
        TaskBranchStatus("isollm/t22", "t22", B, NOW - timedelta(hours=3), "done", 0, True, None),
    )
    lines = render_status(_status(BaseState.DIVERGED, tasks), NOW)
    assert lines[0] == "Host:  on feature at aaaaaaaaaa"
    assert lines[1] == "Base:  main: diverged (2 yours, 1 the hub's): `isollm sync push` explains"
    assert lines[2] == "Hub:   /h/p.git"
    assert lines[3] == "Task branches (2):"
    assert lines[4] == "  isollm/t1     2 ahead    5m ago  add [x]"
    assert lines[5] == "  isollm/t22     merged    3h ago  done  (not pulled)"


@pytest.mark.parametrize(
    ("state", "phrase"),
    [
        (BaseState.NO_HUB, "creates it"),
        (BaseState.NO_HOST_BRANCH, "no branch main"),
        (BaseState.NOT_PUSHED, "not on the hub yet"),
        (BaseState.IN_SYNC, "in sync at aaaaaaaaaa"),
        (BaseState.AHEAD, "2 commit(s) ahead of the hub"),
        (BaseState.BEHIND, "run `isollm sync pull`"),
    ],
)
def test_render_status_base_states(state: BaseState, phrase: str) -> None:
    lines = render_status(_status(state), NOW)
    assert phrase in lines[1]
    assert lines[-1] == "Task branches: none"


def test_status_json_is_plain_data() -> None:
    tasks = (TaskBranchStatus("isollm/t1", "t1", A, NOW, "s", 1, False, A),)
    data = _status(BaseState.AHEAD, tasks).to_json()
    assert data["state"] == "ahead"
    assert data["stale"] is True
    assert data["hub"] == "/h/p.git"
    assert data["task_branches"] == [
        {
            "branch": "isollm/t1",
            "task_id": "t1",
            "sha": A,
            "time": "2024-05-01T12:00:00+00:00",
            "subject": "s",
            "ahead": 1,
            "merged": False,
            "host_sha": A,
            "pulled": True,
        }
    ]


@pytest.mark.parametrize(
    ("path", "entry"),
    [
        ("/plain/objects", "/plain/objects"),
        ("/a:b/objects", '"/a:b/objects"'),
        ('/q"t\\x/objects', '"/q\\"t\\\\x/objects"'),
    ],
)
def test_quote_alternate(path: str, entry: str) -> None:
    assert quote_alternate(Path(path)) == entry
