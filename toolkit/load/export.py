"""Dtype helpers shared by the loaders, and Parquet / CSV writers that keep those dtypes honest.

Loaders use categoricals for repeated labels, nullable integers, tz-aware UTC timestamps for job times, and
keep the raw results in ``df.attrs["raw"]`` (a ``RawResults``: shared, never deep-copied). The writers here
drop that raw JSON by default (Parquet would otherwise embed all of it in the file's metadata) and, for CSV,
write timestamps as ISO 8601 and nested values as JSON text.
"""

from __future__ import annotations

import gc
import json
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, TypeVar

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from pandas._libs.tslibs.nattype import NaTType

FrameT = TypeVar("FrameT", bound=pd.DataFrame)

__all__ = ["RawResults", "no_gc", "categorical", "utc", "naive_times", "to_parquet", "to_csv", "to_geojson"]


class RawResults(dict):
    """``job_id -> raw result JSON`` kept beside a frame in ``df.attrs["raw"]``.

    pandas deep-copies ``attrs`` on nearly every operation; copying the raw JSON of a million boxes each time
    would make every filter slow, so this mapping is shared (read-only by convention) instead of copied.
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> "RawResults":
        return self

    def __copy__(self) -> "RawResults":
        return self

    def __repr__(self) -> str:
        return f"<RawResults: {len(self)} results>"


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a loader builds millions of small objects.

    Loaders create no reference cycles, but each allocation burst triggers full collections that walk every
    live object (the raw JSON included); pausing them halves the time of a million-box load.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def categorical(values: Iterable[Any]) -> pd.Categorical:
    """Strings (None -> <NA>) as a categorical with string categories."""
    values = values if isinstance(values, list) else list(values)
    codes, uniques = pd.factorize(pd.Series(values, dtype="object"), use_na_sentinel=True)
    cats = pd.Index([str(u) for u in uniques], dtype="str")
    if len(set(cats)) != len(cats):  # distinct objects with equal text (1 and "1"): merge them
        return pd.Categorical([None if v is None else str(v) for v in values])
    return pd.Categorical.from_codes(codes, categories=cats)


def utc(values: Iterable[Any]) -> pd.Series:
    """Epoch seconds, ISO strings or datetimes (None -> NaT) as ``datetime64[ns, UTC]``."""
    values = list(values)
    if all(v is None or isinstance(v, (int, float)) for v in values):
        return pd.to_datetime(pd.Series(values, dtype="float64"), unit="s", utc=True).astype("datetime64[ns, UTC]")
    return pd.Series([_timestamp(v) for v in values], dtype="datetime64[ns, UTC]")


def _timestamp(v: Any) -> "pd.Timestamp | NaTType":
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return pd.NaT
    if isinstance(v, (int, float)):
        return pd.Timestamp(v, unit="s", tz="UTC")
    ts = pd.Timestamp(v)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def naive_times(values: list[datetime | None]) -> np.ndarray:
    """Naive datetimes (camera wall clock) as a ``datetime64[ns]`` array, None -> NaT."""
    return np.array(
        [np.datetime64(v, "ns") if v is not None else np.datetime64("NaT", "ns") for v in values],
        dtype="datetime64[ns]",
    )


def to_parquet(df: pd.DataFrame, path: str | Path, *, keep_raw: bool = False, **kwargs: Any) -> Path:
    """Write ``df`` as Parquet (pyarrow); categoricals and tz-aware timestamps round-trip as they are.

    GeoDataFrames go through ``GeoDataFrame.to_parquet`` (GeoParquet). ``keep_raw=True`` also stores
    ``df.attrs["raw"]`` in the file metadata (pandas does that for every attr).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = _without_raw(df, keep_raw)
    out.to_parquet(path, **kwargs)
    return path


