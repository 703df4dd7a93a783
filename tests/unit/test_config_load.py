"""Reading isollm.yaml: wrong types, malformed YAML, warnings, the project root, saving."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from isollm.config import (
    CONFIG_FILE,
    Config,
    ConfigValidationError,
    find_project_root,
    load,
    load_valid,
    parse,
    render_template,
    save,
)
from isollm.config.model import GitConfig
from isollm.errors import IsollmError, NotAProjectError


def write(root: Path, text: str) -> Path:
    path = root / CONFIG_FILE
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(root: Path, text: str) -> list[str]:
    write(root, text)
    return [str(p) for p in load(root).report.errors]


def test_a_config_file_with_only_a_project_gets_every_default(tmp_path: Path) -> None:
    write(tmp_path, "project: my-app\n")
    loaded = load(tmp_path)
    assert loaded.config == Config(project="my-app")
    assert loaded.report.ok
    assert loaded.root == tmp_path


def test_wrong_types_are_validation_errors(tmp_path: Path) -> None:
    found = errors_of(tmp_path, "project: my-app\nworkers: many\nsandbox: {setup: 8080}\n")
    assert found == [
        "workers: expected a whole number, got 'many'",
        "sandbox.setup: expected a list, got 8080",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("workers: 2.5", "workers: expected a whole number, got 2.5"),
        ("workers: true", "workers: expected a whole number, got true"),
        ("workers: [1]", "workers: expected a whole number, got a list"),
        ("git: main", "git: expected a mapping of settings for git, got 'main'"),
        ("git: [a]", "git: expected a mapping of settings for git, got a list"),
        ("airyra: {external: 'yes'}", "airyra.external: expected true or false, got 'yes'"),
        ("agent: {args: x}", "agent.args: expected a list, got 'x'"),
        ("agent: {args: [{a: 1}]}", "agent.args[0]: expected text, got a mapping"),
        ("zellij: {layout: 3}", "zellij.layout: must be one of: auto, horizontal, vertical, grid"),
        ("sandbox: {cpus: .nan}", "sandbox.cpus: expected a number, got nan"),
        ("sandbox: {cpus: .inf}", "sandbox.cpus: expected a number, got inf"),
        ("workers: 99999999999999999999", "workers: is far too large"),
        ("workers: !custom 3", "workers: expected a whole number, got 3 tagged !custom"),
    ],
)
def test_more_wrong_types(tmp_path: Path, text: str, message: str) -> None:
    found = errors_of(tmp_path, f"project: my-app\n{text}\n")
    assert len(found) == 1
    assert found[0].startswith(message)


def test_a_wrong_typed_field_is_reported_once(tmp_path: Path) -> None:
    """The default kept in its place does not also trip the field's rules."""
    assert errors_of(tmp_path, "project: [a]\n") == [
        "project: expected text, got a list (quote it if it is meant as text)"
    ]
    # The other fields' rules still run, over the default kept for the broken one.
    assert errors_of(tmp_path, "project: ab\nairyra: 5\nworkers: 0\n") == [
        "workers: must be at least 1 (got 0)",
        "airyra: expected a mapping of settings for airyra, got 5",
    ]
    assert errors_of(tmp_path, "[1, 2]\n") == [
        "expected a mapping of settings for the file, got a list"
    ]


def test_numbers_are_accepted_as_text(tmp_path: Path) -> None:
    write(tmp_path, "project: my-app\nagent: {args: [8080, '9000:90']}\ngit: {base_branch: 2024}\n")
    config = load(tmp_path).config
    assert config.agent.args == ["8080", "9000:90"]
    assert config.git.base_branch == "2024"


def test_an_empty_file_only_lacks_a_project(tmp_path: Path) -> None:
    assert errors_of(tmp_path, "") == ["project: is required (a name like my-app)"]
    assert errors_of(tmp_path, "# just a comment\n") == [
        "project: is required (a name like my-app)"
    ]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("project: my-app\nworkers: [1, 2\n", "line 3, column 1"),
        ("project: my-app\n  workers: 3\n", "line 2, column 10"),
        ("project: 'open\n", "line 2, column 1"),
        ("project: a\nproject: b\n", "line 2, column 1"),
        ("\tproject: a\n", "line 1, column 1"),
        ("project: *nope\n", "line 1, column 10"),
    ],
)
def test_malformed_yaml_names_line_and_column(tmp_path: Path, text: str, where: str) -> None:
    write(tmp_path, text)
    with pytest.raises(ConfigValidationError) as info:
        load(tmp_path)
    assert len(info.value.problems) == 1
    assert str(info.value.problems[0]).startswith(where)
    assert str(tmp_path / CONFIG_FILE) in str(info.value)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[" * 1000, "nested too deeply"),
        ("project: a\x01b\n", "unacceptable character"),
        (f"workers: {'9' * 5000}\n", "invalid YAML"),
        ("workers: !!int\n", "invalid YAML: IndexError"),
    ],
)
def test_yaml_the_reader_cannot_build_is_a_validation_error(
    tmp_path: Path, text: str, needle: str
) -> None:
    write(tmp_path, text)
    with pytest.raises(ConfigValidationError, match=needle):
        load(tmp_path)


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / CONFIG_FILE).write_bytes(b"project: \xff\xfe\n")
    with pytest.raises(IsollmError, match="cannot read"):
        load(tmp_path)


