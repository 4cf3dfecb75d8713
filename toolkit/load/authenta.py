"""Authenta results -> one row per job (an input and a task type) with the verdict on a common 0..1 scale.

Result shapes (docs/contracts.md §3; ``toolkit/sandbox/engines/authenticity.py``): the job detail
``{jobId, taskTypeId, taskTypeSlug, status, createdAt, completedAt, inputs[], result?, errorMessage?}`` (flat or
wrapped ``{"job": {...}}``) or the result JSON alone (the ``artifacts[kind="result"]`` download). Two verdict
shapes: the newer guide's ``{isFake, confidencePercent, fakeConfidencePercent, realConfidencePercent}`` and the
reference page's ``{confidence, isAiGenerated}`` where ``confidence`` (0..1, e.g. 0.98) is the confidence of
the stated verdict, so the fake probability is ``confidence`` when fake and ``1 - confidence`` when not.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any, TypeGuard

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from pandas._libs.tslibs.nattype import NaTType

from . import store
from ._source import obj, records
from ..client.model import STATUS_CATEGORIES

TASKS = (
    "ai-image-detection",
    "ai-audio-detection",
    "ai-video-detection",
    "faceswap-detection",
    "image-forgery-detection",
    "document-intelligence",
    "face-liveness-detection",
    "face-intelligence",
    "face-embedding",
    "audio-splitter",
    "ekyc-deepfake",
)
TASK_IDS = {i: slug for i, slug in enumerate(TASKS, 1)}
#: The SDK's model codes for the same task types.
MODEL_CODES = {
    "AC-1": "ai-image-detection",
    "AF-1": "ai-audio-detection",
    "VF-1": "ai-video-detection",
    "DF-1": "faceswap-detection",
    "FD-1": "image-forgery-detection",
    "FL-1": "face-liveness-detection",
    "FI-1": "face-intelligence",
    "FE-1": "face-embedding",
    "DI-1": "document-intelligence",
}
STATUSES = STATUS_CATEGORIES  # toolkit.client.model: one vocabulary for every loader
STATUS_MAP = {
    "created": "draft",
    "initiated": "draft",
    "waiting_for_finalize": "draft",
    "processing": "running",
    "completed": "succeeded",
    "processed": "succeeded",
    "error": "failed",
    **{s: s for s in STATUSES},
}
CORE = [
    "job_id",
    "input",
    "task",
    "status",
    "is_fake",
    "fake_confidence",
    "error_code",
    "error_message",
    "model",
    "submitted_at",
    "finished_at",
]
#: Task-specific columns, added when a task that has them is in the frame (in this order).
TASK_COLUMNS = {
    "image-forgery-detection": ["is_forged"],
    "document-intelligence": ["is_tampered", "page_count"],
    "face-liveness-detection": ["is_live", "liveness_score"],
    "face-intelligence": ["reference", "is_deepfake", "is_live", "liveness_score", "is_similar", "similarity"],
    "faceswap-detection": ["is_deepfake"],
    "ekyc-deepfake": ["is_deepfake"],
    "face-embedding": ["embedding"],
    "audio-splitter": ["segments", "duration_s"],
    "ai-audio-detection": ["duration_s"],
}
EXTRA_ORDER = [
    "reference",
    "is_forged",
    "is_tampered",
    "page_count",
    "is_deepfake",
    "is_live",
    "liveness_score",
    "is_similar",
    "similarity",
    "embedding",
    "segments",
    "duration_s",
]
BOOLEAN = ("is_fake", "is_forged", "is_tampered", "is_deepfake", "is_live", "is_similar")
FLOAT = ("fake_confidence", "liveness_score", "similarity", "duration_s")


def verdicts(source: Any, *, engine: str = "pandas") -> Any:
    """One row per Authenta job: ``job_id, input, task, status, is_fake, fake_confidence`` (0..1), errors,
    ``model``, ``submitted_at``/``finished_at`` (UTC), plus the columns of the tasks present: ``is_forged``;
    ``is_tampered``, ``page_count``; ``is_live``, ``liveness_score`` (0..1); ``reference``, ``is_deepfake``,
    ``is_similar``, ``similarity`` (0..1); ``embedding`` (float32 vectors, see ``embedding_matrix``);
    ``segments``, ``duration_s``.

    ``source``: a Batch, raw job details or result dicts, records, or result files. Failed, cancelled and
    unfinished jobs stay as rows with their status and error and empty verdict columns.

    A Batch or Workspace is read from the workspace's columnar store (``toolkit.load.store``);
    ``engine="dask"`` returns a lazy ``dask.dataframe`` over it (``segments`` as JSON text there).
    """
    if engine != "pandas":
        from .lazy import lazy_frame

        return lazy_frame(source, "verdicts", store_rows, engine=engine)
    loaded = store.load(source, "verdicts", store_rows)
    if loaded is not None and loaded.jobs:
        stored = store.concat([loaded.rows])
        df = stored[_columns(stored["task"].dropna().unique())].copy()
        if "segments" in df:
            df["segments"] = pd.Series(
                [json.loads(v) if isinstance(v, str) else None for v in df["segments"]], dtype=object, index=df.index
            )
        if "embedding" in df:
            df["embedding"] = pd.Series(
                [v if isinstance(v, np.ndarray) else None for v in df["embedding"]], dtype=object, index=df.index
            )
        return _typed(df)
    rows = [_row(rec) for rec in records(source)]
    df = pd.DataFrame(rows, columns=_columns({r["task"] for r in rows}))
    return _typed(df)


def store_rows(recs: list[dict[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The store's rows of ``recs``: every column of every task (``segments`` as JSON text), ``job_key``."""
    df = _typed(pd.DataFrame([_row(rec) for rec in recs], columns=CORE + EXTRA_ORDER))
    df["segments"] = pd.array([None if v is None else json.dumps(v) for v in df["segments"]], dtype="str")
    df["embedding"] = pd.Series(
        [None if v is None else np.asarray(v, dtype=np.float32) for v in df["embedding"]], dtype=object, index=df.index
    )
    keys = [r["key"] for r in recs]
    df[store.KEY] = pd.Categorical(keys)
    return df, pd.DataFrame({store.KEY: keys})


