"""What of an npm install a sandbox must show: the package and the installed packages it
depends on (Codex's native program is a package of its own), found as node finds them."""

from __future__ import annotations

import json
from pathlib import Path

from isollm.runner.expose import exposed_paths
from isollm.sandbox import npm


def _package(path: Path, **fields: dict[str, str]) -> Path:
    path.mkdir(parents=True)
    (path / "package.json").write_text(json.dumps({"name": path.name, **fields}))
    return path


def _tree(root: Path) -> Path:
    """``root/node_modules``: @s/cli depending on a sibling, a platform package, one of
    its own, one missing and a name that climbs out; the sibling needs a package of its
    own that needs another sibling."""
    modules = root / "node_modules"
    cli = _package(
        modules / "@s" / "cli",
        dependencies={"dep": "1", "own": "1"},
        optionalDependencies={"@s/cli-linux-x64": "1", "@s/cli-darwin": "1", "../../etc": "1"},
    )
    (cli / "bin").mkdir()
    (cli / "bin" / "cli.js").write_text("#!/usr/bin/env node\n")
    (cli / "bin" / "cli.js").chmod(0o755)
    _package(cli / "node_modules" / "own")
    _package(modules / "@s" / "cli-linux-x64")
    _package(modules / "dep", dependencies={"inner": "1"})
    _package(modules / "dep" / "node_modules" / "inner", peerDependencies={"shared": "1"})
    _package(modules / "shared")
    _package(modules / "unrelated")
    return cli


def test_an_npm_package_needs_the_packages_it_depends_on(tmp_path: Path) -> None:
    cli = _tree(tmp_path)
    modules = tmp_path / "node_modules"

    found = npm.dependencies(cli)

    assert found == sorted([modules / "@s" / "cli-linux-x64", modules / "dep", modules / "shared"])


def test_a_linked_dependency_is_shown_at_its_real_path(tmp_path: Path) -> None:
    store = _package(tmp_path / "store" / "real-dep")
    cli = _package(tmp_path / "node_modules" / "cli", dependencies={"real-dep": "1"})
    (tmp_path / "node_modules" / "real-dep").symlink_to(store)

    assert npm.dependencies(cli) == [store]


def test_an_unreadable_manifest_means_no_dependencies(tmp_path: Path) -> None:
    cli = tmp_path / "node_modules" / "cli"
    cli.mkdir(parents=True)
    (cli / "package.json").write_text("[not json")
    assert npm.dependencies(cli) == []
    (cli / "package.json").write_text('["a list"]')
    assert npm.dependencies(cli) == []


def test_a_container_is_shown_the_cli_and_what_it_depends_on(tmp_path: Path) -> None:
    cli = _tree(tmp_path)
    modules = tmp_path / "node_modules"

    shown = exposed_paths([str(cli / "bin" / "cli.js")], [], container=True)

    assert str(cli) in shown
    assert str(modules / "@s" / "cli-linux-x64") in shown
    assert str(modules / "dep") in shown
    assert str(modules / "unrelated") not in shown
