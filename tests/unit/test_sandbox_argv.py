"""Pure command-line builders of the sandboxes: bubblewrap, LXC config, podman, job wrapper."""

from __future__ import annotations

from pathlib import Path

import pytest

from isollm.errors import SandboxError
from isollm.sandbox import containers, lxcbase
from isollm.sandbox.base import Limits
from isollm.sandbox.bwrap import (
    SANDBOX_HOME,
    BwrapLayout,
    bwrap_argv,
    group_entries,
    hidden_paths,
    passwd_entries,
)
from isollm.sandbox.lxc import config_lines, mount_entry, owner_line
from isollm.sandbox.podman import run_argv

LAYOUT = BwrapLayout(
    workspace=Path("/data/sb/w1/merged"),
    hub=Path("/data/app.git"),
    home=Path("/data/sb/w1/home"),
    hide=(Path("/root"), Path("/home"), Path("/home/me"), Path("/data")),
    files=((Path("/data/sb/w1/etc/passwd"), "/etc/passwd"),),
    hostname="w1",
)


def test_bwrap_drops_every_capability_and_unshares_everything() -> None:
    argv = bwrap_argv(LAYOUT, ["make", "test"], cwd="/data/sb/w1/merged")
    assert argv[0] == "bwrap"
    assert argv[argv.index("--cap-drop") + 1] == "ALL"
    assert {"--unshare-all", "--unshare-user", "--die-with-parent", "--new-session"} <= set(argv)
    assert argv[argv.index("--uid") + 1] == "1000"
    assert argv[-3:] == ["--", "make", "test"]
    assert argv[argv.index("--chdir") + 1] == "/data/sb/w1/merged"


def test_bwrap_network_is_shared_only_for_host() -> None:
    assert "--share-net" in bwrap_argv(LAYOUT, ["true"], cwd="/")
    none = BwrapLayout(**{**LAYOUT.__dict__, "network": "none"})
    assert "--share-net" not in bwrap_argv(none, ["true"], cwd="/")


def test_bwrap_hides_before_it_binds_and_binds_only_the_workspace_hub_and_home() -> None:
    argv = bwrap_argv(LAYOUT, ["true"], cwd="/")
    pairs = [(argv[i], argv[i + 1]) for i in range(len(argv) - 1) if argv[i].startswith("--")]
    tmpfs = [i for i, (flag, _) in enumerate(pairs) if flag == "--tmpfs"]
    binds = [(i, p) for i, (flag, p) in enumerate(pairs) if flag == "--bind"]
    assert max(tmpfs) < min(i for i, _ in binds)
    assert [p for _, p in binds] == ["/data/sb/w1/home", "/data/sb/w1/merged"]
    assert argv[argv.index("/data/app.git") - 1] == "--ro-bind"  # the hub: never writable
    assert argv[argv.index("/data/sb/w1/home") + 1] == SANDBOX_HOME
    assert ("--ro-bind", "/") in pairs


def test_interactive_commands_keep_their_terminal() -> None:
    assert "--new-session" not in bwrap_argv(LAYOUT, ["bash"], cwd="/", interactive=True)


def test_hidden_paths_drop_duplicates_nested_paths_and_the_root() -> None:
    paths = [Path("/home/me"), Path("/home"), Path("/"), Path("/root"), Path("/home")]
    assert hidden_paths(paths) == (Path("/home"), Path("/root"))


def test_passwd_and_group_name_uid_1000_dev() -> None:
    passwd = "root:x:0:0:root:/root:/bin/bash\ncloud:x:1000:1000::/home/cloud:/bin/sh\n"
    out = passwd_entries(passwd, 1000, "dev")
    assert "cloud" not in out
    assert out.splitlines() == [
        "root:x:0:0:root:/root:/bin/bash",
        "dev:x:1000:1000:isollm sandbox:/home/dev:/bin/bash",
    ]
    assert group_entries("root:x:0:\ncloud:x:1000:\n", 1000, "dev") == "root:x:0:\ndev:x:1000:\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("512M", 512 * 1024**2), ("2G", 2 * 1024**3), ("2g", 2 * 1024**3), ("4096", 4096)],
)
def test_memory_sizes(text: str, expected: int) -> None:
    assert containers.memory_bytes(text) == expected