def _columns(tasks: Any) -> list[str]:
    extras = {c for t in tasks for c in TASK_COLUMNS.get(t, [])}
    return CORE + [c for c in EXTRA_ORDER if c in extras]


def embedding_matrix(frame: pd.DataFrame) -> np.ndarray:
    """The ``embedding`` column as an ``(n, d)`` float32 matrix, one row per row of ``frame`` that has one
    (in frame order: ``frame[frame["embedding"].notna()]``)."""
    if "embedding" not in frame:
        return np.empty((0, 0), dtype=np.float32)
    vecs = [v for v in frame["embedding"] if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return np.vstack(vecs).astype(np.float32) if vecs else np.empty((0, 0), dtype=np.float32)


# -- one job ------------------------------------------------------------------------------------------
def _detail(result: Any) -> dict[str, Any] | None:
    """The job detail (flat or ``{"job": {...}}``-wrapped) if ``result`` is one, flattened."""
    if not isinstance(result, dict):
        return None
    if isinstance(result.get("job"), dict):
        job = result["job"]
        flat = {**{k: v for k, v in result.items() if k != "job"}, **job}
        flat.setdefault("jobId", job.get("id"))
        return flat
    if "jobId" in result or "taskTypeId" in result or "taskTypeSlug" in result:
        return result
    return None


def _task(rec: dict[str, Any], detail: dict[str, Any] | None, res: dict[str, Any]) -> str | None:
    meta, opts = rec.get("meta") or {}, rec.get("options") or {}
    from_detail = (detail.get("taskTypeSlug"), detail.get("taskTypeId")) if detail else ()
    for v in (
        rec.get("operation"),
        meta.get("task"),
        meta.get("taskTypeSlug"),
        meta.get("taskTypeId"),
        opts.get("taskTypeId"),
        opts.get("task_type_id"),
        *from_detail,
    ):
        slug = _slug(v)
        if slug:
            return slug
    keys = set(res)
    for key, slug in (
        ("embedding", "face-embedding"),
        ("segments", "audio-splitter"),
        ("isTampered", "document-intelligence"),
        ("similarityScore", "face-intelligence"),
        ("isLive", "face-liveness-detection"),
        ("isForged", "image-forgery-detection"),
    ):
        if key in keys:
            return slug
    return None


def _slug(v: Any) -> str | None:
    if v is None or isinstance(v, bool):
        return None
    s = str(v).strip()
    if s.isdigit():
        return TASK_IDS.get(int(s))
    s = s.rsplit("/", 1)[-1]
    return s.lower() if s.lower() in TASKS else MODEL_CODES.get(s.upper())


def _pct(v: Any) -> float | None:
    return v / 100.0 if _num(v) else None


def _num(v: Any) -> TypeGuard[float]:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _first(res: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if res.get(k) is not None:
            return res[k]
    return None


def _fake(res: dict[str, Any]) -> tuple[Any, float | None]:
    """(is_fake, fake probability 0..1) from whichever verdict shape ``res`` has."""
    is_fake = _first(res, "isFake", "isAiGenerated", "isDeepFake", "isTampered", "isForged")
    p = _pct(_first(res, "fakeConfidencePercent", "deepFakeConfidencePercent", "tamperConfidencePercent"))
    if p is None:
        c = res.get("confidence")
        c = (c / 100.0 if c > 1 else c) if _num(c) else _pct(res.get("confidencePercent"))
        if c is not None and isinstance(is_fake, bool):
            p = c if is_fake else 1.0 - c  # confidence of the stated verdict
    return is_fake, p


def _row(rec: dict[str, Any]) -> dict[str, Any]:
    detail = _detail(rec.get("result"))
    res = (detail.get("result") if detail else rec.get("result")) or {}
    res = res if isinstance(res, dict) else {}
    meta = rec.get("meta") or {}
    slots = {s.get("slotName"): s.get("fileName") for s in (detail or {}).get("inputs") or [] if isinstance(s, dict)}
    status = rec.get("status")
    error_message = rec.get("error_message")
    if detail:  # a raw job detail says more than the generic record built around it
        status = detail.get("status") or status
        error_message = error_message or detail.get("errorMessage")
    status = STATUS_MAP.get(str(status).lower(), None) if status is not None else None
    is_fake, p = _fake(res)
    emb = res.get("embedding")
    details = obj(res.get("analysisDetails"))
    return {
        "job_id": rec.get("job_id") or (str(detail["jobId"]) if detail and detail.get("jobId") is not None else None),
        "input": rec.get("input") or slots.get("original"),
        "reference": meta.get("reference") or meta.get("ref_filename") or slots.get("reference"),
        "task": _task(rec, detail, res),
        "status": status,
        "error_code": rec.get("error_code") or (detail or {}).get("errorCode"),
        "error_message": error_message,
        "model": res.get("model"),
        "submitted_at": rec.get("submitted_at") or (detail or {}).get("createdAt"),
        "finished_at": rec.get("finished_at") or (detail or {}).get("completedAt"),
        "is_fake": is_fake,
        "fake_confidence": p,
        "is_forged": res.get("isForged"),
        "is_tampered": res.get("isTampered"),
        "page_count": res.get("pageCount"),
        "is_deepfake": res.get("isDeepFake"),
        "is_live": _first(res, "isLive", "isLiveness"),
        "liveness_score": _pct(res.get("livenessScore")),
        "is_similar": res.get("isSimilar"),
        "similarity": _pct(res.get("similarityScore")),
        "embedding": np.asarray(emb, dtype=np.float32) if isinstance(emb, list) and emb else None,
        "segments": res.get("segments"),
        "duration_s": res.get("durationSeconds", details.get("durationSeconds")),
    }


def _utc(values: Any) -> pd.Series:
    """Timestamps given as epoch seconds, ISO strings or datetimes -> tz-aware UTC (``NaT`` where missing)."""
    out: list[pd.Timestamp | NaTType] = []
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(pd.NaT)
        elif _num(v):
            out.append(pd.Timestamp(v, unit="s", tz="UTC"))
        else:
            out.append(pd.to_datetime(v, errors="coerce", utc=True))
    # pandas-stubs: to_datetime's list may not hold NaT (pandas reads it as missing)
    return pd.Series(pd.to_datetime(out, utc=True), dtype="datetime64[ns, UTC]")  # type: ignore[arg-type]


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    df["task"] = pd.Categorical(df["task"], categories=list(TASKS))
    df["status"] = pd.Categorical(df["status"], categories=list(STATUSES))
    df["error_code"] = df["error_code"].astype("str").astype("category")
    for c in ("job_id", "input", "error_message", "model", "reference"):
        if c in df:
            df[c] = df[c].astype("string")
    for c in BOOLEAN:
        if c in df:
            df[c] = df[c].astype("boolean")
    for c in FLOAT:
        if c in df:
            df[c] = pd.to_numeric(df[c], errors="coerce").astype("Float64")
    if "page_count" in df:
        df["page_count"] = pd.to_numeric(df["page_count"], errors="coerce").astype("Int64")
    for c in ("submitted_at", "finished_at"):
        df[c] = _utc(df[c]).set_axis(df.index)
    return df
