"""The limits wrapper and cgroup files, on a cgroup tree made of plain directories."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from isollm.config import parse
from isollm.config.model import DEFAULT_DISK, DEFAULT_MEMORY, DEFAULT_PIDS, SandboxConfig
from isollm.sandbox import base, limits
from isollm.sandbox.base import Limits

SANDBOX = Path("/var/isollm/sandboxes/app/worker-1")


def v1_tree(root: Path, controllers: tuple[str, ...] = ("memory", "pids", "cpu")) -> Path:
    for controller in controllers:
        (root / controller).mkdir(parents=True)
        (root / controller / "cgroup.procs").write_text("")
    return root


def test_defaults_agree_between_config_and_sandbox() -> None:
    assert (DEFAULT_MEMORY, DEFAULT_PIDS, DEFAULT_DISK) == (
        base.DEFAULT_MEMORY,
        base.DEFAULT_PIDS,
        base.DEFAULT_DISK,
    )
    config = SandboxConfig()
    assert Limits() == Limits(config.memory, config.pids, config.cpus, config.disk)


def test_group_name_is_per_project_sandbox_and_isollm_home() -> None:
    name = limits.group_name(SANDBOX)
    assert name.startswith("isollm/app/worker-1-")
    assert name != limits.group_name(Path("/other/home/sandboxes/app/worker-1"))


def test_v1_cgroups_get_the_limits_swap_included(tmp_path: Path) -> None:
    root = v1_tree(tmp_path)
    joined = limits.prepare_cgroups(Limits(memory="1G", pids=99, cpus=0.5), SANDBOX, root)
    name = limits.group_name(SANDBOX)
    assert joined == {c: root / c / name for c in ("memory", "pids", "cpu")}
    memory = root / "memory" / name
    assert (memory / "memory.limit_in_bytes").read_text() == str(1 << 30)
    assert (memory / "memory.memsw.limit_in_bytes").read_text() == str(1 << 30)
    assert (root / "pids" / name / "pids.max").read_text() == "99"
    assert (root / "cpu" / name / "cpu.cfs_quota_us").read_text() == "50000"


def test_no_limit_no_cgroup(tmp_path: Path) -> None:
    root = v1_tree(tmp_path)
    assert limits.prepare_cgroups(Limits(memory="", pids=0), SANDBOX, root) == {}


def test_a_missing_hierarchy_is_left_out(tmp_path: Path) -> None:
    root = v1_tree(tmp_path, ("pids",))
    assert list(limits.prepare_cgroups(Limits(), SANDBOX, root)) == ["pids"]


def test_v2_enables_controllers_down_the_tree(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    joined = limits.prepare_cgroups(Limits(memory="2G", pids=10), SANDBOX, tmp_path)
    group = tmp_path / limits.group_name(SANDBOX)
    assert joined == {"memory": group, "pids": group}
    assert (group / "memory.max").read_text() == str(2 << 30)
    assert (group / "memory.swap.max").read_text() == "0"
    assert (group / "pids.max").read_text() == "10"
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+memory +pids"
    assert (group.parent / "cgroup.subtree_control").read_text() == "+memory +pids"


def test_release_removes_the_sandbox_and_empty_project_groups(tmp_path: Path) -> None:
    root = v1_tree(tmp_path)
    limits.prepare_cgroups(Limits(), SANDBOX, root)
    groups = [root / c / limits.group_name(SANDBOX) for c in ("memory", "pids")]
    for group in groups:
        for child in group.iterdir():  # a real cgroup directory empties itself on rmdir
            child.unlink()
    limits.release_cgroups(SANDBOX, root)
    assert not any(g.exists() for g in groups)
    group = groups[1]
    assert not group.exists()
    assert not group.parent.exists()
    limits.release_cgroups(SANDBOX, root)  # idempotent


def test_rlimits_with_cgroups_leave_nproc_to_the_pids_cgroup() -> None:
    options = limits.rlimit_options(Limits(disk="1G"), ["memory", "pids"])
    assert "--core=0" in options
    assert f"--fsize={1 << 30}" in options
    assert not any(o.startswith(("--nproc", "--data")) for o in options)


def test_without_cgroups_rlimits_stand_in() -> None:
    options = limits.rlimit_options(Limits(memory="1G", pids=300), [])
    (nproc,) = [o for o in options if o.startswith("--nproc=")]
    # RLIMIT_NPROC counts every task of the uid: the sandbox gets 300 more than run now
    assert 300 < int(nproc.split("=")[1]) <= 300 + limits.user_tasks(os.getuid()) + 50
    assert f"--data={1 << 30}" in options


def test_nofile_never_asks_above_the_hard_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    (nofile,) = [o for o in limits.rlimit_options(Limits(), []) if o.startswith("--nofile=")]
    assert int(nofile.split("=")[1]) <= min(hard, limits.NOFILE)


def test_the_wrapper_sets_the_rlimits_for_real(tmp_path: Path) -> None:
    no_cgroup = Limits(memory="", pids=0, disk="1M")  # none made on this host
    argv = limits.wrap(["sh", "-c", "ulimit -f; ulimit -c"], no_cgroup, tmp_path / "s")
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split()
    assert out == [str((1 << 20) // 512), "0"]


def test_the_join_script_refuses_to_run_unlimited(tmp_path: Path) -> None:
    missing = tmp_path / "gone" / "cgroup.procs"
    argv = ["sh", "-c", limits.JOIN_SCRIPT, "sh", str(missing), "--", "echo", "ran"]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert result.returncode == limits.JOIN_FAILED
    assert "ran" not in result.stdout


def test_the_join_script_writes_its_pid_then_execs(tmp_path: Path) -> None:
    procs = [tmp_path / "a", tmp_path / "b"]
    script = [sys.executable, "-c", "import os; print(os.getpid())"]
    argv = ["sh", "-c", limits.JOIN_SCRIPT, "sh", *map(str, procs), "--", *script]
    pid = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
    assert [p.read_text().strip() for p in procs] == [pid, pid]  # exec kept the pid


def test_gaps_explain_what_is_weaker_without_cgroups(tmp_path: Path) -> None:
    assert limits.gaps(Limits(), v1_tree(tmp_path / "ok")) == []
    notes = limits.gaps(Limits(), tmp_path / "none")
    assert len(notes) == 1
    assert "RLIMIT_NPROC" in notes[0]
    assert "RLIMIT_DATA" in notes[0]


def test_container_limits_include_swap_and_file_size(tmp_path: Path) -> None:
    root = v1_tree(tmp_path)
    (root / "memory" / "memory.memsw.limit_in_bytes").write_text("")
    settings = limits.container_cgroup_settings(Limits(memory="1G", pids=5), v2=False, root=root)
    assert ("memory.memsw.limit_in_bytes", str(1 << 30)) in settings
    assert limits.container_cgroup_settings(Limits(memory="1G"), v2=True)[-1] == (
        "memory.swap.max",
        "0",
    )
    assert ("fsize", 10 << 30) in limits.container_rlimits(Limits())
    assert ("core", 0) in limits.container_rlimits(Limits())


@pytest.mark.parametrize(("text", "size"), [("10G", 10 << 30), ("2T", 2 << 40), ("512", 512)])
def test_sizes(text: str, size: int) -> None:
    assert limits.size_bytes(text) == size


def _report(sandbox: dict[str, object]) -> tuple[list[str], list[str]]:
    _config, report = parse({"project": "my-app", "sandbox": sandbox})
    return [str(p) for p in report.errors], [str(p) for p in report.warnings]


def test_config_limits_are_checked_with_clear_messages() -> None:
    errors, _ = _report({"memory": "lots", "disk": "1.5G", "pids": -1})
    assert any("sandbox.memory" in e and "'lots' is not a size" in e for e in errors)
    assert any("sandbox.disk" in e for e in errors)
    assert any("sandbox.pids" in e and "negative" in e for e in errors)
    _, warnings = _report({"memory": "", "pids": 0})
    assert any("no memory, pids limit" in w for w in warnings)
    _, warnings = _report({"pids": 10, "memory": "64M"})
    assert any("sandbox.pids" in w for w in warnings)
    assert any("sandbox.memory" in w for w in warnings)
    assert _report({}) == ([], [])
