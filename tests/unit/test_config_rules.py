"""Every validation of seed 001's table, with its constants (through ``parse``)."""

from __future__ import annotations

from typing import Any

import pytest

from isollm.config import Config, parse, rules
from isollm.config.report import Report
from isollm.config.retired import RETIRED


def problems(data: dict[str, Any]) -> list[str]:
    _config, report = parse({"project": "my-app", **data})
    return [str(p) for p in report.errors]


def warnings(data: dict[str, Any]) -> list[str]:
    _config, report = parse({"project": "my-app", **data})
    return [str(p) for p in report.warnings]


def test_constants_match_the_seed() -> None:
    assert (rules.MIN_WORKERS, rules.MAX_WORKERS) == (1, 20)
    assert (rules.MIN_USER_PORT, rules.MAX_PORT) == (1024, 65535)
    assert (rules.MIN_PROJECT_NAME_LEN, rules.MAX_PROJECT_NAME_LEN) == (2, 64)


def test_valid_config() -> None:
    config, report = parse({"project": "my-app"})
    assert (report.errors, report.warnings) == ([], [])
    assert config == Config(project="my-app")


def test_rules_on_the_default_config_only_ask_for_a_project() -> None:
    report = Report()
    rules.check(Config(), report)
    assert [p.field for p in report.errors] == ["project"]


def test_empty_project() -> None:
    assert problems({"project": ""}) == ["project: is required (a name like my-app)"]


def test_project_name_too_short() -> None:
    assert problems({"project": "a"}) == ["project: must be at least 2 characters"]


def test_project_name_too_long() -> None:
    assert problems({"project": "a" * 64}) == []
    assert problems({"project": "a" * 65}) == ["project: cannot exceed 64 characters"]


@pytest.mark.parametrize(
    "name", ["1app", "-app", "my_app", "my app", "my.app", "app\n", "äpp", "app/x"]
)
def test_invalid_project_name(name: str) -> None:
    assert problems({"project": name}) == [
        f"project: {name!r} must be letters, digits and hyphens, starting with a letter"
    ]


@pytest.mark.parametrize("name", ["ab", "My-App-2", "x-", "a" * 64])
def test_valid_project_names(name: str) -> None:
    assert problems({"project": name}) == []


def test_workers_below_min() -> None:
    assert problems({"workers": 0}) == ["workers: must be at least 1 (got 0)"]
    assert problems({"workers": -3}) == ["workers: must be at least 1 (got -3)"]


def test_workers_above_max() -> None:
    assert problems({"workers": 21}) == ["workers: cannot exceed 20 (got 21)"]


@pytest.mark.parametrize("workers", [1, 20])
def test_workers_at_the_bounds(workers: int) -> None:
    assert problems({"workers": workers}) == []


def test_image_is_required() -> None:
    assert problems({"image": ""}) == ["image: is required (for example debian:bookworm)"]
    assert problems({"image": "  "}) == ["image: is required (for example debian:bookworm)"]


@pytest.mark.parametrize("image", ["debian", "localhost:5000/base", "ghcr.io/x/y"])
def test_warnings_image_no_tag(image: str) -> None:
    assert problems({"image": image}) == []
    assert warnings({"image": image}) == [f"image: {image!r} has no tag, :latest will be used"]


@pytest.mark.parametrize("image", ["debian:bookworm", "localhost:5000/base:1", "x@sha256:abc"])
def test_images_with_a_tag_or_digest_do_not_warn(image: str) -> None:
    assert warnings({"image": image}) == []


def test_base_branch_is_required() -> None:
    assert problems({"git": {"base_branch": ""}}) == [
        "git.base_branch: is required (for example main)"
    ]


@pytest.mark.parametrize(
    "branch", ["a..b", "-main", "main/", "/main", "x.lock", "a//b", ".hidden", "a b", "main\n"]
)
def test_invalid_base_branch(branch: str) -> None:
    assert problems({"git": {"base_branch": branch}}) == [
        f"git.base_branch: {branch!r} is not a valid branch name"
    ]


@pytest.mark.parametrize("branch", ["main", "release/1.2", "feature_x", "v2.0-rc"])
def test_valid_base_branch(branch: str) -> None:
    assert problems({"git": {"base_branch": branch}}) == []


def test_branch_prefix_just_slash() -> None:
    assert problems({"git": {"branch_prefix": "/"}}) == ["git.branch_prefix: cannot be just '/'"]


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ("", "is required (for example isollm/)"),
        ("isollm", "must end with '/' (got 'isollm')"),
        (".bad/", "'.bad/' is not valid at the start of a branch name"),
        ("a..b/", "'a..b/' is not valid at the start of a branch name"),
        ("a b/", "'a b/' is not valid at the start of a branch name"),
    ],
)
def test_invalid_branch_prefix(prefix: str, message: str) -> None:
    assert problems({"git": {"branch_prefix": prefix}}) == [f"git.branch_prefix: {message}"]


def test_valid_branch_prefixes() -> None:
    assert problems({"git": {"branch_prefix": "agents/team-a/"}}) == []


