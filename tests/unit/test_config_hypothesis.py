"""Property tests: whatever a user writes, loading reports problems and never crashes."""

from __future__ import annotations

import dataclasses
import io
import typing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from isollm.config import CONFIG_FILE, Config, ConfigValidationError, load, parse
from isollm.config.report import Problem

SECTIONS = {f.name: f.type for f in dataclasses.fields(Config)}
SECTION_KEYS = {
    name: [f.name for f in dataclasses.fields(tp)]
    for name, tp in typing.get_type_hints(Config).items()
    if isinstance(tp, type) and dataclasses.is_dataclass(tp)
}
ALL_KEYS = sorted(set(SECTIONS) | {k for keys in SECTION_KEYS.values() for k in keys})

PLAUSIBLE = [
    "",
    "main",
    "isollm/",
    "/",
    "my-app",
    "8080",
    "8080:80",
    "1:2:3",
    "auto",
    "grid",
    "debian",
    "debian:bookworm",
    "127.0.0.1",
    "bad host",
    "overlay",
    "claude",
    "2G",
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(PLAUSIBLE)
)
keys = st.sampled_from(ALL_KEYS) | st.text(max_size=8) | st.integers(-3, 3) | st.booleans()
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)
sections = st.fixed_dictionaries(
    {},
    optional={
        name: st.dictionaries(st.sampled_from(fields) | st.text(max_size=6), values, max_size=6)
        | values
        for name, fields in SECTION_KEYS.items()
    },
)
top_level = st.builds(
    lambda known, extra, scalar_fields: {**extra, **scalar_fields, **known},
    sections,
    st.dictionaries(keys, values, max_size=3),
    st.dictionaries(st.sampled_from(sorted(set(SECTIONS) - set(SECTION_KEYS))), values),
)
documents = top_level | values

YAML_TOKENS = [
    "project:",
    "workers:",
    "git:",
    "ports:",
    "airyra:",
    "  ",
    "\n",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ":",
    ", ",
    "&a ",
    "*a",
    "!!int ",
    "!!str ",
    "!!binary ",
    "!tag ",
    "<<: ",
    "'",
    '"',
    "#",
    "|",
    ">",
    "---",
    "...",
    "? ",
    "1e400",
    "0x1F",
    ".nan",
    "~",
    "yes",
    "2001-12-14",
    "\t",
    "%YAML 1.2\n",
    "9" * 30,
    "main",
    "\\",
    "\ufeff",
    "é",
]
yaml_texts = st.text(max_size=80) | st.lists(st.sampled_from(YAML_TOKENS), max_size=40).map("".join)


def rooted_in(problem: Problem, data: dict[Any, Any]) -> bool:
    """The problem's field is a config field, or a key the user wrote, or inside one."""
    field = problem.field
    root = field.split(".")[0].split("[")[0]
    if root in SECTIONS:
        return True
    names = {str(k) if k != "" else "''" for k in data}
    return any(field == n or field.startswith((f"{n}.", f"{n}[")) for n in names)


@settings(max_examples=300, deadline=None)
@given(documents)
def test_parse_never_raises_and_every_problem_names_its_field(data: Any) -> None:
    config, report = parse(data)
    assert isinstance(config, Config)
    problems = report.errors + report.warnings
    if not isinstance(data, dict):
        if data is not None:
            assert [p.field for p in report.errors] == [""]
        return
    for problem in problems:
        assert problem.field, problem
        assert rooted_in(problem, data), (problem, data)
        assert problem.message


@settings(max_examples=150, deadline=None)
@given(documents)
def test_a_config_with_errors_lists_every_one_when_used(data: Any) -> None:
    _config, report = parse(data)
    error = ConfigValidationError("isollm.yaml", report.errors)
    for problem in report.errors:
        assert str(problem) in str(error)
    assert f"has {len(report.errors)} problem" in str(error)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _load_or_problems(root: Path) -> list[Problem]:
    try:
        loaded = load(root)
    except ConfigValidationError as exc:
        return exc.problems
    return loaded.report.errors


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(yaml_texts)
def test_random_text_loads_or_is_a_validation_error(project: Path, text: str) -> None:
    (project / CONFIG_FILE).write_text(text, encoding="utf-8", errors="surrogatepass")
    problems = _load_or_problems(project)
    for problem in problems:
        assert isinstance(problem, Problem)
        assert problem.message


def _dump(data: Any) -> str:
    out = io.StringIO()
    YAML(typ="safe", pure=True).dump(data, out)
    return out.getvalue()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(top_level)
def test_random_structures_written_as_yaml_load_or_report(project: Path, data: Any) -> None:
    """Realistic files (real key names, wrong-typed values) reach every rule via ``load``."""
    (project / CONFIG_FILE).write_text(_dump(data), encoding="utf-8")
    for problem in _load_or_problems(project):
        assert problem.message
