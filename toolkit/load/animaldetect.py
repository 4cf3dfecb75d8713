"""Animal Detect results -> two tidy tables: one row per submitted image, one row per box.

"Processed, nothing found" (``n_boxes == 0``) and "not processed" (``n_boxes`` is <NA>) stay distinct, which
``pandas.json_normalize(results, "annotations")`` cannot do: it drops images whose list is empty. Boxes are
built column by column from the raw lists (no per-row dicts), which is what keeps a million annotations fast.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from . import store
from ._capture import NOTHING, Capture, capture, captures
from ._source import obj, records
from .export import RawResults, categorical, naive_times, no_gc, utc
from ..client.model import STATUS_CATEGORIES

__all__ = ["detections", "images_table", "image_facts"]

RANKS = ("kingdom", "phylum", "class", "order", "family", "genus", "species")
STATUSES = STATUS_CATEGORIES  # toolkit.client.model: one vocabulary for every loader
_PROVIDER_STATUS = {
    "created": "draft",
    "queued": "queued",
    "processing": "running",
    "succeeded": "succeeded",
    "success": "succeeded",
    "failed": "failed",
}


def detections(source: Any, threshold: float | None = None, *, read_files: bool = True, engine: str = "pandas") -> Any:
    """One row per box: job_id, file, annotation_id, label, score, x/y/w/h (normalized, top-left origin),
    x_px/y_px/w_px/h_px when the image size is known, taxonomy ranks, model id/version, capture time, camera.

    ``threshold`` filters nothing: it sets the boolean column ``above`` (``score >= threshold``), so
    ``df[df.above]`` is the view and the rest stays inspectable. Images without boxes are not rows here
    (see ``images_table``). The raw results stay reachable as ``df.attrs["raw"]`` (job_id -> result JSON).
    ``read_files=False`` skips opening local images for size/EXIF (file names are still parsed).

    A Batch or Workspace is read from the workspace's columnar store (``toolkit.load.store``), built from the
    result cache where it is missing or stale. ``engine="dask"`` returns a lazy ``dask.dataframe`` over that
    dataset (a Workspace, Batch or dataset folder; needs the ``[dask]`` extra), with ``job_key``, ``provider``
    and ``operation`` columns besides these.
    """
    if engine != "pandas":
        from .lazy import lazy_frame

        return lazy_frame(source, "detections", store_rows, engine=engine, threshold=threshold)
    with no_gc():
        loaded = store.load(source, "detections", store_rows) if read_files else None
        if loaded is not None and loaded.jobs:
            return _from_store(loaded, threshold)
        return _detections(_images(records(source), read_files), threshold)


def store_rows(recs: list[dict[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The store's rows of ``recs`` (every box, every rank column, ``job_key``; no ``above``) and per-job facts
    (what the categories of the per-image columns and the rank columns present depend on)."""
    images = _images(recs, True)
    df = _detections(images, None).drop(columns="above")
    counts = [len(im["annotations"] or ()) for im in images]
    idx = np.repeat(np.arange(len(images), dtype=np.int64), counts)
    for rank in RANKS:
        if rank not in df:
            empty: Any = pd.Categorical([None] * len(df), categories=pd.Index([], dtype="str"))
            df.insert(int(list(df.columns).index("taxonomy_id")), rank, empty)
    df[store.KEY] = _spread([r["key"] for r in recs], idx)
    ranks = [_ranks(im["annotations"]) for im in images]
    facts = pd.DataFrame(
        {
            store.KEY: [r["key"] for r in recs],
            "job_id": [None if v is None else str(v) for v in image_col(images, "job_id")],
            "file": [None if v is None else str(v) for v in image_col(images, "file")],
            "camera": [im["capture"].camera for im in images],
            "model_id": [None if v is None else str(v) for v in image_col(images, "model_id")],
            "model_version": [None if v is None else str(v) for v in image_col(images, "model_version")],
            "ranks": np.array(ranks, dtype=np.int64),
        }
    )
    return df, facts


def _ranks(anns: list[dict[str, Any]] | None) -> int:
    """The bits (``RANKS`` order) of the ranks any box's taxonomy names."""
    named: set[str] = set()
    for a in anns or ():
        t = a.get("taxonomy")
        if isinstance(t, dict):
            named.update(t)
    return sum(1 << i for i, rank in enumerate(RANKS) if rank in named) if named else 0


