"""The ledger's jobs -> one row per job with tz-aware UTC timestamps and durations.

Durations, in seconds: ``queue_s`` = created -> started (everything before the provider ran the job: the
local wait for a slot, create/upload, the provider's queue), ``run_s`` = started -> finished, ``total_s`` =
created -> finished. ``started_at`` is when a poll first saw the job running; a job that finished between
two polls has no start, so its queue/run split is <NA> while ``total_s`` is known.
"""

from __future__ import annotations

from typing import Any, Iterable, cast

import numpy as np
import pandas as pd

from .export import categorical, utc
from ..client.model import STATUS_CATEGORIES

__all__ = ["jobs", "COLUMNS"]

STATUSES = STATUS_CATEGORIES  # toolkit.client.model: one vocabulary for every loader
TIMES = ("created_at", "submitted_at", "started_at", "finished_at")
COLUMNS = [
    "provider",
    "operation",
    "batch",
    "input",
    "job_id",
    "status",
    "provider_status",
    "error_code",
    "error_message",
    *TIMES,
    "queue_s",
    "run_s",
    "total_s",
    "cached",
]


def jobs(source: Any) -> pd.DataFrame:
    """One row per job of a Workspace, Ledger, Batch (or list of them), list of ``Job``, or a jobs DataFrame
    (``ws.jobs()``, ``batch.to_frame()``): provider, operation, batch, input, job_id, status (categorical),
    provider_status, error code/message, created/submitted/started/finished (UTC), queue_s, run_s, total_s,
    cached (result in the local cache).
    """
    if isinstance(source, pd.DataFrame):
        df = _from_frame(source)
    else:
        df = _from_rows([_job_row(j) for j in _job_objects(source)])
    created, started, finished = df["created_at"], df["started_at"], df["finished_at"]
    df["queue_s"] = (started - created).dt.total_seconds()
    df["run_s"] = (finished - started).dt.total_seconds()
    df["total_s"] = (finished - created).dt.total_seconds()
    return df[COLUMNS]


def _job_objects(source: Any) -> list[Any]:
    if isinstance(getattr(source, "jobs", None), list):
        return source.jobs  # a Batch
    if hasattr(source, "put_result") and callable(getattr(source, "jobs", None)):
        return source.jobs()  # a Ledger
    if hasattr(getattr(source, "ledger", None), "put_result"):
        return source.ledger.jobs()  # a Workspace
    if isinstance(source, Iterable) and not isinstance(source, (str, bytes, dict)):
        out: list[Any] = []
        for item in source:
            out += _job_objects(item) if not hasattr(item, "key") else [item]
        return out
    raise TypeError(
        f"jobs() needs a Workspace, Ledger, Batch, list of jobs or a jobs DataFrame, not {type(source).__name__}"
    )


def _job_row(j: Any) -> dict[str, Any]:
    status = getattr(j.status, "value", j.status)
    return {
        "provider": j.provider,
        "operation": j.operation,
        "batch": j.batch_id,
        "input": j.input,
        "job_id": j.job_id,
        "status": status,
        "provider_status": j.provider_status,
        "error_code": j.error_code,
        "error_message": j.error_message,
        "created_at": j.created_at,
        "submitted_at": j.submitted_at,
        "started_at": j.started_at,
        "finished_at": j.finished_at,
        "cached": j.result_digest is not None,
    }


def _from_rows(rows: list[dict[str, Any]]) -> pd.DataFrame:
    def col(name: str) -> list[Any]:
        return [r.get(name) for r in rows]

    df = pd.DataFrame(
        {
            "provider": categorical(col("provider")),
            "operation": categorical(col("operation")),
            "batch": categorical(col("batch")),
            "input": pd.array(col("input"), dtype="str"),
            "job_id": pd.array(col("job_id"), dtype="str"),
            "status": pd.Categorical(col("status"), categories=STATUSES),
            "provider_status": categorical(col("provider_status")),
            "error_code": categorical(col("error_code")),
            "error_message": pd.array(col("error_message"), dtype="str"),
        }
    )
    for t in TIMES:
        df[t] = utc(col(t)).array if rows else pd.array([], dtype="datetime64[ns, UTC]")
    df["cached"] = np.array(col("cached"), dtype=bool) if rows else np.array([], dtype=bool)
    return df


def _from_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame from ``ws.jobs()`` / ``batch.to_frame()`` / this function: same columns, fixed dtypes."""
    if "batch" in frame.columns:  # ``batch.to_frame()`` has both; ``batch`` is the table's own
        frame = frame.drop(columns=["batch_id"], errors="ignore")
    # pandas-stubs key the records by Hashable; these columns are str
    rows = cast("list[dict[str, Any]]", frame.rename(columns={"batch_id": "batch"}).to_dict("records"))
    for r in rows:
        for t in TIMES:
            v = r.get(t)
            r[t] = None if v is None or v is pd.NaT or (isinstance(v, float) and np.isnan(v)) else v
        for k, v in list(r.items()):
            if v is pd.NA or (isinstance(v, float) and np.isnan(v) and k not in TIMES):
                r[k] = None
        r["cached"] = bool(r.get("cached") or False)
    return _from_rows(rows)
