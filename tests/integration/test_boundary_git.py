"""The git boundary between sandboxes and the host, attacked from inside real sandboxes.

An agent cannot write the hub (it is read-only inside), so it can neither plant files
that host git would obey (``commondir``, hooks, alternates, symlinks) nor delete or
rewrite branches. Work reaches the hub only through the host's intake, which writes
only the ref the host granted. A hub tampered with by other means is refused by every
host command before git runs in it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from isollm.errors import IsollmError
from isollm.git import intake
from isollm.git.hub import HubTamperedError
from isollm.git.pull import pull_task_branches
from isollm.git.sync import push_base, sync_status
from isollm.sandbox.base import Sandbox
from tests.conftest import git
from tests.integration.sandbox_support import (
    ISOLATING,
    Factory,
    container_base,
    factory_for,
    hub_git,
    podman_image,
)

__all__ = ["container_base", "factory_for", "podman_image"]

Make = Callable[[str], Factory]
SECRET = "s3cret-line-of-a-host-file"


@pytest.fixture(params=ISOLATING)
def factory(request: pytest.FixtureRequest, factory_for: Make) -> Factory:
    return factory_for(request.param)


def inside(sb: Sandbox, script: str, *args: str) -> tuple[int, str]:
    result = sb.exec(["sh", "-c", script, "sh", *args], timeout=120)
    assert not result.timed_out
    return result.returncode, result.stdout + result.stderr


def grant(task: str, held: Callable[[], object] | None = None) -> intake.Grant:
    return intake.task_grant("isollm/", task, "main", held)


def hub_refs(factory: Factory) -> dict[str, str]:
    out = {}
    for line in hub_git(factory, "for-each-ref", "--format=%(refname) %(objectname)").splitlines():
        name, sha = line.split(" ")
        out[name] = sha
    return out


def deliver(factory: Factory, sb: Sandbox, task: str, **kw: object) -> intake.Delivery:
    base = hub_git(factory, "rev-parse", "main")
    return intake.deliver(factory.hub, sb, grant(task), haves=(base,), **kw)  # type: ignore[arg-type]


def commit_inside(sb: Sandbox, name: str, text: str) -> str:
    code, out = inside(
        sb,
        'printf "%s\\n" "$2" > "$1" && git add -A && git commit -qm "$1" && git rev-parse HEAD',
        name,
        text,
    )
    assert code == 0, out
    return out.strip().splitlines()[-1]


def run_every_host_command(factory: Factory) -> None:
    """Every host command that touches the hub: base push, pull, status."""
    factory.host_commit("host change", {"host.txt": "from the host\n"})
    push_base(factory.repo, factory.hub, "main")
    pull_task_branches(factory.repo, factory.hub, "isollm/")
    sync_status(factory.repo, factory.hub, "main", "isollm/")


# --- attacks from inside: the hub is read-only ----------------------------------------

HUB_ATTACKS = {
    "commondir": 'mkdir -p /tmp/evil/hooks && echo /tmp/evil > "$1/commondir"',
    "hook": 'printf "#!/bin/sh\\ntouch %s\\n" "$2" > "$1/hooks/post-update"',
    "alternates": 'echo /tmp/evil/objects > "$1/objects/info/alternates"',
    "symlinked packed-refs": 'rm -f "$1/packed-refs"; ln -s /etc/shadow "$1/packed-refs"',
    "config": 'printf "[core]\\n\\thooksPath = /tmp/evil\\n" >> "$1/config"',
    "delete the base": 'git --git-dir="$1" update-ref -d refs/heads/main',
    "delete a loose ref": 'rm "$1/refs/heads/isollm/other"',
    "delete a task branch": 'git --git-dir="$1" update-ref -d refs/heads/isollm/other',
    "delete objects": 'find "$1/objects" -type f -exec rm -f {} + && test ! -e "$1/objects/pack"',
    "push the base": "git push -q origin HEAD:refs/heads/main",
    "push another task": "git push -q -f origin HEAD:refs/heads/isollm/other",
    "delete by push": "git push -q origin :refs/heads/isollm/other",
}


@pytest.mark.parametrize("attack", sorted(HUB_ATTACKS))
def test_an_agent_cannot_write_the_hub(factory: Factory, attack: str, tmp_path: Path) -> None:
    other = factory.make("w0", work_branch="isollm/other")
    deliver(factory, other, "other")
    sb = factory.make("w1", work_branch="isollm/mine")
    commit_inside(sb, "mine.txt", "mine")
    before = hub_refs(factory)
    files = sorted(p.relative_to(factory.hub.path) for p in factory.hub.path.rglob("*"))
    marker = tmp_path / "hook-ran"
    code, out = inside(sb, HUB_ATTACKS[attack], str(factory.hub.path), str(marker))
    assert code != 0, out
    assert hub_refs(factory) == before
    assert sorted(p.relative_to(factory.hub.path) for p in factory.hub.path.rglob("*")) == files
    run_every_host_command(factory)
    deliver(factory, sb, "mine")
    assert not marker.exists()
    after = hub_refs(factory)
    assert after["refs/heads/isollm/other"] == before["refs/heads/isollm/other"]
    assert hub_git(factory, "show", "isollm/mine:mine.txt") == "mine"


def test_a_rewritten_push_url_cannot_fake_a_delivery(factory: Factory, tmp_path: Path) -> None:
    """Done without delivery: the remote's URLs and the workspace's config are the agent's,
    the intake uses none of them and reads the result from the hub."""
    sb = factory.make("w1", work_branch="isollm/t1")
    head = commit_inside(sb, "work.txt", "work")
    code, out = inside(
        sb,
        "git init -q --bare /tmp/elsewhere && git remote set-url --push origin /tmp/elsewhere"
        " && git config remote.origin.url /tmp/elsewhere && git config alias.push '!true'"
        " && git config core.hooksPath /tmp",
    )
    assert code == 0, out
    got = deliver(factory, sb, "t1")
    assert got.new == head == hub_git(factory, "rev-parse", "isollm/t1")


# --- the intake's policy --------------------------------------------------------------


def test_own_task_branch_is_delivered_and_nothing_else_moves(factory_for: Make) -> None:
    factory = factory_for("overlay")
    sb = factory.make("w1", work_branch="isollm/t1")
    head = commit_inside(sb, "a.txt", "a")
    before = hub_refs(factory)
    got = deliver(factory, sb, "t1")
    after = hub_refs(factory)
    assert got.new == head
    assert after.pop("refs/heads/isollm/t1") == head
    assert after == before  # no incoming ref left, nothing else touched
    log = hub_git(factory, "reflog", "show", "--format=%H", "refs/heads/isollm/t1")
    assert head in log  # reflogs kept on the hub


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: intake.task_grant("", "main", "main", None), "base branch"),
        (lambda: intake.task_grant("isollm/", "../main", "main", None), "cannot name a branch"),
        (lambda: intake.task_grant("isollm/", "t1.lock", "main", None), "cannot name a branch"),
        (lambda: intake.salvage_grant("../w2", "main"), "cannot name a branch"),
        (lambda: intake.Grant("refs/tags/v1", "main"), "not a task or salvage ref"),
        (lambda: intake.Grant("refs/heads/main", "main"), "base branch"),
        (lambda: intake.Grant("refs/isollm/incoming/x", "main"), "not a task or salvage ref"),
    ],
)
def test_refs_outside_the_policy_are_refused(
    factory_for: Make, make: Callable[[], intake.Grant], message: str
) -> None:
    factory = factory_for("overlay")
    sb = factory.make("w1", work_branch="isollm/t1")
    commit_inside(sb, "a.txt", "a")
    before = hub_refs(factory)
    with pytest.raises(intake.IntakeRefusedError, match=message):
        intake.deliver(factory.hub, sb, make())
    assert hub_refs(factory) == before


def test_a_deleted_head_deletes_nothing(factory_for: Make) -> None:
    factory = factory_for("overlay")
    sb = factory.make("w1", work_branch="isollm/t1")
    head = commit_inside(sb, "a.txt", "a")
    deliver(factory, sb, "t1")
    code, out = inside(sb, "git checkout -q --orphan gone && git rm -rqf .")
    assert code == 0, out
    with pytest.raises(intake.IntakeError, match="no commit at HEAD"):
        deliver(factory, sb, "t1")
    assert hub_git(factory, "rev-parse", "isollm/t1") == head


def test_an_oversize_bundle_is_refused_and_the_job_killed(factory_for: Make) -> None:
    factory = factory_for("overlay")
    sb = factory.make("w1", work_branch="isollm/t1")
    inside(sb, "head -c 300000 /dev/urandom > big.bin && git add -A && git commit -qm big")
    before = hub_refs(factory)
    with pytest.raises(intake.IntakeRefusedError, match="over 100000 bytes"):
        deliver(factory, sb, "t1", max_bytes=100_000)
    assert hub_refs(factory) == before
    assert not list(factory.hub.path.parent.glob(".intake-*"))  # the temp file is gone


def test_a_rewrite_keeps_the_old_tip(factory_for: Make) -> None:
    factory = factory_for("overlay")
    sb = factory.make("w1", work_branch="isollm/t1")
    first = commit_inside(sb, "a.txt", "first")
    deliver(factory, sb, "t1")
    code, out = inside(sb, "git reset -q --hard HEAD~1")
    assert code == 0, out
    second = commit_inside(sb, "b.txt", "second")
    got = deliver(factory, sb, "t1")
    assert (got.new, got.old) == (second, first)
    assert got.backup is not None
    assert hub_git(factory, "rev-parse", got.backup) == first
    assert hub_git(factory, "rev-parse", "isollm/t1") == second


def test_a_lost_claim_moves_nothing(factory_for: Make) -> None:
    factory = factory_for("overlay")
    sb = factory.make("w1", work_branch="isollm/t1")
    commit_inside(sb, "a.txt", "a")
    before = hub_refs(factory)

    def lost() -> None:
        raise IsollmError("the claim is no longer current")

    with pytest.raises(IsollmError, match="no longer current"):
        intake.deliver(factory.hub, sb, grant("t1", lost))
    assert hub_refs(factory) == before


def test_salvage_goes_to_the_workers_own_namespace(factory_for: Make) -> None:
    factory = factory_for("overlay")
    sb = factory.make("w1", work_branch="isollm/t1")
    inside(sb, "echo unfinished > u.txt")
    got = intake.deliver(
        factory.hub,
        sb,
        intake.salvage_grant("w1", "main", "20250101T000000"),
        before=("git add -A && git commit -qm salvage", ()),
    )
    assert got.ref == "refs/isollm/salvage/w1/20250101T000000"
    assert hub_git(factory, "show", f"{got.ref}:u.txt") == "unfinished"


def test_the_worktree_backend_delivers_through_the_intake(factory_for: Make) -> None:
    factory = factory_for("worktree")
    sb = factory.make("w1", work_branch="isollm/t1")
    head = commit_inside(sb, "a.txt", "a")
    assert deliver(factory, sb, "t1").new == head == hub_git(factory, "rev-parse", "isollm/t1")


# --- a hub tampered with by other means: refused before host git runs in it -----------


def _hook(path: Path, marker: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\ntouch {marker}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _append(path: Path, text: str) -> None:
    with path.open("a") as f:
        f.write(text)


TAMPERING: dict[str, Callable[[Path, Path, Path], None]] = {
    "commondir": lambda hub, evil, marker: (
        _hook(evil / "hooks" / "reference-transaction", marker),
        (hub / "commondir").write_text(f"{evil}\n"),
    ),
    "hook": lambda hub, evil, marker: _hook(hub / "hooks" / "reference-transaction", marker),
    "alternates": lambda hub, evil, marker: (hub / "objects" / "info" / "alternates").write_text(
        f"{evil}\n"
    ),
    "symlinked packed-refs": lambda hub, evil, marker: (
        (hub / "packed-refs").unlink(missing_ok=True),
        os.symlink(evil / "secret", hub / "packed-refs"),
    ),
    "config include": lambda hub, evil, marker: _append(
        hub / "config", f"[include]\n\tpath = {evil / 'secret'}\n"
    ),
    "world-writable": lambda hub, evil, marker: (hub / "refs").chmod(0o777),
}


@pytest.mark.parametrize("kind", sorted(TAMPERING))
def test_a_tampered_hub_is_refused_by_every_host_command(
    factory_for: Make, kind: str, tmp_path: Path
) -> None:
    factory = factory_for("overlay")
    sb = factory.make("w1", work_branch="isollm/t1")
    commit_inside(sb, "a.txt", "a")
    evil, marker = tmp_path / "evil", tmp_path / "hook-ran"
    evil.mkdir()
    (evil / "secret").write_text(f"{SECRET}\n")
    before = hub_refs(factory)
    base = before["refs/heads/main"]
    TAMPERING[kind](factory.hub.path, evil, marker)
    (factory.repo / "host.txt").write_text("x\n")
    git(factory.repo, "add", "-A")
    git(factory.repo, "commit", "-qm", "host change")
    commands: list[Callable[[], object]] = [
        lambda: push_base(factory.repo, factory.hub, "main"),
        lambda: pull_task_branches(factory.repo, factory.hub, "isollm/"),
        lambda: sync_status(factory.repo, factory.hub, "main", "isollm/"),
        lambda: intake.deliver(factory.hub, sb, grant("t1"), haves=(base,)),
    ]
    for command in commands:
        with pytest.raises(HubTamperedError) as caught:
            command()
        assert SECRET not in str(caught.value)
        assert "hint:" in str(caught.value)
    assert not marker.exists()
    if kind in ("hook", "world-writable"):  # git can still read it: nothing moved
        assert hub_refs(factory) == before
