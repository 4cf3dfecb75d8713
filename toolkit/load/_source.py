"""Normalise what a loader is given (a Batch, raw result dicts, records, or result files) into records."""

from __future__ import annotations

import glob
import json
import math
from pathlib import Path
from typing import Any, Iterable

RECORD_KEYS = (
    "job_id",
    "input",
    "key",
    "provider",
    "operation",
    "status",
    "error_code",
    "error_message",
    "options",
    "meta",
    "submitted_at",
    "started_at",
    "finished_at",
    "result",
)


def records(source: Any) -> list[dict[str, Any]]:
    """One record per job: ``{job_id, input, status, error_code, error_message, options, meta, ..., result}``.

    ``source`` may be a ``Batch`` (all its jobs, failed and pending included), a list of ``Batch``, one raw
    result dict or a list of them (as returned by an API), a list of records (``Batch.records()`` /
    ``Batch.raw()``), or a path, glob or list of paths to result JSON/GeoJSON files.
    """
    if hasattr(source, "records") and callable(source.records):
        return source.records()
    if isinstance(source, (str, Path)):
        return [_from_file(p) for p in _paths(source)]
    if isinstance(source, dict):
        return [_record(source)]
    out: list[dict[str, Any]] = []
    for item in source if isinstance(source, Iterable) else [source]:
        if hasattr(item, "records") and callable(item.records):
            out += item.records()
        elif isinstance(item, (str, Path)):
            out += [_from_file(p) for p in _paths(item)]
        elif isinstance(item, dict):
            out.append(_record(item))
        else:
            raise TypeError(f"cannot load results from {type(item).__name__}: give a Batch, dicts or file paths")
    return out


def loads_lenient(text: str | bytes) -> Any:
    """JSON that may hold NaN / Infinity literals (some providers emit them): parsed, non-finite -> None."""
    return json.loads(text, parse_constant=lambda c: None)


def finite(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def obj(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else ``{}``: a field read from a response of any shape."""
    return value if isinstance(value, dict) else {}


def _is_record(d: dict[str, Any]) -> bool:
    return "result" in d and ("key" in d or "input" in d) and ("status" in d or "job_id" in d)


def _record(d: dict[str, Any]) -> dict[str, Any]:
    if _is_record(d):
        rec = {k: d.get(k) for k in RECORD_KEYS}
        rec["status"] = rec["status"] or ("succeeded" if d.get("result") is not None else None)
        rec["options"], rec["meta"] = rec["options"] or {}, rec["meta"] or {}
        return rec
    rec = {k: None for k in RECORD_KEYS}
    data = obj(d.get("data"))
    word = str(d.get("status") or data.get("status") or "").lower()
    # a raw dict is a result unless it is a failed job's status body (status failed/ERROR, or an error object)
    failed = word in ("failed", "error") or (isinstance(d.get("error"), dict) and "annotations" not in d)
    rec.update(job_id=_job_id(d), status="failed" if failed else "succeeded", options={}, meta={}, result=d)
    if failed:
        err = obj(d.get("error"))
        rec.update(
            error_code=err.get("code") or d.get("error_code"),
            error_message=err.get("message") or d.get("error_message"),
        )
    return rec


def _job_id(d: dict[str, Any]) -> Any:
    for k in ("job_id", "jobId", "id"):
        if isinstance(d.get(k), (str, int)):
            return str(d[k])
    data = d.get("data")
    if isinstance(data, dict):
        return _job_id(data)
    job = d.get("job")
    return _job_id(job) if isinstance(job, dict) else None


def _paths(p: str | Path) -> list[Path]:
    s = str(p)
    if any(c in s for c in "*?["):
        paths = [Path(m) for m in sorted(glob.glob(s, recursive=True))]
    elif Path(s).is_dir():
        paths = sorted(f for f in Path(s).iterdir() if f.suffix.lower() in (".json", ".geojson"))
    else:
        paths = [Path(s)]
    if not paths:
        raise FileNotFoundError(f"{s}: no result files there")
    return paths


def _from_file(path: Path) -> dict[str, Any]:
    try:
        data = loads_lenient(Path(path).read_bytes())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such result file") from None
    except ValueError as e:
        raise ValueError(f"{path}: not a JSON result file ({e})") from None
    rec = _record(data) if isinstance(data, dict) else _record({"result": data, "input": str(path)})
    rec["input"] = rec["input"] or str(path)
    return rec
