"""No function in runner/ longer than 40 lines (docstring included, decorators not):
the runner is where every later feature lands, and long functions there drifted."""

from __future__ import annotations

import ast
from pathlib import Path

import isollm.runner

LIMIT = 40
RUNNER = Path(isollm.runner.__file__).parent


def long_functions(source: str, name: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > LIMIT:
                found.append(f"{name}:{node.lineno} {node.name}() is {length} lines")
    return found


def test_no_runner_function_is_longer_than_the_limit() -> None:
    found = [
        problem
        for path in sorted(RUNNER.glob("*.py"))
        for problem in long_functions(path.read_text(), path.name)
    ]
    assert found == []


def test_the_check_sees_a_long_function() -> None:
    body = "\n".join(f"    x{n} = {n}" for n in range(LIMIT))
    assert long_functions(f"def f():\n{body}\n", "m.py") == [f"m.py:1 f() is {LIMIT + 1} lines"]
    assert long_functions(f"def f():\n{body[: body.rindex(chr(10))]}\n", "m.py") == []
