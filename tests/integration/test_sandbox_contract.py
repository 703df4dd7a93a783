"""One contract, every sandbox backend: the same behaviour from overlay, worktree, lxc, podman.

Real git, real bubblewrap, real LXC and podman; nothing faked.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from isollm.git import intake
from isollm.sandbox import SandboxStatus, SetupError, meta, registry
from isollm.sandbox.base import ExecResult, Sandbox, SandboxExistsError
from isollm.sandbox.gitops import AfterCheckout
from isollm.sandbox.workspace import OVERLAY
from tests.integration.sandbox_support import (
    BACKENDS,
    Factory,
    container_base,
    factory_for,
    hub_git,
    podman_image,
)

__all__ = ["container_base", "factory_for", "podman_image"]

Make = Callable[[str], Factory]


def sh(sb: Sandbox, script: str, timeout: float | None = None) -> ExecResult:
    return sb.exec(["sh", "-c", script], timeout=timeout)


def deliver(factory: Factory, sb: Sandbox, task: str) -> None:
    """What a run does with a task's work: HEAD into the hub through the host's intake."""
    grant = intake.task_grant("isollm/", task, "main", None)
    intake.deliver(factory.hub, sb, grant, haves=(hub_git(factory, "rev-parse", "main"),))


def ok(sb: Sandbox, script: str) -> str:
    result = sh(sb, script)
    assert result.ok, result.describe()
    return result.stdout


@pytest.fixture(params=BACKENDS)
def factory(request: pytest.FixtureRequest, factory_for: Make) -> Factory:
    return factory_for(request.param)


class TestSandboxContract:
    def test_create_gives_a_checkout_of_the_hub_on_its_branch(self, factory: Factory) -> None:
        sb = factory.make(work_branch="isollm/ar-1")
        info = sb.info()
        assert info.status is SandboxStatus.RUNNING
        assert (info.backend, info.branch, info.name) == (factory.backend, "isollm/ar-1", "w1")
        assert info.base_commit == hub_git(factory, "rev-parse", "main")
        assert ok(sb, "pwd").strip() == info.workspace
        assert ok(sb, "git branch --show-current").strip() == "isollm/ar-1"
        assert ok(sb, "git remote get-url origin").strip() == str(factory.hub.path)
        assert ok(sb, "cat src/app.py") == "print('hello')\n"
        assert ok(sb, "git status --porcelain") == ""

    def test_worktreeinclude_files_are_copied_and_setup_runs_once(self, factory: Factory) -> None:
        sb = factory.make(setup=("sh", "-c", "echo ran >> .setup-log; cat .env > build.txt"))
        assert ok(sb, "cat .env") == "API_TOKEN=from-the-host\n"
        assert ok(sb, "cat config/local.toml") == "debug = true\n"
        assert ok(sb, "test -e build/out.o || echo absent").strip() == "absent"
        assert ok(sb, "cat .setup-log") == "ran\n"
        assert ok(sb, "cat build.txt") == "API_TOKEN=from-the-host\n"
        assert "setup" in sb.record.log_path.read_text()

    def test_a_failing_setup_is_reported_with_its_output_and_leaves_nothing(
        self, factory: Factory
    ) -> None:
        setup = ("sh", "-c", "echo installing deps; echo 'E: no such package' >&2; exit 7")
        with pytest.raises(SetupError) as caught:
            factory.make(setup=setup)
        message = str(caught.value)
        assert "exit 7" in message
        assert "installing deps" in message
        assert "E: no such package" in message
        assert not meta.sandbox_dir(factory.project, "w1").exists()
        assert registry.BACKENDS[factory.backend].leftovers(factory.project) == []

    def test_another_isollm_homes_worker_is_never_a_leftover(
        self, factory: Factory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """Containers are machine-wide: the same project in another isollm home must not
        see this home's worker as its leftover (its gc would remove it)."""
        factory.make("w1")
        monkeypatch.setenv("ISOLLM_HOME", str(tmp_path / "another-home"))
        assert registry.BACKENDS[factory.backend].leftovers(factory.project) == []

    def test_include_files_never_follow_a_symlink_out_of_the_workspace(
        self, factory: Factory, tmp_path: Path
    ) -> None:
        outside = tmp_path / "outside"
        outside.mkdir()
        sb = factory.make(work_branch="isollm/ar-evil")
        ok(sb, f'rm -rf config && ln -s "{outside}" config && git add config && git commit -qm ln')
        deliver(factory, sb, "ar-evil")
        again = factory.make("w2", work_branch="isollm/ar-evil")  # continues that branch
        assert list(outside.iterdir()) == []
        assert ok(again, "cat .env") == "API_TOKEN=from-the-host\n"
        assert "not copied: config/local.toml" in again.record.log_path.read_text()

    def test_a_name_is_taken_once(self, factory: Factory) -> None:
        factory.make()
        with pytest.raises(SandboxExistsError):
            factory.make()

    def test_exec_passes_env_cwd_stdin_and_exit_code(self, factory: Factory) -> None:
        sb = factory.make()
        result = sb.exec(
            ["sh", "-c", 'pwd; echo "$GREETING"; cat; exit 3'],
            env={"GREETING": "hello there"},
            cwd=f"{sb.workspace}/src",
            input="from stdin\n",
        )
        assert result.returncode == 3
        assert not result.ok
        assert result.stdout == f"{sb.workspace}/src\nhello there\nfrom stdin\n"
        assert "exit 3" in result.describe()

    def test_a_timeout_kills_the_command_and_what_it_started(self, factory: Factory) -> None:
        sb = factory.make()
        started = time.monotonic()
        result = sh(sb, "(while :; do date +%s%N >> ticks; sleep 0.05; done) & sleep 30", timeout=1)
        assert result.timed_out
        assert not result.ok
        assert time.monotonic() - started < 15
        assert_stopped_growing(sb, "ticks")

    def test_a_timeout_returns_even_if_something_keeps_the_output_open(
        self, factory: Factory
    ) -> None:
        sb = factory.make()
        script = "setsid sh -c 'echo $$ > escaped.pid; exec sleep 30' & sleep 30"
        started = time.monotonic()
        result = sh(sb, script, timeout=1)
        assert result.timed_out
        assert time.monotonic() - started < 15
        if not sb.isolated and sb.host_workspace is not None:  # a host process: ours to end
            pid = int((sb.host_workspace / "escaped.pid").read_text())
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def test_spawn_streams_to_a_log_and_kill_stops_everything(
        self, factory: Factory, tmp_path: Path
    ) -> None:
        sb = factory.make()
        log = tmp_path / "agent.log"
        with log.open("wb") as out:
            job = sb.spawn(
                ["sh", "-c", "echo started; (while :; do date >> ticks; sleep 0.05; done) & wait"],
                stdout=out,
                stderr=out,
            )
            wait_for(lambda: log.read_text().startswith("started"))
            # the writer starts after the echo: kill only once it has written
            assert sb.host_workspace is not None
            wait_for((sb.host_workspace / "ticks").exists)
            assert job.poll() is None
            job.kill()
        assert job.poll() is not None
        assert_stopped_growing(sb, "ticks")

    def test_commits_delivered_through_the_intake_reach_the_hub(self, factory: Factory) -> None:
        sb = factory.make(work_branch="isollm/ar-7")
        ok(sb, "echo feature > feature.txt && git add feature.txt && git commit -qm feature")
        if sb.isolated:  # the hub is read-only inside
            assert not sb.exec(["git", "push", "-q", "origin", "isollm/ar-7"]).ok
        deliver(factory, sb, "ar-7")
        assert hub_git(factory, "log", "-1", "--format=%s", "isollm/ar-7") == "feature"
        assert hub_git(factory, "show", "isollm/ar-7:feature.txt") == "feature"

    def test_work_state_sees_uncommitted_and_unpushed_work(self, factory: Factory) -> None:
        sb = factory.make(work_branch="isollm/ar-2")
        assert sb.work_state().clean
        ok(sb, "echo wip > wip.txt && echo change >> README.md")
        state = sb.work_state()
        assert sorted(state.uncommitted) == ["?? wip.txt", "M README.md"]
        ok(sb, "git add -A && git commit -qm wip")
        state = sb.work_state()
        assert (state.uncommitted, state.unpushed) == ((), (("isollm/ar-2", 1),))
        assert "1 unpushed commit(s) on isollm/ar-2" in state.describe()
        deliver(factory, sb, "ar-2")
        assert sb.work_state().clean

    def test_reset_discards_work_and_takes_the_new_base(self, factory: Factory) -> None:
        sb = factory.make()
        ok(sb, "echo wip > wip.txt && rm README.md")
        new_base = factory.host_commit("host moved on", {"NEWS.md": "news\n"})
        sb.reset()
        assert sb.work_state().clean
        assert ok(sb, "git rev-parse HEAD").strip() == new_base
        assert ok(sb, "cat NEWS.md README.md") == "news\n# sample\n"
        assert ok(sb, "cat .env") == "API_TOKEN=from-the-host\n"  # prepared again

    def test_reset_onto_a_branch_the_hub_has_continues_it(self, factory: Factory) -> None:
        sb = factory.make(work_branch="isollm/ar-3")
        ok(sb, "echo one > one.txt && git add one.txt && git commit -qm one")
        deliver(factory, sb, "ar-3")
        sb.reset(work_branch="isollm/ar-4")
        assert ok(sb, "git branch --show-current").strip() == "isollm/ar-4"
        assert ok(sb, "test -e one.txt || echo fresh").strip() == "fresh"
        sb.reset(work_branch="isollm/ar-3")
        assert ok(sb, "git log -1 --format=%s").strip() == "one"
        assert ok(sb, "git rev-parse --abbrev-ref @{upstream}").strip() == "origin/isollm/ar-3"

    def test_refresh_then_check_out_runs_the_followup_in_the_same_command(
        self, factory: Factory
    ) -> None:
        # What the runner does between tasks: a fresh workspace before the claim, then
        # the task's branch and the instruction file in one sandbox command.
        sb = registry.create(factory.spec(), factory.backend, entered=False)
        factory.made.append(sb)
        assert ok(sb, "test -e .env || echo not yet").strip() == "not yet"
        ok(sb, "echo wip > wip.txt")
        sb.refresh()
        assert ok(sb, "test -e wip.txt || echo gone").strip() == "gone"
        then = AfterCheckout(
            'printf "%s|%s|" "$1" "$2" > followup.txt; cat >> followup.txt; '
            "git branch --show-current >> followup.txt",
            ("first arg", "$(not expanded)"),
            "from stdin\n",
        )
        sb.check_out("isollm/ar-30", then)
        assert ok(sb, "cat followup.txt") == "first arg|$(not expanded)|from stdin\nisollm/ar-30\n"
        assert ok(sb, "cat .env") == "API_TOKEN=from-the-host\n"  # include files after it

    def test_a_pinned_base_is_used_whatever_the_hub_says(self, factory: Factory) -> None:
        pinned = hub_git(factory, "rev-parse", "main")
        factory.host_commit("host moved on", {"NEWS.md": "news\n"})
        sb = factory.make(base_commit=pinned, work_branch="isollm/ar-31")
        assert ok(sb, "git rev-parse HEAD").strip() == pinned
        sb.refresh()
        sb.check_out("isollm/ar-32")
        assert (ok(sb, "git rev-parse HEAD").strip(), sb.record.base_commit) == (pinned, pinned)
        assert ok(sb, "test -e NEWS.md || echo absent").strip() == "absent"

    def test_work_survives_stop_and_start(self, factory: Factory) -> None:
        sb = factory.make()
        ok(sb, "echo kept > kept.txt")
        sb.stop()
        assert sb.status() in (SandboxStatus.STOPPED, SandboxStatus.RUNNING)
        reopened = registry.open_sandbox(factory.project, "w1")
        reopened.start()
        assert reopened.status() is SandboxStatus.RUNNING
        assert ok(reopened, "cat kept.txt") == "kept\n"

    def test_sandboxes_do_not_share_workspaces(self, factory: Factory) -> None:
        a, b = factory.make("wa"), factory.make("wb")
        ok(a, "echo mine > only-in-a.txt")
        assert ok(b, "test -e only-in-a.txt || echo absent").strip() == "absent"
        assert a.host_workspace != b.host_workspace

    def test_destroy_leaves_nothing_and_is_idempotent(self, factory: Factory) -> None:
        sb = factory.make()
        workspace = sb.host_workspace
        assert workspace is not None
        sb.destroy()
        sb.destroy()
        assert sb.status() is SandboxStatus.MISSING
        assert not meta.sandbox_dir(factory.project, "w1").exists()
        assert not os.path.ismount(workspace)
        assert registry.BACKENDS[factory.backend].leftovers(factory.project) == []
        assert meta.names(factory.project) == []

    def test_record_reopens_the_same_sandbox(self, factory: Factory) -> None:
        sb = factory.make(work_branch="isollm/ar-5")
        again = registry.open_sandbox(factory.project, "w1")
        assert again.info() == sb.info()
        assert type(again) is type(sb)


