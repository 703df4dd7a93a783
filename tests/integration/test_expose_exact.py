"""The automatic ``expose`` of an agent installed in a home directory shows exactly its
install inside a real overlay sandbox: the CLI runs, nothing around it is visible (the
attack: ``~/.local/bin/agent`` used to expose all of ``~/.local``)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from isollm.runner.expose import exposed_paths, sandbox_binary
from tests.integration.sandbox_support import Factory, factory_for

__all__ = ["factory_for"]

pytestmark = pytest.mark.timeout(120)

NODE_CLI = """#!/usr/bin/env node
const fs = require('fs');
console.log(fs.readFileSync(__dirname + '/../data.txt', 'utf8').trim());
"""
SECRETS = (".local/share/keyring/secret.txt", ".local/bin/other-tool", ".ssh/id_ed25519")


def plant_secrets(home: Path) -> None:
    for rel in SECRETS:
        path = home / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("TOP SECRET\n")


def npm_install(home: Path) -> Path:
    """An npm package under ~/.local, linked from ~/.local/bin as npm does; its dir."""
    pkg = home / ".local/lib/node_modules/@acme/agent"
    (pkg / "bin").mkdir(parents=True)
    (pkg / "data.txt").write_text("package data\n")
    cli = pkg / "bin" / "cli.js"
    cli.write_text(NODE_CLI)
    cli.chmod(0o755)
    (home / ".local/bin").mkdir(parents=True, exist_ok=True)
    (home / ".local/bin/acme-agent").symlink_to("../lib/node_modules/@acme/agent/bin/cli.js")
    return pkg


def venv_install(home: Path) -> Path:
    """A virtualenv under ~/.local/pipx with a console script linked from ~/.local/bin."""
    venv = home / ".local/pipx/venvs/tool"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    script = venv / "bin" / "tool"
    script.write_text(f"#!{venv}/bin/python\nimport sys\nprint('venv', sys.prefix)\n")
    script.chmod(0o755)
    (home / ".local/bin").mkdir(parents=True, exist_ok=True)
    (home / ".local/bin/tool").symlink_to(script)
    return venv


def secrets_visible(factory: Factory, exposed: tuple[str, ...], home: Path) -> list[str]:
    sb = factory.make(expose=exposed)
    seen = []
    for rel in SECRETS:
        if sb.exec(["cat", "--", str(home / rel)]).ok:
            seen.append(rel)
    listing = sb.exec(["ls", "-A", "--", str(home / ".local"), str(home / ".local/bin")])
    seen += [name for name in ("share", "other-tool") if name in listing.stdout]
    return seen


@pytest.mark.skipif(not Path("/usr/bin/node").exists(), reason="node is not installed")
def test_an_npm_agent_runs_and_nothing_else_of_the_home_is_shown(
    factory_for: Callable[[str], Factory],
) -> None:
    home = Path.home()
    pkg = npm_install(home)
    plant_secrets(home)
    path_env = f"{home}/.local/bin:/usr/bin:/bin"
    exposed = exposed_paths(["acme-agent"], [], path_env)
    assert exposed == (str(pkg),)
    binary = sandbox_binary("acme-agent", path_env)
    assert binary == str(pkg / "bin" / "cli.js")
    factory = factory_for("overlay")
    assert secrets_visible(factory, exposed, home) == []
    sb = factory.make("w2", expose=exposed)
    result = sb.exec([binary], env={"PATH": path_env})
    assert result.ok, result.describe()
    assert result.stdout.strip() == "package data"


def test_a_venv_agent_runs_and_nothing_else_of_the_home_is_shown(
    factory_for: Callable[[str], Factory],
) -> None:
    home = Path.home()
    venv = venv_install(home)
    plant_secrets(home)
    path_env = f"{home}/.local/bin:/usr/bin:/bin"
    exposed = exposed_paths(["tool"], [], path_env)
    assert exposed[0] == str(venv)
    assert all(not p.startswith(f"{home}/") or p == str(venv) for p in exposed)
    binary = sandbox_binary("tool", path_env)
    factory = factory_for("overlay")
    assert secrets_visible(factory, exposed, home) == []
    sb = factory.make("w2", expose=exposed)
    result = sb.exec([binary], env={"PATH": path_env})
    assert result.ok, result.describe()
    assert result.stdout.strip() == f"venv {venv}"


def test_a_program_outside_the_homes_needs_nothing_shown(tmp_path: Path) -> None:
    assert exposed_paths(["sh"], [], "/usr/bin:/bin") == ()
    assert sandbox_binary("sh", "/usr/bin:/bin") == "sh"


def test_a_single_binary_in_the_home_is_shown_alone(
    factory_for: Callable[[str], Factory],
) -> None:
    home = Path.home()
    plant_secrets(home)
    tool = home / ".local/bin/native-agent"
    tool.write_bytes(Path("/bin/echo").read_bytes())
    tool.chmod(0o755)
    path_env = f"{home}/.local/bin:/usr/bin:/bin"
    exposed = exposed_paths(["native-agent"], [], path_env)
    assert exposed == (str(tool),)
    factory = factory_for("overlay")
    assert secrets_visible(factory, exposed, home) == []
    sb = factory.make("w2", expose=exposed)
    result = sb.exec(["native-agent", "hello"], env={"PATH": path_env})
    assert result.ok, result.describe()
    assert result.stdout.strip() == "hello"