@pytest.mark.parametrize("port", [80, 1023, 65536])
def test_airyra_port_range(port: int) -> None:
    assert problems({"airyra": {"port": port}}) == [
        f"airyra.port: must be between 1024 and 65535 (got {port})"
    ]


@pytest.mark.parametrize("host", ["", "bad_host", "-x.com", "a..b", "localhost\n", "x" * 64])
def test_invalid_airyra_host(host: str) -> None:
    assert problems({"airyra": {"host": host}}) == [
        f"airyra.host: {host!r} is not a valid hostname or IP address"
    ]


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "::1", "tasks.example.com"])
def test_valid_airyra_hosts(host: str) -> None:
    assert problems({"airyra": {"host": host}}) == []


@pytest.mark.parametrize(
    ("data", "field", "instead"),
    [
        ({"ports": ["3000"]}, "ports", "isollm forwards no ports"),
        ({"ports": 8080}, "ports", "isollm forwards no ports"),
        ({"git": {"upstream": "origin"}}, "git.upstream", "isollm never fetched from it"),
        ({"claude": {"args": ["-v"]}}, "claude.args", "use `agent.args`"),
    ],
)
def test_retired_keys_set_to_a_value_are_refused_saying_what_to_do(
    data: dict[str, Any], field: str, instead: str
) -> None:
    found = problems(data)
    assert len(found) == 1
    assert found[0].startswith(f"{field}: no longer supported (it never did anything): {instead}")
    assert found[0].endswith("; delete it")
    assert warnings(data) == []  # not also an unknown key


@pytest.mark.parametrize(
    "data", [{"ports": []}, {"git": {"upstream": ""}}, {"claude": {"args": []}}, {"ports": None}]
)
def test_retired_keys_left_empty_only_warn(data: dict[str, Any]) -> None:
    """As ``isollm init`` wrote them before: an older isollm.yaml still loads."""
    assert problems(data) == []
    (warned,) = warnings(data)
    assert warned.endswith(": no longer used (it never did anything): delete it")


def test_every_retired_key_is_gone_from_the_model() -> None:
    for dotted in RETIRED:
        section, _, key = dotted.rpartition(".")
        holder = getattr(Config(), section) if section else Config()
        assert not hasattr(holder, key), dotted


def test_invalid_layout() -> None:
    assert problems({"zellij": {"layout": "diagonal"}}) == [
        "zellij.layout: must be one of: auto, horizontal, vertical, grid (got 'diagonal')"
    ]


@pytest.mark.parametrize("layout", ["auto", "horizontal", "vertical", "grid"])
def test_valid_layouts(layout: str) -> None:
    assert problems({"zellij": {"layout": layout}}) == []


@pytest.mark.parametrize("layout", ["horizontal", "vertical", "grid"])
def test_a_layout_is_used_without_a_warning(layout: str) -> None:
    assert warnings({"zellij": {"layout": layout}}) == []


def test_the_session_keys() -> None:
    assert problems({"session": {"mux": "screen"}}) == [
        "session.mux: must be one of: auto, zellij, tmux, none (got 'screen')"
    ]
    assert problems({"session": {"notify": ["", "x"]}}) == [
        "session.notify: the command (first element) cannot be empty"
    ]
    assert problems({"session": {"notify": ["notify-send", "isollm"], "mux": "tmux"}}) == []
    assert warnings({"session": {"prompt": " "}}) == [
        "session.prompt: is empty: agents start idle, as with `isollm up --idle`"
    ]


def test_multiple_errors() -> None:
    found = problems(
        {
            "project": "1",
            "workers": 99,
            "git": {"base_branch": "a..b", "branch_prefix": "/"},
            "airyra": {"port": 80},
            "zellij": {"layout": "tabs"},
        }
    )
    fields = [p.split(":")[0] for p in found]
    assert fields == [  # in the order of the sections, type errors and rule errors alike
        "project",
        "project",
        "workers",
        "git.base_branch",
        "git.branch_prefix",
        "airyra.port",
        "zellij.layout",
    ]


def test_the_result_keys_of_the_runner() -> None:
    assert problems({"runner": {"on_conflict": "merge"}}) == [
        "runner.on_conflict: must be one of: fail, partial (got 'merge')"
    ]
    assert problems({"runner": {"empty": "skip"}}) == [
        "runner.empty: must be one of: done, fail (got 'skip')"
    ]
    assert warnings({"runner": {"review_required": False}}) == [
        "runner.review_required: has no effect while runner.review is false"
    ]
    assert warnings({"runner": {"review": True, "review_required": False}}) == []


def test_stall_settings() -> None:
    assert problems({"runner": {"stall_after": 0, "stall_action": "stop"}}) == []
    (negative,) = problems({"runner": {"stall_after": -1}})
    assert negative.startswith("runner.stall_after")
    assert "negative" in negative
    (action,) = problems({"runner": {"stall_action": "kill"}})
    assert action.startswith("runner.stall_action")
    assert "flag, stop" in action
