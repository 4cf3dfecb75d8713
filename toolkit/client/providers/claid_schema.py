"""Claid's edit request as data: the operation and output keys, enums and ranges of Claid's API reference
(https://docs.claid.ai/image-editing-api/api-reference), checked before anything is sent (``validate``)."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, Iterable

from ..model import PreflightError


# -- the request schema as data (the keys and enums the sandbox validates, from Claid's API reference) ---------
@dataclass(frozen=True)
class Obj:
    """A JSON object with these keys (None: any value); ``scalar``: a plain value is accepted instead."""

    keys: dict[str, "Obj | None"]
    scalar: bool = False
    what: str = "key"  # how the keys are called in messages ("operation" at the top level)


_CATEGORY = {"category": None}
OPERATIONS = Obj(
    {
        "restorations": Obj({"upscale": None, "decompress": None, "polish": None}),
        "resizing": Obj({"width": None, "height": None, "fit": Obj({"crop": None}, scalar=True)}),
        "adjustments": Obj(
            {
                "hdr": Obj({"intensity": None, "stitching": None}, scalar=True),
                "exposure": None,
                "saturation": None,
                "contrast": None,
                "sharpness": None,
            }
        ),
        "background": Obj(
            {
                "remove": Obj({**_CATEGORY, "clipping": None}, scalar=True),
                "color": None,
                "blur": Obj({**_CATEGORY, "type": None, "level": None}),
            }
        ),
        "padding": None,
        "privacy": Obj({"blur_car_plate": None}),
        "generative": None,  # free-form; echoed by the sandbox
    },
    what="operation",
)
FORMATS = ("jpeg", "png", "webp", "avif")
OUTPUT = Obj(
    {
        "format": Obj({"type": None, "quality": None, "progressive": None, "compression": None}, scalar=True),
        "destination": None,
    }
)
_CATEGORIES = ("general", "products", "cars")
ENUMS: dict[str, tuple[str, ...]] = {
    "operations.restorations.upscale": ("smart_enhance", "smart_resize", "faces", "digital_art", "photo"),
    "operations.restorations.decompress": ("moderate", "strong", "auto"),
    "operations.resizing.fit": ("crop", "bounds", "cover", "canvas", "outpaint"),
    "operations.resizing.fit.crop": ("center", "smart"),
    "operations.background.remove.category": _CATEGORIES,
    "operations.background.blur.category": _CATEGORIES,
    "operations.background.blur.type": ("regular", "lens"),
    "operations.background.blur.level": ("low", "medium", "high"),
    "output.format": FORMATS,
    "output.format.type": FORMATS,
    "output.format.compression": ("optimal", "fast"),
}
RANGES: dict[str, tuple[float, float]] = {
    **{f"operations.adjustments.{k}": (-100, 100) for k in ("exposure", "saturation", "contrast", "sharpness")},
    "operations.adjustments.hdr": (0, 100),
    "operations.adjustments.hdr.intensity": (0, 100),
    "output.format.quality": (1, 100),
}
_PCT = re.compile(r"^\d+(\.\d+)?%$")


class InvalidRequest(PreflightError, ValueError):
    """``operations`` / ``output`` do not fit Claid's schema; raised before anything is sent."""


def _all_paths(node: Obj, prefix: str = "") -> dict[str, str]:
    """Every known key -> its dotted path (for "did you mean restorations.upscale?")."""
    out: dict[str, str] = {}
    for k, child in node.keys.items():
        out.setdefault(k, prefix + k)
        if child is not None:
            for kk, p in _all_paths(child, prefix + k + ".").items():
                out.setdefault(kk, p)
    return out


def _suggest(key: str, valid: Iterable[str], elsewhere: dict[str, str]) -> str:
    if key in elsewhere:
        return f"; did you mean {elsewhere[key]!r}?"
    close = difflib.get_close_matches(key.lower(), list(valid), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def check_request(root: str, value: Any, node: Obj) -> list[tuple[str, str]]:
    """Problems of ``value`` against the schema ``node`` as (dotted path, reason); empty when it fits."""
    problems: list[tuple[str, str]] = []
    elsewhere = _all_paths(node, "")

    def walk(path: str, v: Any, n: Obj | None) -> None:
        if n is not None and isinstance(v, dict):
            for k, child in v.items():
                here = f"{path}.{k}"
                if k not in n.keys:
                    valid = sorted(n.keys)
                    problems.append(
                        (
                            here,
                            f"unknown {n.what} {k!r} in {path}{_suggest(str(k), valid, elsewhere)} "
                            f"(valid: {', '.join(valid)})",
                        )
                    )
                else:
                    walk(here, child, n.keys[k])
            return
        if n is not None and not n.scalar:
            problems.append((path, f"{path} must be a mapping of {', '.join(sorted(n.keys))}, not {v!r}"))
            return
        problems.extend(_check_value(path, v))

    walk(root, value, node)
    return problems


def _check_value(path: str, v: Any) -> list[tuple[str, str]]:
    if path in ENUMS and isinstance(v, str) and v.lower() not in ENUMS[path]:
        valid = ENUMS[path]
        alias = {"jpg": "jpeg"}.get(v.lower())
        hint = f"; did you mean {alias!r}?" if alias else _suggest(v, valid, {})
        return [(path, f"{path}={v!r} is not one of {', '.join(valid)}{hint}")]
    if path in ENUMS and v is not None and not isinstance(v, str):
        return [(path, f"{path}={v!r} must be one of {', '.join(ENUMS[path])}")]
    if path in RANGES and not isinstance(v, bool) and isinstance(v, (int, float)):
        lo, hi = RANGES[path]
        if not lo <= v <= hi:
            return [(path, f"{path}={v} is outside {lo:g}..{hi:g}")]
    if path in ("operations.resizing.width", "operations.resizing.height") and v is not None:
        if not ((isinstance(v, int) and not isinstance(v, bool) and v >= 1) or (isinstance(v, str) and _PCT.match(v))):
            return [(path, f"{path}={v!r} must be a pixel count >= 1 or a percentage such as '50%'")]
    return []


def validate(operations: Any, output: Any) -> None:
    """Raise ``InvalidRequest`` naming every unknown key or bad value of ``operations`` and ``output``."""
    if not isinstance(operations, dict):
        raise InvalidRequest(
            "claid",
            "operations",
            f"operations must be a dict such as {{'resizing': {{'width': 800}}}}, not {type(operations).__name__}",
        )
    problems = check_request("operations", operations, OPERATIONS)
    if output is not None:
        problems += check_request("output", output, OUTPUT)
    if problems:
        raise InvalidRequest("claid", problems[0][0], "; ".join(msg for _, msg in problems))