def _from_store(loaded: store.Loaded, threshold: float | None) -> pd.DataFrame:
    """The frame ``_detections`` builds, from stored rows: categories put back in first-seen order (per box, or
    over every image for the per-image columns, as ``_spread`` factorises them)."""
    rows, facts = loaded.rows, loaded.facts
    mask = int(np.bitwise_or.reduce(facts["ranks"].fillna(0).to_numpy(dtype=np.int64))) if len(facts) else 0
    present = [rank for i, rank in enumerate(RANKS) if mask >> i & 1]
    per_image = ("job_id", "file", "model_id", "model_version", "camera")
    cols: dict[str, Any] = {}
    for name in rows.columns:
        if name == store.KEY or (name in RANKS and name not in present):
            continue
        col: Any = rows[name]
        if name in per_image:
            col = _seen_in(col, facts[name])
        elif isinstance(col.dtype, pd.CategoricalDtype):
            col = _first_seen(col.array)
        cols[name] = col
    score = cols["score"].to_numpy(dtype=np.float64)
    cols["above"] = score >= threshold if threshold is not None else ~np.isnan(score)
    df = pd.DataFrame(cols)
    jobs = loaded.jobs
    done = (
        jobs.succeeded()
        if isinstance(jobs, store._Jobs)
        else {
            j.job_id or j.input: str(j.result_digest) for j in jobs if j.status.value == "succeeded" and j.result_digest
        }
    )
    df.attrs["raw"] = store.CachedResults(loaded.ledger, done, _has_annotations)
    if threshold is not None:
        df.attrs["threshold"] = threshold
    return df


def _has_annotations(result: Any) -> bool:
    return isinstance(result, dict) and isinstance(result.get("annotations"), list)


def _first_seen(cat: pd.Categorical) -> pd.Categorical:
    """``cat`` with exactly its used categories, in order of first appearance (what ``pd.factorize`` gives)."""
    codes = np.asarray(cat.codes, dtype=np.int64)
    order = pd.unique(codes[codes >= 0])
    remap = np.full(len(cat.categories) + 1, -1, dtype=np.int64)
    remap[order] = np.arange(len(order))
    cats = pd.Index([str(v) for v in cat.categories[order]], dtype="str")
    return pd.Categorical.from_codes(remap[codes], categories=cats)


def _seen_in(col: pd.Series, values: pd.Series) -> pd.Categorical:
    """``col`` with the categories ``_spread`` gives: every image's value (boxes or not), first seen first."""
    cats = pd.Index(pd.unique(values.dropna().astype("str")), dtype="str")
    cat = col.array if isinstance(col.dtype, pd.CategoricalDtype) else pd.Categorical(col)
    cat = pd.Categorical.from_codes(cat.codes, categories=cat.categories.astype("str"))
    return cat.set_categories(cats)


def _detections(images: list[dict[str, Any]], threshold: float | None) -> pd.DataFrame:
    anns: list[dict[str, Any]] = []
    per_image: list[int] = []
    for im in images:
        boxes = im["annotations"] or ()
        anns.extend(boxes)
        per_image.append(len(boxes))
    idx = np.repeat(np.arange(len(images), dtype=np.int64), per_image)
    cols: dict[str, Any] = {
        "job_id": _spread(image_col(images, "job_id"), idx),
        "file": _spread(image_col(images, "file"), idx),
        "annotation_id": _ints([a.get("id") for a in anns]),
        "label": categorical([a.get("label") for a in anns]),
        "score": _floats([a.get("score") for a in anns]),
    }
    xywh = _bboxes(anns)
    width = np.array([_num(im["capture"].width) for im in images], dtype=np.float64)[idx]
    height = np.array([_num(im["capture"].height) for im in images], dtype=np.float64)[idx]
    for i, name in enumerate("xywh"):
        cols[name] = xywh[:, i]
    for i, name in enumerate("xywh"):
        cols[f"{name}_px"] = xywh[:, i] * (width if name in "xw" else height)
    # pandas-stubs take only integer arrays to "Int64"; pandas takes whole floats and NaN (-> <NA>) as well
    cols["image_width"] = pd.array(width, dtype="Int64")  # type: ignore[call-overload]
    cols["image_height"] = pd.array(height, dtype="Int64")  # type: ignore[call-overload]
    cols.update(_taxonomy([a.get("taxonomy") for a in anns]))
    for key in ("model_id", "model_version"):
        cols[key] = _spread(image_col(images, key), idx)
    cols["captured_at"] = naive_times([im["capture"].captured_at for im in images])[idx]
    cols["camera"] = _spread([im["capture"].camera for im in images], idx)
    score = cols["score"]
    cols["above"] = score >= threshold if threshold is not None else ~np.isnan(score)
    df = pd.DataFrame(cols)
    df.attrs["raw"] = RawResults((im["key"], im["result"]) for im in images if im["result"] is not None)
    if threshold is not None:
        df.attrs["threshold"] = threshold
    return df