def to_csv(df: pd.DataFrame, path: str | Path, **kwargs: Any) -> Path:
    """Write ``df`` as UTF-8 CSV: ISO 8601 timestamps (with ``Z`` for UTC), lists/dicts as JSON, no index.

    A GeoDataFrame's geometry is written as WKT.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = df.copy()
    out.attrs = {}
    for name in out.columns:
        col = out[name]
        if isinstance(col.dtype, pd.DatetimeTZDtype):
            out[name] = col.dt.tz_convert("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        elif pd.api.types.is_datetime64_dtype(col.dtype):
            out[name] = col.dt.strftime("%Y-%m-%dT%H:%M:%S")
        elif getattr(col.dtype, "name", "") == "geometry":
            out[name] = col.to_wkt()
        elif col.dtype == object and col.map(lambda v: isinstance(v, (list, dict, tuple))).any():
            out[name] = col.map(lambda v: json.dumps(v, default=str) if isinstance(v, (list, dict, tuple)) else v)
    kwargs.setdefault("index", False)
    out.to_csv(path, **kwargs)
    return path


def to_geojson(gdf: Any, path: str | Path) -> Path:
    """Write a GeoDataFrame as RFC 7946 GeoJSON, the one GeoJSON writer of the toolkit (``tk.load.to_geojson``,
    ``toolkit results export``): WGS 84 longitude/latitude with 7 decimals, no ``crs`` member (Appendix B),
    exterior rings counter-clockwise and holes clockwise (§3.1.6), an ``id`` on every Feature (``feature_id``
    when the frame has it for every row, else the row number from 1), categoricals as text, timestamps as
    ISO 8601 text, the raw results left out."""
    import pyogrio
    import shapely

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = _without_raw(gdf, False)
    if out.crs is not None and not out.crs.equals("EPSG:4326"):
        out = out.to_crs(4326)
    out = out.copy()
    out.attrs = {}
    for name in out.columns:
        col = out[name]
        if isinstance(col.dtype, pd.CategoricalDtype):
            out[name] = col.astype("string")
        elif isinstance(col.dtype, pd.DatetimeTZDtype):
            utc = col.dt.tz_convert("UTC")
            fmt = "%Y-%m-%dT%H:%M:%SZ" if (utc.dropna().dt.microsecond == 0).all() else "%Y-%m-%dT%H:%M:%S.%fZ"
            out[name] = utc.dt.strftime(fmt).astype("string")
    geom = out.geometry.name
    out[geom] = shapely.orient_polygons(out.geometry.values, exterior_cw=False)  # right-hand rule
    ids = "feature_id" if "feature_id" in out.columns and out["feature_id"].notna().all() else "_geojson_id"
    if ids == "_geojson_id":
        out[ids] = range(1, len(out) + 1)
    path.unlink(missing_ok=True)  # the GeoJSON driver does not overwrite
    pyogrio.write_dataframe(out, path, driver="GeoJSON", layer_options={"RFC7946": "YES", "ID_FIELD": ids})
    return path


def _without_raw(df: FrameT, keep_raw: bool) -> FrameT:
    if keep_raw or "raw" not in df.attrs:
        return df
    out = df.copy(deep=False)
    out.attrs = {k: v for k, v in df.attrs.items() if k != "raw"}
    return out


def to_excel(df: pd.DataFrame, path: str | Path, *, sheet_name: str = "results") -> Path:
    """Write ``df`` as one Excel sheet (openpyxl), no index: timestamps in UTC (Excel has no time zones),
    geometry as WKT, lists/dicts as JSON, the raw results left out. The folder must exist."""
    path = Path(path)
    out = pd.DataFrame(_without_raw(df, False)).copy()
    out.attrs = {}
    for name in out.columns:
        col = out[name]
        if isinstance(col.dtype, pd.DatetimeTZDtype):
            out[name] = col.dt.tz_convert("UTC").dt.tz_localize(None)
        elif getattr(col.dtype, "name", "") == "geometry":
            out[name] = col.to_wkt()
        elif col.dtype == object and col.map(lambda v: isinstance(v, (list, dict, tuple))).any():
            out[name] = col.map(lambda v: json.dumps(v, default=str) if isinstance(v, (list, dict, tuple)) else v)
    out.to_excel(path, index=False, sheet_name=sheet_name, engine="openpyxl")
    return path
