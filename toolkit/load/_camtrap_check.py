"""Checks of a Camtrap DP package's inputs against the official schemas, before anything is written.

- A deployments table's values against the official deployments table schema (``camtrap_dp/``, tdwg/camtrap-dp
  1.0.2, MIT; its fields are the same in 1.0.1): type, minimum/maximum, enum. A value is mapped only where the
  mapping is certain (``"none"``/``"no"`` -> false and ``"yes"`` -> true for a boolean, ``"10"`` -> 10);
  anything else is a problem naming the deployment, the field, the value and what is allowed, with "did you
  mean" for an enum (``"trail hiking"`` -> ``trailHiking``).
- ``media.filePath``: relative to a media root, in the form the media schema's pattern allows.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

SCHEMA_DIR = Path(__file__).with_name("camtrap_dp")
#: media.filePath: a URL or a relative path that starts with none of . / ~ and has no ".." (media schema)
FILE_PATH = re.compile(r"^(?=^[^./~])(^((?!\.{2}).)*$).*$")
_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n", "none"}


@cache
def deployment_fields() -> dict[str, dict[str, Any]]:
    """``name -> field`` of the official deployments table schema."""
    schema = json.loads((SCHEMA_DIR / "deployments-table-schema.json").read_text())
    return {f["name"]: f for f in schema["fields"]}


def integer_fields() -> list[str]:
    return [n for n, f in deployment_fields().items() if f["type"] == "integer"]


def check_deployment(dep: str, row: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    """``row`` with each value typed as the schema says; what cannot be is appended to ``problems``."""
    out = dict(row)
    for name, value in row.items():
        field = deployment_fields().get(name)
        if field is None or field["type"] in ("datetime", "string") and "enum" not in field.get("constraints", {}):
            continue
        typed, why = _typed(value, field)
        if why:
            problems.append(f"deployment {dep}: {name} {_show(value)} {why}")
        else:
            out[name] = typed
    return out


def _typed(value: Any, field: dict[str, Any]) -> tuple[Any, str | None]:
    """(the value as the field's type, None) or (None, why it is not allowed)."""
    kind, rules = field["type"], field.get("constraints", {})
    if kind == "boolean":
        if isinstance(value, bool) or type(value).__name__ == "bool_":
            return bool(value), None
        text = str(value).strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE, None
        return None, "is not a boolean (true or false; yes/no and none are read as such)"
    if kind in ("integer", "number"):
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None, f"is not a{'n integer' if kind == 'integer' else ' number'}{_range(rules)}"
        if not math.isfinite(number) or (kind == "integer" and number != int(number)):
            return None, f"is not a{'n integer' if kind == 'integer' else ' finite number'}{_range(rules)}"
        lo, hi = rules.get("minimum"), rules.get("maximum")
        if (lo is not None and number < lo) or (hi is not None and number > hi):
            return None, f"is out of range{_range(rules)}"
        return (int(number) if kind == "integer" else number), None
    allowed = rules.get("enum")
    if allowed and value not in allowed:
        hint = _did_you_mean(str(value), allowed)
        return None, f"is not one of {', '.join(allowed)}{hint} (leave it empty when none applies)"
    return value, None


def _range(rules: dict[str, Any]) -> str:
    lo, hi = rules.get("minimum"), rules.get("maximum")
    if lo is not None and hi is not None:
        return f" ({lo} to {hi})"
    return f" (at least {lo})" if lo is not None else ""


def _did_you_mean(value: str, allowed: list[str]) -> str:
    def squash(s: str) -> str:
        return re.sub(r"[\s_\-]+", "", s).lower()

    same = [a for a in allowed if squash(a) == squash(value)]
    close = same or difflib.get_close_matches(squash(value), [squash(a) for a in allowed], n=1, cutoff=0.75)
    if not close:
        return ""
    match = same[0] if same else next(a for a in allowed if squash(a) == close[0])
    return f": did you mean {match!r}?"


def _show(value: Any) -> str:
    return repr(value if isinstance(value, str) else str(value))


def media_root(files: list[str | None], root: str | Path | None) -> Path | None:
    """The folder ``media.filePath`` is relative to: ``root``, else the common folder of the local files."""
    if root is not None:
        return Path(os.path.abspath(root))
    local = [os.path.abspath(f) for f in files if f and not _is_url(f)]
    if not local:
        return None
    return Path(os.path.commonpath([os.path.dirname(f) for f in local]))


def file_path(file: str | None, root: Path | None) -> tuple[str | None, str | None]:
    """(``media.filePath`` for ``file``, None) or (None, why it cannot be one)."""
    if not file:
        return None, "no file"
    if _is_url(file):
        return file, None
    absolute = os.path.abspath(file)
    if root is None or os.path.commonpath([absolute, str(root)]) != str(root):
        return None, f"{file} is not inside media_root {root}"
    rel = PurePosixPath(*Path(os.path.relpath(absolute, root)).parts).as_posix()
    if not FILE_PATH.match(rel):
        return None, f"{rel!r} (relative to {root}) starts with '.', '/' or '~' or holds '..', which filePath forbids"
    return rel, None


def _is_url(s: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", s))