def _taxonomy(taxa: list[Any]) -> dict[str, pd.Categorical]:
    """Rank columns (those present) + taxonomy_id. Taxa are factorised by their id when every box has one:
    the ranks are then read once per distinct taxon instead of once per box."""
    taxa = [t if isinstance(t, dict) else {} for t in taxa]
    ids = [t.get("id") or None for t in taxa]
    codes, uniques = pd.factorize(pd.Series(ids, dtype="object"), use_na_sentinel=True)
    if len(taxa) and (codes >= 0).all():
        first = np.unique(codes, return_index=True)[1]  # the first box of each distinct taxon
        distinct = [taxa[i] for i in first]
        present = set().union(*distinct)
        out = {}
        for rank in RANKS:
            if rank in present:
                values = pd.Series([t.get(rank) or None for t in distinct], dtype="object")
                rank_codes, rank_uniques = pd.factorize(values, use_na_sentinel=True)
                out[rank] = pd.Categorical.from_codes(rank_codes[codes], categories=pd.Index(rank_uniques, dtype="str"))
        out["taxonomy_id"] = pd.Categorical.from_codes(codes, categories=pd.Index(uniques, dtype="str"))
        return out
    present = set().union(*taxa) if taxa else set()
    out = {rank: categorical([t.get(rank) or None for t in taxa]) for rank in RANKS if rank in present}
    out["taxonomy_id"] = categorical(ids)
    return out


def images_table(source: Any, *, read_files: bool = True) -> pd.DataFrame:
    """One row per submitted image: job_id, file, status, failure ("CODE: message"), processed, n_boxes
    (0 = processed and nothing found, <NA> = not processed), image width/height, capture time and camera
    (EXIF, else the file/folder name), camera model, model id/version, threshold applied, timestamps.

    Inputs a Batch rejected before sending (preflight) are rows too, with status ``rejected`` and the reason.
    """
    recs = records(source)
    images = _images(recs, read_files)
    batches = source if isinstance(source, (list, tuple)) else [source]
    for err in (e for b in batches for e in getattr(b, "rejected", None) or ()):
        images.append(
            _image(
                {
                    "input": getattr(err, "input", None),
                    "status": "rejected",
                    "error_code": getattr(err, "code", None),
                    "error_message": getattr(err, "message", None),
                    "result": None,
                },
                read_files,
            )
        )
    caps: list[Capture] = [im["capture"] for im in images]
    processed = [im["annotations"] is not None for im in images]
    df = pd.DataFrame(
        {
            "job_id": pd.array(image_col(images, "job_id"), dtype="str"),
            "file": pd.array(image_col(images, "file"), dtype="str"),
            "status": pd.Categorical(image_col(images, "status"), categories=STATUSES),
            "failure": pd.array(image_col(images, "failure"), dtype="str"),
            "processed": np.array(processed, dtype=bool),
            "n_boxes": pd.array(
                [len(im["annotations"]) if ok else None for im, ok in zip(images, processed)], dtype="Int64"
            ),
            "width": pd.array([c.width for c in caps], dtype="Int64"),
            "height": pd.array([c.height for c in caps], dtype="Int64"),
            "captured_at": naive_times([c.captured_at for c in caps]),
            "camera": categorical([c.camera for c in caps]),
            "camera_model": categorical([c.camera_model for c in caps]),
            "model_id": categorical(image_col(images, "model_id")),
            "model_version": categorical(image_col(images, "model_version")),
            "threshold_applied": np.array([_num(im["threshold"]) for im in images], dtype=np.float64),
            "submitted_at": utc([im["submitted_at"] for im in images]),
            "finished_at": utc([im["finished_at"] for im in images]),
        }
    )
    df.attrs["raw"] = RawResults((im["key"], im["result"]) for im in images if im["result"] is not None)
    return df


# -- shared per-image normalisation ---------------------------------------------------------------------


def image_facts(source: Any, *, read_files: bool = True) -> list[dict[str, Any]]:
    """One dict per submitted image of a Batch, raw result dicts or files: job_id, file, status, failure,
    annotations (None = not processed), capture (size, time, camera), model id/version, threshold, options,
    submitted/finished times. What both tables here and the exporters in ``toolkit.load.camtrap`` read."""
    return _images(records(source), read_files)