@pytest.mark.parametrize("text", ["", "0", "2P", "1.5G", "-1", "G"])
def test_bad_memory_sizes(text: str) -> None:
    with pytest.raises(SandboxError):
        containers.memory_bytes(text)


def test_cgroup_settings_for_v1_and_v2() -> None:
    limits = Limits(memory="256M", pids=200, cpus=0.5)
    assert containers.cgroup_settings(limits, v2=False) == [
        ("memory.limit_in_bytes", "268435456"),
        ("pids.max", "200"),
        ("cpu.cfs_period_us", "100000"),
        ("cpu.cfs_quota_us", "50000"),
    ]
    assert containers.cgroup_settings(limits, v2=True) == [
        ("memory.max", "268435456"),
        ("pids.max", "200"),
        ("cpu.max", "50000 100000"),
    ]
    assert containers.cgroup_settings(Limits(memory="", pids=0), v2=True) == []


def test_jobs_record_their_process_group_without_splicing_argv_into_a_script() -> None:
    job = containers.wrap_job(["echo", "$(rm -rf /)", "a b"], "/home/dev/project")
    assert job.argv[:4] == ["env", "-C", "/home/dev/project", "setsid"]
    assert job.argv[-3:] == ["echo", "$(rm -rf /)", "a b"]
    assert job.argv[job.argv.index("-c") + 1] == containers.JOB_WRAPPER
    assert job.pidfile.startswith("/tmp/.isollm-job-")
    assert containers.kill_argv(job.pidfile) == ["sh", "-c", containers.KILL_SCRIPT, job.pidfile]


def test_lxc_mount_entries_escape_spaces_and_are_relative() -> None:
    entry = mount_entry(Path("/srv/my repo/merged"), "/home/dev/project")
    assert entry == (
        "lxc.mount.entry = /srv/my\\040repo/merged home/dev/project none bind,create=dir 0 0"
    )


def test_lxc_config_lines_per_network_mode() -> None:
    limits = [("pids.max", "100")]
    host = config_lines(
        owner_line("app", "w1"), Path("/w"), Path("/h.git"), "host", limits, v2=False
    )
    none = config_lines(owner_line("app", "w1"), Path("/w"), Path("/h.git"), "none", [], v2=True)
    assert "lxc.net.0.type = none" in host  # LXC's "none" shares the host's namespace
    assert "lxc.net.0.type = empty" in none  # loopback only
    assert "lxc.cgroup.pids.max = 100" in host
    assert any("resolv.conf" in line for line in host)
    assert not any("resolv.conf" in line for line in none)
    assert "# isollm worker: project=app name=w1" in host
    assert "lxc.mount.entry = /h.git h.git none bind,ro,create=dir 0 0" in host  # read-only


@pytest.mark.parametrize("image", ["ubuntu:jammy", "debian", "debian:Bookworm", "debian:../x"])
def test_lxc_builds_only_debian_images(image: str) -> None:
    with pytest.raises(SandboxError, match="debian"):
        lxcbase.base_name(image)


def test_lxc_base_name() -> None:
    assert lxcbase.base_name("debian:bookworm") == "isollm-base-debian-bookworm"


def test_podman_run_argv() -> None:
    argv = run_argv(
        "isollm-app-w1",
        "localhost/isollm-base:bookworm",
        workspace=Path("/w"),
        hub=Path("/h.git"),
        network="none",
        limits=Limits(memory="1G", pids=50, cpus=1.5),
    )
    assert argv[:4] == ["run", "-d", "--name", "isollm-app-w1"]
    assert argv[argv.index("--runtime") + 1] == "runc"
    assert argv[argv.index("--network") + 1] == "none"
    assert "/w:/home/dev/project" in argv
    assert "/h.git:/h.git:ro" in argv  # the hub is never writable by an agent
    assert argv[argv.index("--memory") + 1] == str(1024**3)
    assert argv[argv.index("--pids-limit") + 1] == "50"
    assert argv[argv.index("--cpus") + 1] == "1.5"
    assert argv[-4:] == ["/usr/bin/tini", "--", "/bin/sleep", "infinity"]