def test_unknown_keys_warn_with_a_suggestion(tmp_path: Path) -> None:
    write(tmp_path, "project: my-app\nworker: 3\ngit:\n  base_brach: dev\nzzz: 1\n")
    loaded = load(tmp_path)
    assert loaded.report.ok
    assert [str(w) for w in loaded.report.warnings] == [
        "git.base_brach: unknown key 'base_brach' is ignored (did you mean 'base_branch'?)",
        "worker: unknown key 'worker' is ignored (did you mean 'workers'?)",
        "zzz: unknown key 'zzz' is ignored",
    ]


def test_non_text_keys_warn_without_a_suggestion(tmp_path: Path) -> None:
    write(tmp_path, "project: my-app\ntrue: 1\n~: 2\n1.5: 3\n")
    warned = [str(w) for w in load(tmp_path).report.warnings]
    assert len(warned) == 3
    assert not any("did you mean" in w for w in warned)


def test_load_valid_raises_with_every_problem(tmp_path: Path) -> None:
    write(tmp_path, "project: '1'\nworkers: 0\nports: [x]\n")
    with pytest.raises(ConfigValidationError) as info:
        load_valid(tmp_path)
    assert len(info.value.problems) == 4
    text = str(info.value)
    assert text.startswith(f"{tmp_path / CONFIG_FILE} has 4 problems:")
    assert "isollm config edit" in text


def test_load_valid_returns_a_valid_config(tmp_path: Path) -> None:
    write(tmp_path, "project: my-app\n")
    (tmp_path / "sub" / "dir").mkdir(parents=True)
    assert load_valid(tmp_path / "sub" / "dir").config.project == "my-app"


def test_find_project_root_walks_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "project: my-app\n")
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    assert find_project_root(deep) == tmp_path
    monkeypatch.chdir(deep)
    assert find_project_root() == tmp_path


def test_find_project_root_takes_the_nearest(tmp_path: Path) -> None:
    write(tmp_path, "project: outer\n")
    inner = tmp_path / "inner"
    inner.mkdir()
    write(inner, "project: inner\n")
    assert find_project_root(inner / ".") == inner


def test_find_project_root_outside_a_project(tmp_path: Path) -> None:
    (tmp_path / CONFIG_FILE).mkdir()  # a directory of that name does not count
    with pytest.raises(NotAProjectError, match="isollm init"):
        find_project_root(tmp_path)


def test_find_project_root_in_a_deleted_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    with pytest.raises(NotAProjectError, match="no longer exists"):
        find_project_root()


def test_load_without_a_file(tmp_path: Path) -> None:
    with pytest.raises(NotAProjectError, match="does not exist"):
        load(tmp_path)


# -- the template and saving ------------------------------------------------------------


def test_the_template_is_the_defaults_with_a_comment_on_every_key() -> None:
    text = render_template(Config(project="my-app"))
    config, report = parse(YAML(typ="rt").load(text))
    assert config == Config(project="my-app")
    assert (report.errors, report.warnings) == ([], [])
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip() and not line.lstrip().startswith("#"):
            assert lines[i - 1].lstrip().startswith("#"), f"no comment above {line!r}"


SAMPLE = """\
# my settings
project: my-app   # the name
# more workers than the default
workers: 5
custom_tool: {keep: me}
git:
  # the branch we ship
  base_branch: main
"""


def test_save_round_trips_comments_key_order_and_unknown_keys(tmp_path: Path) -> None:
    path = write(tmp_path, SAMPLE)
    config = load(tmp_path).config
    changed = dataclasses.replace(
        config, workers=7, git=dataclasses.replace(config.git, base_branch="dev")
    )
    save(path, changed)
    text = path.read_text()
    assert text == SAMPLE.replace("workers: 5", "workers: 7").replace(
        "base_branch: main", "base_branch: dev"
    )
    assert load(tmp_path).config == changed


def test_save_adds_only_what_differs_from_the_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "project: my-app\n")
    config = load(tmp_path).config
    save(path, dataclasses.replace(config, workers=7, git=GitConfig(base_branch="dev")))
    assert path.read_text() == ("project: my-app\nworkers: 7\ngit:\n  base_branch: dev\n")
    save(path, load(tmp_path).config)  # saving what was loaded changes nothing
    assert load(tmp_path).config.workers == 7
    assert path.read_text().count("base_branch") == 1


def test_save_of_an_unchanged_config_keeps_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, SAMPLE)
    save(path, load(tmp_path).config)
    assert path.read_text() == SAMPLE


def test_save_into_a_new_file(tmp_path: Path) -> None:
    path = tmp_path / CONFIG_FILE
    save(path, Config(project="fresh", workers=4))
    assert load(tmp_path).config == Config(project="fresh", workers=4)
