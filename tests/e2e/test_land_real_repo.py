"""A new user lands real work on a real Python project with its own pytest suite.

The README's flow, as a user types it: ``isollm init``, tasks with a dependency,
``isollm run -n 3`` with a ``command`` agent making real edits (two tasks change the
same line, one breaks the project's tests), ``run show``, ``diff``, ``merge --dry-run``,
``merge --all --requeue`` with ``merge.test_command`` running pytest in the throwaway
sandbox, ``sync pull`` on a dirty work tree and with a commit of the user's own, a run
of the fix tasks, the merge that lands them (the failed branches land with them),
``gc --dry-run`` and ``gc``. Then: a second merge while one runs, and Ctrl-C during a
merge's test, then the rerun.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from isollm import config as cfg
from isollm import fsutil
from isollm.sandbox import meta
from tests.conftest import git
from tests.e2e.run_support import RunProject, run_project, story, wait_for

pytestmark = pytest.mark.timeout(240)

CALC = '''"""A tiny calculator."""


def add(a, b):
    return a + b


def sub(a, b):
    return a - b
'''
TEST_CALC = """from calc import add, sub


def test_add():
    assert add(2, 3) == 5


def test_sub():
    assert sub(5, 3) == 2
"""
PYPROJECT = """[project]
name = "calc"
version = "0.1.0"

[tool.pytest.ini_options]
testpaths = ["tests"]
"""

# The agent: one real edit per task title; a fix task merges the branch its title
# names, as its description says, keeping main's side of a conflict.
AGENT = r"""
case "$ISOLLM_TASK_TITLE" in
  "Add mul")
    printf 'def mul(a, b):\n    return a * b\n' > calc/mul.py
    printf 'from calc.mul import mul\n\n\ndef test_mul():\n    assert mul(2, 3) == 6\n' \
      > tests/test_mul.py ;;
  "Document mul")
    mkdir -p docs && printf '# mul\n\n`calc.mul.mul(a, b)` multiplies.\n' > docs/mul.md ;;
  "Name it calc")
    printf '# calc: small arithmetic\n' > README.md ;;
  "Name it calculator")
    printf '# calculator\n' > README.md ;;
  "Speed up add")
    sed -i 's/return a + b/return a - b/' calc/__init__.py ;;
  "merge conflict"*|"merge test failed"*)
    git fetch -q origin "isollm/${ISOLLM_TASK_TITLE##*task }"
    git merge -q --no-edit FETCH_HEAD >/dev/null 2>&1 || {
      git checkout -q --ours -- . && git add -A && git commit -q --no-edit; } ;;
esac
case "$ISOLLM_TASK_TITLE" in  # the first "return a - b" is add's: repair it
  "merge test failed"*) sed -i '0,/return a - b/s//return a + b/' calc/__init__.py ;;
esac
"""


def make_sample(repo: Path) -> None:
    (repo / "calc").mkdir()
    (repo / "calc" / "__init__.py").write_text(CALC)
    (repo / "tests").mkdir()
    (repo / "tests" / "test_calc.py").write_text(TEST_CALC)
    (repo / "pyproject.toml").write_text(PYPROJECT)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "calc: add and sub, with tests")


def interpreter_paths() -> list[str]:
    """This Python's virtualenv and install where a sandbox hides them (under /root,
    /home or /tmp: a checkout under /tmp has its venv there)."""
    found = dict.fromkeys(str(Path(p).resolve()) for p in (sys.prefix, sys.base_prefix))
    return [p for p in found if p.startswith(("/root/", "/home/", "/tmp/"))]


def use_test(project: RunProject, test: list[str]) -> None:
    loaded = cfg.load(project.root)
    c = loaded.config
    sandbox = dataclasses.replace(c.sandbox, expose=interpreter_paths())
    merge = dataclasses.replace(c.merge, test_command=test)
    cfg.save(loaded.path, dataclasses.replace(c, sandbox=sandbox, merge=merge))
    git(project.root, "commit", "-q", "-am", "isollm: the merge test")


# The project's real test command; this venv's pytest plugins are not the project's.
PYTEST = ["env", "PYTEST_DISABLE_PLUGIN_AUTOLOAD=1", sys.executable, "-m", "pytest", "-q"]
PYTEST += ["-p", "no:cacheprovider"]


@pytest.fixture
def sample(git_repo: Path) -> Iterator[RunProject]:
    make_sample(git_repo)
    with run_project(git_repo) as p:
        p.use_agent(AGENT)
        use_test(p, PYTEST)
        yield p


def statuses(project: RunProject, *args: str, code: int) -> dict[str, dict[str, object]]:
    result = project.isollm("merge", *args, "--json", code=code)
    doc = json.loads(result.stdout)
    return {o["task_id"]: o for o in doc["data"]["outcomes"]}


def passes_pytest(project: RunProject, rev: str, tmp: Path) -> bool:
    check = tmp / f"check-{len(list(tmp.glob('check-*')))}"
    git(tmp, "clone", "-q", str(project.hub), str(check))
    git(check, "checkout", "-q", rev)
    result = subprocess.run([*PYTEST], cwd=check, capture_output=True, check=False)
    return result.returncode == 0


def pull_dirty_then_diverged(p: RunProject) -> None:
    """``sync pull`` leaves a dirty work tree alone; with a commit of your own on main it
    keeps yours and leaves the hub's in isollm/main, which you merge and push."""
    (p.root / "README.md").write_text("my edit\n")
    dirty = p.isollm("sync", "pull").stdout
    assert "uncommitted changes (in README.md); left alone" in dirty
    git(p.root, "checkout", "--", "README.md")
    (p.root / "NOTES.md").write_text("mine\n")
    git(p.root, "add", "NOTES.md")
    git(p.root, "commit", "-q", "-m", "my own note")
    diverged = p.isollm("sync", "pull").stdout
    assert "diverged (1 yours" in diverged
    assert "`git merge isollm/main`" in diverged
    git(p.root, "merge", "-q", "--no-edit", "isollm/main")
    p.isollm("sync", "push")


