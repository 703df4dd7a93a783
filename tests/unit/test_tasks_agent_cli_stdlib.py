"""The ``airyra`` agent CLI imports the standard library and itself, nothing else."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import isollm
from isollm.tasks import agent_cli
from isollm.tasks.agent_cli import bundle

PACKAGE = Path(agent_cli.__file__).parent
SRC = Path(isollm.__file__).parent.parent
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py"))

# Run in a bare interpreter (-I: no environment, no user site; -S: no site-packages):
# a finder ahead of all others refuses whatever is neither the standard library nor the
# package (and the two parent packages, which are docstrings only).
GUARD = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, SRC)
    ALLOWED = ("isollm", "isollm.tasks", "isollm.tasks.agent_cli")

    class StandardLibraryOnly:
        def find_spec(self, name, path=None, target=None):
            top = name.partition(".")[0]
            if top in sys.stdlib_module_names or name in ALLOWED:
                return None
            if name.startswith("isollm.tasks.agent_cli."):
                return None
            raise ImportError("not the standard library: " + name)

    sys.meta_path.insert(0, StandardLibraryOnly())
    """
)


def bare_python(code: str) -> subprocess.CompletedProcess[str]:
    script = f"SRC = {str(SRC)!r}\n{GUARD}\n{code}"
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_every_module_imports_with_the_standard_library_only() -> None:
    imports = "\n".join(f"import isollm.tasks.agent_cli.{m}" for m in MODULES if m != "__main__")
    result = bare_python(
        f"{imports}\nfrom isollm.tasks.agent_cli import main\n"
        "assert 'httpx' not in sys.modules and 'isollm.tasks.store' not in sys.modules\n"
        "print('ok', main.__module__)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ok", "isollm.tasks.agent_cli.cli"]


def test_the_guard_refuses_what_is_not_the_standard_library() -> None:
    """The check above can fail: the same interpreter refuses isollm's other modules."""
    for name in ("isollm.tasks.store.model", "isollm.redaction", "httpx"):
        result = bare_python(f"import {name}")
        assert result.returncode != 0
        assert "ImportError: not the standard library: " in result.stderr, result.stderr


def test_the_entry_point_runs_in_a_bare_interpreter() -> None:
    result = bare_python("from isollm.tasks.agent_cli import main\nsys.exit(main(['--help']))")
    assert result.returncode == 0, result.stderr
    assert "claim-next" in result.stdout


@pytest.mark.parametrize("module", MODULES)
def test_imports_are_the_standard_library_or_the_package(module: str) -> None:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        for name in names:
            ok = name.partition(".")[0] in sys.stdlib_module_names or name.startswith(
                "isollm.tasks.agent_cli"
            )
            assert ok, f"{module}.py imports {name}"


def test_the_bundle_is_one_file_of_the_same_program(tmp_path: Path) -> None:
    text = bundle.source()
    assert "isollm.tasks.agent_cli." not in "".join(
        line for line in text.splitlines() if line.startswith(("import ", "from "))
    )
    ast.parse(text)
    for module in ("api", "render", "commands", "cli"):
        assert f"# --- {module}.py" in text


def test_the_bundle_refuses_a_module_it_cannot_join(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in bundle.MODULES:
        (tmp_path / f"{module}.py").write_text(f'"""{module}"""\n')
    (tmp_path / "__init__.py").write_text('"""doc"""\n')
    monkeypatch.setattr(bundle, "HERE", tmp_path)
    assert "# --- cli.py" in bundle.source()
    (tmp_path / "cli.py").write_text("from isollm.redaction import redact\n")
    with pytest.raises(bundle.BundleError, match="not part of the program"):
        bundle.source()
    (tmp_path / "cli.py").write_text("from isollm.tasks.agent_cli.api import x as y\n")
    with pytest.raises(bundle.BundleError, match="renames"):
        bundle.source()
    (tmp_path / "api.py").write_text("def show(): pass\n")
    (tmp_path / "cli.py").write_text("show = 1\n")
    with pytest.raises(bundle.BundleError, match="show is defined in both"):
        bundle.source()
