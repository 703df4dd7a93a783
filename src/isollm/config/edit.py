"""``isollm config edit``: edit a copy, validate it, replace isollm.yaml only when valid.

The user's file is never half-written nor left invalid by an edit: the editor works on a
copy in ``.isollm/``; each time it is saved with problems, they are written as comments
at the top of the copy and the editor opens again. Saving it unchanged or empty gives up
and leaves isollm.yaml as it was. A valid copy replaces isollm.yaml atomically.
"""

from __future__ import annotations

import enum
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from isollm import fsutil
from isollm.config.load import CONFIG_FILE, STATE_DIR, parse, read_document
from isollm.config.report import ConfigValidationError, Problem
from isollm.errors import ConfigError

# Every line isollm adds at the top of the copy starts with this; they are removed on save.
MARK = "#! "
REJECTED_FILE = "isollm.yaml.rejected"


class Outcome(enum.Enum):
    SAVED = "saved"
    UNCHANGED = "unchanged"  # saved as it was, or emptied, at the first opening
    ABANDONED = "abandoned"  # given up while it still had problems


@dataclass(frozen=True)
class EditResult:
    outcome: Outcome
    path: Path
    warnings: list[Problem] = field(default_factory=list)
    rejected: Path | None = None  # where the last invalid version was kept


def check_file(path: Path) -> tuple[list[Problem], list[Problem]]:
    """The errors and warnings of the config in ``path`` (YAML syntax errors included)."""
    try:
        _config, report = parse(read_document(path))
    except ConfigValidationError as exc:
        return list(exc.problems), []
    return report.errors, report.warnings


def annotate(text: str, problems: list[Problem]) -> str:
    """``text`` with ``problems`` as comments at the top (earlier ones replaced)."""
    count = len(problems)
    lines = [
        f"{MARK}isollm config edit: not saved, {count} problem{'s' if count != 1 else ''}:",
        *(f"{MARK}  - {p}".replace("\n", " ") for p in problems),
        f"{MARK}Fix and save to apply. Save unchanged or empty to give up (the file stays",
        f"{MARK}as it was). These lines are removed when saved.",
    ]
    return "\n".join(lines) + "\n" + strip_annotation(text)


def strip_annotation(text: str) -> str:
    """``text`` without the comment lines :func:`annotate` put at its top."""
    lines = text.splitlines(keepends=True)
    skip = 0
    while skip < len(lines) and lines[skip].startswith(MARK):
        skip += 1
    return "".join(lines[skip:])


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc


def _make_copy(root: Path, text: str) -> Path:
    state = fsutil.ensure_dir(root / STATE_DIR)
    fd, name = tempfile.mkstemp(prefix="isollm.edit-", suffix=".yaml", dir=state)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return Path(name)


def _keep_rejected(root: Path, text: str) -> Path:
    kept = root / STATE_DIR / REJECTED_FILE
    fsutil.atomic_write_text(kept, text, mode=0o600)
    return kept


def edit_config(
    root: Path,
    run_editor: Callable[[Path], None],
    show_problems: Callable[[list[Problem]], None],
) -> EditResult:
    """Edit ``root``/isollm.yaml through a validated copy (see the module docstring).

    ``run_editor`` opens the copy and raises when the editor fails; ``show_problems``
    prints the problems of a version before the editor opens again.
    """
    path = root / CONFIG_FILE
    original = _read(path)
    copy = _make_copy(root, original)
    try:
        return _edit_loop(root, path, original, copy, run_editor, show_problems)
    finally:
        copy.unlink(missing_ok=True)


def _edit_loop(
    root: Path,
    path: Path,
    original: str,
    copy: Path,
    run_editor: Callable[[Path], None],
    show_problems: Callable[[list[Problem]], None],
) -> EditResult:
    last: str | None = None  # the last version that had problems
    while True:
        run_editor(copy)
        text = strip_annotation(_read(copy))
        if not text.strip() or text == (original if last is None else last):
            if last is None:
                return EditResult(Outcome.UNCHANGED, path)
            return EditResult(Outcome.ABANDONED, path, rejected=_keep_rejected(root, last))
        fsutil.atomic_write_text(copy, text, mode=0o600)
        errors, warnings = check_file(copy)
        if not errors:
            _replace(root, path, original, text)
            return EditResult(Outcome.SAVED, path, warnings=warnings)
        show_problems(errors)
        last = text
        fsutil.atomic_write_text(copy, annotate(text, errors), mode=0o600)


def _replace(root: Path, path: Path, original: str, text: str) -> None:
    """Atomically put ``text`` in ``path``, unless someone changed it while it was edited."""
    if _read(path) != original:
        kept = _keep_rejected(root, text)
        raise ConfigError(
            f"{path} changed while you were editing it; it was left as it is now",
            hint=f"your version is in {kept}: merge it by hand, then `isollm config validate`",
        )
    mode = path.stat().st_mode & 0o777
    fsutil.atomic_write_text(path, text, mode=mode)