def test_a_new_user_lands_real_work(sample: RunProject, tmp_path: Path) -> None:
    p = sample
    mul = p.add("Add mul")
    doc = p.add("Document mul", after=[mul])
    calc = p.add("Name it calc")
    clash = p.add("Name it calculator")
    broken = p.add("Speed up add")
    told = story(p.isollm("run", "-n", "3", "--plain"))
    assert all(p.task(t).status == "done" for t in (mul, doc, calc, clash, broken)), told
    shown = p.isollm("run", "show").stdout
    assert all(t in shown for t in (mul, doc, calc, clash, broken))
    assert "calc/mul.py" in p.isollm("diff", mul, "--stat").stdout
    main = p.git_hub("rev-parse", "main")

    planned = statuses(p, "--all", "--dry-run", code=1)
    if planned[calc]["status"] == "conflict":  # the one done second conflicts
        calc, clash = clash, calc
    assert {t: o["status"] for t, o in planned.items()} == {
        mul: "would land",
        doc: "would land",
        calc: "would land",
        clash: "conflict",
        broken: "would land",  # a dry run tests nothing
    }
    assert p.git_hub("rev-parse", "main") == main

    result = p.isollm("merge", "--all", "--requeue", code=1)
    text = result.stdout
    for task in (mul, doc, calc):
        assert f"landed         {task}" in text, story(result)
    assert f"conflict       {clash}" in text
    assert "files: README.md" in text
    assert f"test failed    {broken}" in text
    assert "test_add" in text  # the tail of pytest's output
    assert text.count("fix task: ar-") == 2
    assert "cleaned up (landed or left over): hub branch isollm/" in text
    assert "Traceback" not in result.stderr
    assert passes_pytest(p, "main", tmp_path)

    pull_dirty_then_diverged(p)

    told = story(p.isollm("run", "-n", "2", "--plain"))
    fixes = {o["task_id"]: o for o in statuses(p, "--all", code=0).values()}
    assert fixes[clash]["status"] == "already landed", told
    assert fixes[broken]["status"] == "already landed", told
    assert "later task's branch" in str(fixes[broken]["reason"])
    landed = [t for t, o in fixes.items() if o["status"] == "landed"]
    assert len(landed) == 2, fixes
    assert passes_pytest(p, "main", tmp_path)
    assert p.isollm("sync", "pull").stdout.startswith("Base main: fast-forwarded")
    assert (p.root / "NOTES.md").exists()

    listed = p.json("gc", "--dry-run")["removed"]
    removed = p.json("gc")["removed"]
    assert removed == listed
    assert p.json("gc", "--dry-run")["removed"] == []
    assert p.hub_branches() == ["main"]


def test_a_second_merge_waits_its_turn_and_ctrl_c_then_rerun_lands_once(
    sample: RunProject,
) -> None:
    p = sample
    use_test(p, ["sh", "-c", 'sleep 3 && exec "$@"', "sh", *PYTEST])
    task = p.add("Add mul")
    p.isollm("run", "-n", "1", "--plain")
    main = p.git_hub("rev-parse", "main")
    journal = fsutil.isollm_home() / f".{p.config.project}.git.merge-journal"

    first = p.start("merge", "--all")
    wait_for(journal.exists, 30, "the merge to start its test")
    second = p.isollm("merge", "--all", code=1)
    assert f"another isollm merge (pid {first.pid}" in second.stderr
    assert "Traceback" not in second.stderr
    planned = p.isollm("merge", "--all", "--dry-run").stdout  # a plan needs no lock
    assert f"would land     {task}" in planned

    os.killpg(first.pid, signal.SIGINT)
    out, err = first.communicate(timeout=30)
    assert first.returncode == 130, (out, err)
    assert "run `isollm merge` again" in err
    assert "Traceback" not in err
    assert p.git_hub("rev-parse", "main") == main  # nothing landed, nothing half-done
    assert "merge-test" not in meta.names(p.config.project)  # the test's sandbox is gone

    again = p.isollm("merge", "--all")
    assert "the last merge stopped before its test" in again.stdout
    assert f"landed         {task}" in again.stdout
    merges = p.git_hub("log", "--format=%s", f"{main}..main")
    assert merges.count(f"Merge task {task}") == 1
