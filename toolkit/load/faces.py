"""Face batch enrollment results -> one row per roster row (docs/contracts.md §5).

A job's poll body is ``{"success": true, "data": {job_id, status, total, processed, succeeded, failed,
collection_id, results: [{index, external_id, face_id, success, error?: {code, message}}], error?}}``; ``index``
is the position inside that job (a roster is split into jobs of <= 100). The client records the roster rows
of each job in ``meta["rows"] = [{index, external_id, file}]`` (``index`` = row of the whole roster when the job
was made). A batch of ``enroll`` also knows where each row of the roster as it is now was enrolled
(``FacesBatch.roster_rows``): its frame has one row per roster row, at the row's current index and file.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from . import store
from ._source import obj, records
from ..client.model import STATUS_CATEGORIES

COLUMNS = [
    "index",
    "external_id",
    "file",
    "face_id",
    "success",
    "error_code",
    "error_message",
    "job_id",
    "job_index",
    "job_status",
    "collection_id",
]
STATUSES = STATUS_CATEGORIES  # toolkit.client.model: one vocabulary for every loader
STATUS_MAP = {
    "queued": "queued",
    "processing": "running",
    "done": "succeeded",
    "failed": "failed",
    **{s: s for s in STATUSES},
}


def faces(source: Any, *, engine: str = "pandas") -> Any:
    """One row per roster row: ``index`` (roster row), ``external_id``, ``file``, ``face_id``, ``success``,
    ``error_code``, ``error_message``, ``job_id`` (the batch job), ``job_index`` (position in that job),
    ``job_status``, ``collection_id``.

    ``source``: a Batch, raw poll bodies, records, or result files. Rows of a job that failed as a whole (e.g.
    ``COLLECTION_NOT_FOUND``) carry that job's error with ``success == False``; rows of a job that has not
    finished (or whose row is not reported yet) have ``success`` ``<NA>``. Without roster rows in the record
    (raw API bodies), the rows are the job's ``results`` padded to its ``total``, and ``index`` is the
    position in the job.

    A Batch of ``enroll`` gives one row per row of its roster, at the row's current index and file, even where
    the job that enrolled it was made for an earlier version of the roster.

    A Batch or Workspace is read from the workspace's columnar store (``toolkit.load.store``);
    ``engine="dask"`` returns a lazy ``dask.dataframe`` over it (one row per job row, as recorded).
    """
    if engine != "pandas":
        from .lazy import lazy_frame

        return lazy_frame(source, "faces", store_rows, engine=engine)
    loaded = store.load(source, "faces", store_rows)
    if loaded is not None and loaded.jobs:
        frame = store.concat([loaded.rows])
        roster_rows = getattr(source, "roster_rows", None)
        if roster_rows is not None:
            frame = _as_roster(frame, roster_rows)
        return _typed(frame[COLUMNS].copy())
    rows: list[dict[str, Any]] = []
    for rec in records(source):
        rows += _rows(rec)
    return _typed(pd.DataFrame(rows, columns=COLUMNS))


def store_rows(recs: list[dict[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The store's rows of ``recs`` (one per roster row, ``job_key``) and the jobs they came from."""
    rows: list[dict[str, Any]] = []
    keys: list[str] = []
    for rec in recs:
        out = _rows(rec)
        rows += out
        keys += [rec["key"]] * len(out)
    df = _typed(pd.DataFrame(rows, columns=COLUMNS))
    df[store.KEY] = pd.Categorical(keys)
    return df, pd.DataFrame({store.KEY: [r["key"] for r in recs]})


def _as_roster(rows: pd.DataFrame, roster_rows: list[tuple[str, int, int, str]]) -> pd.DataFrame:
    """The job rows that hold the roster's rows now (job key, position), re-labelled with each row's current
    index and file, in roster order; rows of a job no roster row points at any more are left out."""
    where = pd.DataFrame(roster_rows, columns=[store.KEY, "job_index", "_index", "_file"])
    keyed = rows.drop(columns=["index", "file"])
    keyed[store.KEY] = keyed[store.KEY].astype(str)
    keyed["job_index"] = keyed["job_index"].astype("int64")
    out = keyed.merge(where, on=[store.KEY, "job_index"], how="inner", sort=False)
    out = out.rename(columns={"_index": "index", "_file": "file"})
    return out.sort_values("index", kind="stable").reset_index(drop=True)


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    for c in ("index", "job_index"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("Int64")
    for c in ("external_id", "file", "face_id", "error_message", "job_id", "collection_id"):
        df[c] = df[c].astype("string")
    df["success"] = df["success"].astype("boolean")
    df["error_code"] = df["error_code"].astype("str").astype("category")
    df["job_status"] = pd.Categorical(df["job_status"], categories=list(STATUSES))
    return df


def _data(result: Any) -> dict[str, Any]:
    """The job body inside a result: ``{"success", "data": {...}}``, the data itself, or a bare results list."""
    if isinstance(result, list):
        return {"results": result}
    if not isinstance(result, dict):
        return {}
    if isinstance(result.get("data"), dict):
        return result["data"]
    return result


def _rows(rec: dict[str, Any]) -> list[dict[str, Any]]:
    data = _data(rec.get("result"))
    meta = rec.get("meta") or {}
    results = [r for r in data.get("results") or [] if isinstance(r, dict)]
    status = rec.get("status")
    if status in (None, "succeeded") and data.get("status"):  # a raw poll body knows better than its record
        status = data["status"]
    status = STATUS_MAP.get(str(status).lower()) if status is not None else None
    err = obj(data.get("error"))
    job_code = rec.get("error_code") or err.get("code")
    job_message = rec.get("error_message") or err.get("message")
    job_id = rec.get("job_id") or data.get("job_id")
    collection = data.get("collection_id") or meta.get("collection_id") or (rec.get("options") or {}).get("collection")
    by_pos = {r.get("index"): r for r in results if isinstance(r.get("index"), int)}
    roster = meta.get("rows") or []
    if not roster:  # raw API bodies: the rows are what the job reports, padded to its total
        total = data.get("total")
        total = total if isinstance(total, int) else len(results)
        roster = [{"index": None, "external_id": None, "file": None} for _ in range(max(total, len(results)))]
    out = []
    for pos, row in enumerate(roster):
        item = by_pos.get(pos)
        if item is not None and row.get("external_id") and item.get("external_id") not in (None, row["external_id"]):
            # the job's index does not match the roster order: pair by external id instead
            item = next((r for r in results if r.get("external_id") == row["external_id"]), None)
        item_err = obj((item or {}).get("error"))
        if item is not None:
            success, code, message = item.get("success"), item_err.get("code"), item_err.get("message")
        elif status in ("failed", "cancelled", "expired"):
            success, code, message = False, job_code, job_message
        else:
            success, code, message = None, None, None
        out.append(
            {
                "index": row.get("index") if row.get("index") is not None else (None if meta.get("rows") else pos),
                "external_id": row.get("external_id") or (item or {}).get("external_id"),
                "file": row.get("file"),
                "face_id": (item or {}).get("face_id"),
                "success": success,
                "error_code": code,
                "error_message": message,
                "job_id": job_id,
                "job_index": pos,
                "job_status": status,
                "collection_id": collection,
            }
        )
    return out