def wait_for(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def assert_stopped_growing(sb: Sandbox, name: str) -> None:
    """The file ``name`` in the workspace no longer grows: its writer is dead."""
    path = sb.host_workspace
    assert path is not None
    size = (path / name).stat().st_size
    time.sleep(0.5)
    assert (path / name).stat().st_size == size


class TestOverlayWorkspace:
    def test_overlay_is_used_and_the_lower_checkout_is_shared(self, factory_for: Make) -> None:
        factory = factory_for("overlay")
        a, b = factory.make("wa"), factory.make("wb")
        assert a.record.mode == b.record.mode == OVERLAY
        assert os.path.ismount(a.host_workspace or "")
        lowers = list(meta.lowers_dir(factory.project).glob("[0-9a-f]*"))
        assert [p.name.split(".u")[0] for p in lowers] == [a.record.base_commit]

    def test_falls_back_to_a_clone_and_says_so(
        self, factory_for: Make, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        factory = factory_for("overlay")
        # an ISOLLM_HOME path overlayfs options cannot express forces the fallback
        monkeypatch.setattr("isollm.sandbox.workspace._UNSAFE_IN_OPTIONS", ("/",))
        sb = factory.make()
        assert sb.record.mode == "clone"
        assert any("full clone" in note for note in sb.info().notes)
        assert not os.path.ismount(sb.host_workspace or "")
        assert ok(sb, "git status --porcelain; cat .env") == "API_TOKEN=from-the-host\n"

    def test_a_new_base_gets_a_new_lower_and_the_old_one_is_pruned(self, factory_for: Make) -> None:
        factory = factory_for("overlay")
        sb = factory.make()
        old = sb.record.base_commit
        new = factory.host_commit("next", {"next.txt": "next\n"})
        sb.reset()
        lowers = meta.lowers_dir(factory.project).glob("[0-9a-f]*")
        assert sorted(p.name.split(".u")[0] for p in lowers) == [new]  # .u<uid>: its owner
        assert old != new

    def test_after_a_reboot_start_mounts_the_work_again(self, factory_for: Make) -> None:
        factory = factory_for("overlay")
        sb = factory.make()
        ok(sb, "echo survived > note.txt")
        workspace = sb.host_workspace
        assert workspace is not None
        subprocess.run(["umount", str(workspace)], check=True)  # what a reboot does
        assert sb.status() is SandboxStatus.STOPPED
        assert sb.work_state().uncommitted == ("?? note.txt",)  # mounted again to look
        assert ok(sb, "cat note.txt") == "survived\n"
