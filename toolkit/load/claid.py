"""Claid async image edits -> one row per task: input/output size, format, megapixels, local output path.

A task result is the poll JSON (docs/contracts.md §4) ``{"data": {id, status, created_at, request, errors, result:
{input_object, output_object}}}``; the toolkit's Claid client adds ``"toolkit": {"output_digest",
"output_path"}`` once the output image is in the local cache (``tmp_url`` itself lives only 24 h). A local file
edited through the upload API is the sync answer ``{"data": {input, output}}`` instead (no id, status or request:
those come from the ledger record).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ._source import obj, records
from .export import RawResults, categorical, utc
from ..client.model import STATUS_CATEGORIES

__all__ = ["images"]

_STATUS = {"accepted": "queued", "processing": "running", "done": "succeeded", "error": "failed"}
STATUSES = STATUS_CATEGORIES  # toolkit.client.model: one vocabulary for every loader
_SIDES = ("width", "height")


def images(source: Any) -> pd.DataFrame:
    """One row per Claid task: job_id, input, status, error, operations (the request's operation names),
    input_/output_ width, height, format (lower case), mime, ext, megapixels, output_path (local file of the
    downloaded output, <NA> when not downloaded), output_digest, tmp_url, created_at (UTC).

    ``source``: a Claid Batch, poll JSON dicts, records, or result files. Raw JSON: ``df.attrs["raw"]``.
    """
    rows = [_row(r) for r in records(source)]
    df = pd.DataFrame(
        {
            "job_id": pd.array([r["job_id"] for r in rows], dtype="str"),
            "input": pd.array([r["input"] for r in rows], dtype="str"),
            "status": pd.Categorical([r["status"] for r in rows], categories=STATUSES),
            "error": pd.array([r["error"] for r in rows], dtype="str"),
            "operations": pd.array([r["operations"] for r in rows], dtype="str"),
        }
    )
    for side, key in (("input", "in"), ("output", "out")):
        objs = [r[key] for r in rows]
        for k in _SIDES:
            df[f"{side}_{k}"] = pd.array([_int(o.get(k)) for o in objs], dtype="Int64")
        df[f"{side}_format"] = categorical([_lower(o.get("format")) for o in objs])
        df[f"{side}_mime"] = categorical([o.get("mime") for o in objs])
        df[f"{side}_ext"] = categorical([_lower(o.get("ext")) for o in objs])
        df[f"{side}_megapixels"] = np.array([_mps(o) for o in objs], dtype=np.float64)
    df["scale"] = (df["output_width"].astype("Float64") / df["input_width"].astype("Float64")).astype("float64")
    df["output_path"] = pd.array([r["output_path"] for r in rows], dtype="str")
    df["output_digest"] = pd.array([r["output_digest"] for r in rows], dtype="str")
    df["tmp_url"] = pd.array([r["out"].get("tmp_url") for r in rows], dtype="str")
    df["created_at"] = utc([r["created_at"] for r in rows])
    df.attrs["raw"] = RawResults((r["job_id"] or r["input"], r["raw"]) for r in rows if r["raw"] is not None)
    return df


def _row(rec: dict[str, Any]) -> dict[str, Any]:
    raw = rec.get("result")
    res = raw if isinstance(raw, dict) else None
    inner = res.get("data") if res else None
    data = (inner if isinstance(inner, dict) else res) if res else {}
    local = (res or {}).get("toolkit") or {}
    result = obj(data.get("result"))
    if not result and isinstance(data.get("output"), dict):  # the upload API's sync answer
        result = {"input_object": data.get("input") or {}, "output_object": data["output"]}
    word = str(data.get("status") or "").lower()
    status = _STATUS.get(word) or rec.get("status") or "succeeded"
    if rec.get("status") in ("failed", "expired", "cancelled"):
        status = rec["status"]  # the client knows better (e.g. the output could not be fetched any more)
    errors = [e.get("error") if isinstance(e, dict) else str(e) for e in data.get("errors") or []]
    error = "; ".join(str(e) for e in errors if e) or None
    if rec.get("error_code") or rec.get("error_message"):
        error = error or ": ".join(str(x) for x in (rec.get("error_code"), rec.get("error_message")) if x)
    request = data.get("request")
    if not isinstance(request, dict):
        request = rec.get("options") or {}
    ops = request.get("operations")
    created = data.get("created_at")
    job_id = data.get("id", rec.get("job_id"))
    # on ERROR the result is empty but each error may carry the input object
    in_obj: dict[str, Any] = result.get("input_object") or next(
        (
            e["input_object"]
            for e in data.get("errors") or []
            if isinstance(e, dict) and isinstance(e.get("input_object"), dict)
        ),
        {},
    )
    return {
        "job_id": None if job_id is None else str(job_id),
        "input": rec.get("input") or request.get("input"),
        "status": status,
        "error": error,
        "operations": ",".join(ops) if isinstance(ops, dict) else None,
        "in": in_obj,
        "out": result.get("output_object") or {},
        "raw": res,
        "output_path": local.get("output_path"),
        "output_digest": local.get("output_digest"),
        "created_at": created if isinstance(created, str) else rec.get("submitted_at"),
    }


def _int(v: Any) -> int | None:
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _lower(v: Any) -> str | None:
    return v.lower() if isinstance(v, str) else None


def _mps(obj: dict[str, Any]) -> float:
    if isinstance(obj.get("mps"), (int, float)):
        return float(obj["mps"])
    w, h = _int(obj.get("width")), _int(obj.get("height"))
    return w * h / 1e6 if w and h else np.nan
