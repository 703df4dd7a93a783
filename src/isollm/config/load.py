"""Find, read, validate and save ``isollm.yaml``.

Reading never raises for a user's mistake other than through
:class:`~isollm.config.report.ConfigValidationError`, which lists every problem.
Saving merges into the user's document so comments and key order survive.
"""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from isollm import checkouts, fsutil
from isollm.config import coerce, retired, rules
from isollm.config.model import Config
from isollm.config.report import ConfigValidationError, Problem, Report
from isollm.errors import ConfigError, NotAProjectError

CONFIG_FILE = "isollm.yaml"
STATE_DIR = ".isollm"


def is_isollm_path(path: str) -> bool:
    """Whether ``path`` (relative to a repository's root) is isollm's own: the config,
    or the state folder and what it holds (an agent's branch may not change them)."""
    return path in (CONFIG_FILE, STATE_DIR) or path.startswith(f"{STATE_DIR}/")


@dataclass(frozen=True)
class Loaded:
    """A config as read from disk, with what was wrong with it."""

    path: Path
    config: Config
    report: Report

    @property
    def root(self) -> Path:
        return self.path.parent

    def valid(self) -> Config:
        """The config, or ConfigValidationError listing every problem."""
        if self.report.errors:
            raise ConfigValidationError(str(self.path), self.report.errors)
        return self.config


def find_project_root(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` holding isollm.yaml."""
    try:
        here = (start or Path.cwd()).resolve()
    except FileNotFoundError as exc:  # the current directory was deleted
        raise NotAProjectError(
            "the current directory no longer exists", hint="cd into your repository"
        ) from exc
    for directory in (here, *here.parents):
        if (directory / CONFIG_FILE).is_file():
            return directory
    raise NotAProjectError(
        f"no {CONFIG_FILE} in {here} or any parent directory",
        hint="run `isollm init` in your repository first",
    )


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def _yaml_problem(exc: YAMLError) -> Problem:
    if isinstance(exc, MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        what = " ".join(x for x in (exc.context, exc.problem) if x) or "invalid YAML"
        return Problem("", f"line {mark.line + 1}, column {mark.column + 1}: {what}")
    return Problem("", f"invalid YAML: {exc}")


def read_document(path: Path) -> Any:
    """The parsed YAML document (comments kept), or ConfigValidationError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise NotAProjectError(f"{path} does not exist", hint="run `isollm init`") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    try:
        return _yaml().load(text)
    except YAMLError as exc:
        raise ConfigValidationError(str(path), [_yaml_problem(exc)]) from exc
    except RecursionError:
        problem = Problem("", "invalid YAML: nested too deeply")
        raise ConfigValidationError(str(path), [problem]) from None
    except Exception as exc:  # the YAML library fails on some input in odd ways
        # (IndexError for `!!int` with no value, ValueError for a 5000-digit number, ...);
        # to the user each is a file that cannot be read, not a crash of isollm.
        problem = Problem("", f"invalid YAML: {type(exc).__name__}: {exc}")
        raise ConfigValidationError(str(path), [problem]) from exc


def parse(data: Any) -> tuple[Config, Report]:
    """Build a Config from parsed YAML and check every rule; never raises.

    A field whose value had the wrong type is reported once: rules would only see its
    default there, so what they say about that field (or inside it) is left out.
    """
    report = Report()
    config = coerce.build(Config, retired.remove_retired(data, report), report)
    checked = Report()
    rules.check(config, checked)
    broken = {p.field for p in report.errors}
    report.errors += [p for p in checked.errors if not _within(p.field, broken)]
    report.warnings += [p for p in checked.warnings if not _within(p.field, broken)]
    report.errors.sort(key=_model_order)
    report.warnings.sort(key=_model_order)
    return config, report


_TOP_LEVEL = [f.name for f in dataclasses.fields(Config)]


def _model_order(problem: Problem) -> int:
    """Problems are listed in the order of the sections (as in the file ``init`` writes)."""
    root = problem.field.split(".")[0].split("[")[0]
    return _TOP_LEVEL.index(root) if root in _TOP_LEVEL else len(_TOP_LEVEL)


def _within(field: str, broken: set[str]) -> bool:
    """Whether ``field`` is one of ``broken`` or inside one (``""`` is the whole file)."""
    return "" in broken or any(field == b or field.startswith((f"{b}.", f"{b}[")) for b in broken)


def load(root: Path) -> Loaded:
    """Read ``root``/isollm.yaml; YAML syntax errors raise, everything else is reported."""
    path = root / CONFIG_FILE
    config, report = parse(read_document(path))
    return Loaded(path, config, report)


def load_valid(start: Path | None = None) -> Loaded:
    """Find the project from ``start`` and load its config; invalid configs raise.

    This is how commands that use the project's hub or queue get the config, so the
    project is claimed for this checkout here (ProjectClashError when another owns it).
    """
    loaded = load(find_project_root(start))
    checkouts.ensure_claimed(loaded.root, loaded.valid().project)
    return loaded


def to_dict(config: Config) -> dict[str, Any]:
    return dataclasses.asdict(config)


def dump_yaml(data: Any) -> str:
    buf = io.StringIO()
    _yaml().dump(data, buf)
    return buf.getvalue()


def _merge(doc: CommentedMap, values: dict[str, Any]) -> None:
    for key, value in values.items():
        current = doc.get(key)
        if isinstance(value, dict) and isinstance(current, CommentedMap):
            _merge(current, value)
        elif key not in doc or current != value:
            doc[key] = value


def save(path: Path, config: Config) -> None:
    """Write ``config`` to ``path`` keeping the user's comments, key order and extra keys.

    Only values that differ from the file are written; a section or key the file does
    not have is added only when it differs from the default.
    """
    doc = read_document(path) if path.exists() else CommentedMap()
    if not isinstance(doc, CommentedMap):
        doc = CommentedMap()
    values = _non_default(to_dict(config), to_dict(Config()), doc)
    _merge(doc, values)
    fsutil.atomic_write_text(path, dump_yaml(doc), mode=0o644)


def _non_default(values: dict[str, Any], defaults: dict[str, Any], doc: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        present = isinstance(doc, dict) and key in doc
        if isinstance(value, dict):
            sub = _non_default(value, defaults[key], doc.get(key) if present else None)
            if sub:
                out[key] = sub
        elif present or value != defaults[key]:
            out[key] = value
    return out
