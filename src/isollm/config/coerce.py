"""Turn a parsed YAML mapping into config dataclasses, collecting every problem.

Works on any dataclass whose fields are ``str``, ``int``, ``float``, ``bool``, a
``Literal`` of strings, ``list[...]``, ``dict[str, ...]`` or another such dataclass, so a
new section needs no change here. A value of the wrong type is reported (naming its
field) and the default is kept, so later rules still see a complete config.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, get_args, get_origin

from isollm.config.report import Report

T = TypeVar("T")

_MISSING = object()
MAX_INT = 2**63 - 1


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _show(value: Any) -> str:
    try:
        text = repr(value) if isinstance(value, str) else str(value)
    except ValueError:  # an integer too long to print
        return "a very large number"
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    tag = getattr(getattr(value, "tag", None), "value", None)  # ruamel keeps `!tag value`
    return f"{_show(value)} tagged {tag}" if isinstance(tag, str) else _show(value)


def build(cls: type[T], data: Any, report: Report, path: str = "") -> T:
    """An instance of dataclass ``cls`` from ``data``; problems go to ``report``."""
    if data is None:
        return cls()
    if not isinstance(data, Mapping):
        what = path or "the file"
        report.error(path, f"expected a mapping of settings for {what}, got {_kind(data)}")
        return cls()
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in data:
        if not isinstance(key, str) or key not in fields:
            _unknown_key(key, list(fields), path, report)
    values: dict[str, Any] = {}
    for name in fields:
        if name in data:
            value = _value(_hints(cls)[name], data[name], _join(path, name), report)
            if value is not _MISSING:
                values[name] = value
    return cls(**values)


def _unknown_key(key: Any, known: list[str], path: str, report: Report) -> None:
    message = f"unknown key {_show(key)} is ignored"
    match = difflib.get_close_matches(key, known, n=1, cutoff=0.6) if isinstance(key, str) else []
    if match:
        message += f" (did you mean {match[0]!r}?)"
    report.warn(_join(path, str(key) if key != "" else "''"), message)


def _value(tp: Any, raw: Any, path: str, report: Report) -> Any:
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        return None if raw is None else _value(args[0], raw, path, report)
    if origin is Literal:
        return _literal(get_args(tp), raw, path, report)
    if origin is list:
        return _list(get_args(tp)[0], raw, path, report)
    if origin is dict:
        return _dict(get_args(tp)[1], raw, path, report)
    if dataclasses.is_dataclass(tp):
        return build(tp, raw, report, path)  # type: ignore[arg-type]
    return _scalar(tp, raw, path, report)


def _literal(choices: tuple[str, ...], raw: Any, path: str, report: Report) -> Any:
    if isinstance(raw, str) and raw in choices:
        return raw
    report.error(path, f"must be one of: {', '.join(choices)} (got {_kind(raw)})")
    return _MISSING


def _list(item: Any, raw: Any, path: str, report: Report) -> Any:
    if raw is None:
        return []
    if not isinstance(raw, list):
        report.error(path, f"expected a list, got {_kind(raw)}")
        return _MISSING
    out = []
    for i, element in enumerate(raw):
        value = _value(item, element, f"{path}[{i}]", report)
        if value is not _MISSING:
            out.append(value)
    return out


def _dict(item: Any, raw: Any, path: str, report: Report) -> Any:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        report.error(path, f"expected a mapping, got {_kind(raw)}")
        return _MISSING
    out = {}
    for key, element in raw.items():
        value = _value(item, element, _join(path, str(key)), report)
        if value is not _MISSING:
            out[str(key)] = value
    return out


def _scalar(tp: Any, raw: Any, path: str, report: Report) -> Any:
    if tp is bool:
        if isinstance(raw, bool):
            return raw
        report.error(path, f"expected true or false, got {_kind(raw)}")
    elif tp is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            if abs(raw) <= MAX_INT:
                return int(raw)
            report.error(path, f"is far too large (more than {MAX_INT})")
        else:
            report.error(path, f"expected a whole number, got {_kind(raw)}")
    elif tp is float:
        number = _finite(raw)
        if number is not None:
            return number
        report.error(path, f"expected a number, got {_kind(raw)}")
    elif tp is str:
        if isinstance(raw, str):
            return str(raw)
        if isinstance(raw, int) and not isinstance(raw, bool):
            return str(raw)
        report.error(path, f"expected text, got {_kind(raw)} (quote it if it is meant as text)")
    else:  # pragma: no cover - a field type this loader does not know is a programming error
        raise TypeError(f"config field {path} has unsupported type {tp!r}")
    return _MISSING


def _finite(raw: Any) -> float | None:
    """``raw`` as a finite float, or None (booleans, text, inf, nan, huge integers)."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    try:
        number = float(raw)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None