def image_col(images: list[dict[str, Any]], key: str) -> list[Any]:
    return [im[key] for im in images]


def _images(recs: list[dict[str, Any]], read_files: bool) -> list[dict[str, Any]]:
    caps = captures([r.get("input") for r in recs], read_files)
    return [_image(r, read_files, cap) for r, cap in zip(recs, caps)]


def _image(rec: dict[str, Any], read_files: bool, cap: Capture | None = None) -> dict[str, Any]:
    """A record -> the per-image facts both tables need (status, failure, boxes or None, size, capture)."""
    res = rec.get("result")
    status = rec.get("status") or "succeeded"
    code, message = rec.get("error_code"), rec.get("error_message")
    anns: list[dict[str, Any]] | None = None
    if isinstance(res, dict) and isinstance(res.get("annotations"), list):
        anns = res["annotations"]
        status = "succeeded" if status in ("succeeded", None) else status
    elif isinstance(res, dict):
        # a raw status body (e.g. the result URL of a failed job): not processed
        word = str(res.get("status") or "").lower()
        status = _PROVIDER_STATUS.get(word, "failed" if res.get("error") else status)
        err = obj(res.get("error"))
        code, message = code or err.get("code"), message or err.get("message")
        res = None if status != "succeeded" else res
        if status == "succeeded":
            status = "failed"
            code, message = code or "NO_ANNOTATIONS", message or "the result holds no annotations list"
    if anns is not None and status != "succeeded":
        anns = None  # a stale result of a job that is not (or no longer) succeeded is not trusted
    info = obj(res.get("info")) if isinstance(res, dict) else {}
    meta = obj(res.get("metadata")) if isinstance(res, dict) else {}
    file = rec.get("input")
    if cap is None:
        cap = capture(file, read_files) if file else NOTHING
    if meta.get("image_width") and meta.get("image_height"):  # the service's size wins: it is what it saw
        cap = Capture(
            int(meta["image_width"]), int(meta["image_height"]), cap.captured_at, cap.camera, cap.camera_model
        )
    failure = None
    if anns is None:
        failure = f"{code}: {message}" if code and message else (code or message or f"not processed ({status})")
    job_id = rec.get("job_id") or (res.get("job_id") or res.get("id") if isinstance(res, dict) else None)
    return {
        "job_id": job_id,
        "file": file,
        "status": status,
        "failure": failure,
        "annotations": anns,
        "capture": cap,
        "result": res if anns is not None else None,
        "key": job_id or file,
        "model_id": info.get("model_id"),
        "model_version": info.get("model_version"),
        "threshold": info.get("threshold_applied"),
        "options": rec.get("options") or {},
        "submitted_at": rec.get("submitted_at"),
        "finished_at": rec.get("finished_at"),
    }


def _ints(values: list[Any]) -> pd.arrays.IntegerArray:
    try:
        return pd.array(np.array(values, dtype=np.int64), dtype="Int64")
    except (TypeError, ValueError, OverflowError):
        return pd.array([v if isinstance(v, int) and not isinstance(v, bool) else None for v in values], dtype="Int64")


def _floats(values: list[Any]) -> np.ndarray:
    try:
        return np.array(values, dtype=np.float64)  # None -> nan
    except (TypeError, ValueError):
        return np.array([_num(v) for v in values], dtype=np.float64)


def _num(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else np.nan


def _spread(values: list[Any], idx: np.ndarray) -> pd.Categorical:
    """Per-image values repeated per box, as a categorical (factorised once per image, not per box)."""
    codes, uniques = pd.factorize(pd.Series(values, dtype="object"), use_na_sentinel=True)
    cats = pd.Index(uniques, dtype="str") if len(uniques) else pd.Index([], dtype="str")
    return pd.Categorical.from_codes(codes[idx] if len(idx) else np.array([], dtype=np.int64), categories=cats)


def _bboxes(anns: list[dict[str, Any]]) -> np.ndarray:
    """(n, 4) float array of [x, y, w, h]; a malformed box becomes NaNs instead of failing the whole frame."""
    if not anns:
        return np.empty((0, 4))
    boxes = [a.get("bbox") for a in anns]
    try:
        arr = np.asarray(boxes, dtype=np.float64)
        if arr.shape == (len(anns), 4):
            return arr
    except (TypeError, ValueError):
        pass
    return np.array(
        [
            b
            if isinstance(b, (list, tuple)) and len(b) == 4 and all(isinstance(v, (int, float)) for v in b)
            else [np.nan] * 4
            for b in boxes
        ],
        dtype=np.float64,
    )
