"""Dtype helpers shared by the loaders, and Parquet / CSV writers that keep those dtypes honest.

Loaders use categoricals for repeated labels, nullable integers, tz-aware UTC timestamps for job times, and
keep the raw results in ``df.attrs["raw"]`` (a ``RawResults``: shared, never deep-copied). The writers here
drop that raw JSON by default (Parquet would otherwise embed all of it in the file's metadata) and, for CSV,
write timestamps as ISO 8601 and nested values as JSON text.
"""

from __future__ import annotations

import gc
import json
import re
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


def to_csv(df: pd.DataFrame, path: str | Path, *, spreadsheet_safe: bool = True, **kwargs: Any) -> Path:
    """Write ``df`` as UTF-8 CSV for people: ISO 8601 timestamps (with ``Z`` for UTC), lists/dicts as JSON, no
    index, a GeoDataFrame's geometry as WKT.

    ``spreadsheet_safe`` (the OWASP CSV-injection rule): a text cell beginning with ``=``, ``+``, ``-``, ``@``,
    tab or carriage return gets a leading ``'`` so a spreadsheet shows it as text instead of evaluating it (a
    file named ``=1+2.jpg``); plain numbers written as text and numeric columns are untouched. ``False``
    writes the true values (for a program, though Parquet or JSON keep them better).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = pd.DataFrame({name: df[name] for name in df.columns}, index=df.index)  # plain frame: no geometry rules
    for name in out.columns:
        col = out[name]
        if isinstance(col.dtype, pd.DatetimeTZDtype):
            out[name] = col.dt.tz_convert("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        elif pd.api.types.is_datetime64_dtype(col.dtype):
            out[name] = col.dt.strftime("%Y-%m-%dT%H:%M:%S")
        elif getattr(col.dtype, "name", "") == "geometry":
            import shapely

            out[name] = shapely.to_wkt(np.asarray(col.array, dtype=object))
        elif col.dtype == object and col.map(lambda v: isinstance(v, (list, dict, tuple))).any():
            out[name] = col.map(lambda v: json.dumps(v, default=str) if isinstance(v, (list, dict, tuple)) else v)
        if spreadsheet_safe and not pd.api.types.is_numeric_dtype(out[name].dtype) and out[name].dtype != bool:
            out[name] = _neutralised(out[name])
    kwargs.setdefault("index", False)
    kwargs.setdefault("lineterminator", "\r\n")  # RFC 4180; with "\n" a cell holding "\r" is left unquoted
    out.to_csv(path, **kwargs)
    return path


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _neutralised(col: pd.Series) -> pd.Series:
    """Text cells a spreadsheet would evaluate, prefixed with ``'`` (OWASP); a plain number such as ``-1.5``
    is harmless and stays as it is. Each distinct value is looked at once (categoricals: their categories)."""

    def safe(v: Any) -> Any:
        if isinstance(v, str) and v.startswith(_FORMULA_START) and not _NUMBER.fullmatch(v):
            return "'" + v
        return v

    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = col.cat.categories
        renamed = [safe(c) for c in cats]
        if renamed == list(cats):
            return col
        if len(set(renamed)) == len(renamed):
            return col.cat.rename_categories(renamed)
        col = col.astype(object)  # "=a" and "'=a" both present: no longer distinct categories
    return col.map(safe, na_action="ignore")


def to_geojson(gdf: Any, path: str | Path) -> Path:
    """Write a GeoDataFrame as RFC 7946 GeoJSON, the one GeoJSON writer of the toolkit (``tk.load.to_geojson``,
    ``toolkit results export``): WGS 84 longitude/latitude with 7 decimals, no ``crs`` member (Appendix B),
    exterior rings counter-clockwise and holes clockwise (§3.1.6), a unique ``id`` on every Feature
    (``<job_id>:<feature_id>`` when the frame has both for every row, the provider's ``feature_id`` staying a
    property; else the row number from 1), categoricals as text, timestamps as ISO 8601 text, the raw results
    left out."""
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
    out["_geojson_id"] = _feature_ids(out)
    path.unlink(missing_ok=True)  # the GeoJSON driver does not overwrite
    pyogrio.write_dataframe(out, path, driver="GeoJSON", layer_options={"RFC7946": "YES", "ID_FIELD": "_geojson_id"})
    return path


def _feature_ids(frame: pd.DataFrame) -> pd.Series | range:
    """Unique Feature ids: ``<job_id>:<feature_id>`` (a provider numbers features per job, so two jobs repeat
    them), ``feature_id`` alone without a job column, else the row number from 1 (also when ids would repeat)."""
    fid = frame["feature_id"] if "feature_id" in frame.columns else None
    if fid is not None and fid.notna().all():
        if "job_id" in frame.columns and frame["job_id"].notna().all():
            ids = frame["job_id"].astype(str) + ":" + fid.astype(str)
        else:
            ids = fid
        if not ids.duplicated().any():
            return ids
    return range(1, len(frame) + 1)


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
