"""SateAIs results -> one GeoDataFrame of detected features (EPSG:4326), plus GeoParquet / GeoJSON writers.

Result shapes (docs/contracts.md §2 and ``toolkit/sandbox/engines/sar.py``): a GeoJSON FeatureCollection per job;
Polygon features with a top-level ``id`` and ``properties`` per detection type:

- ship: ``class``, ``area_sqm``, ``length_m``;  oilslick: ``id``, ``class``, ``area_sqm``;
- newbuilding / disappearbuilding: ``class``, ``area_sqm``, ``date_start``, ``date_end`` (the scenes compared);
- timeseries: one feature per scene: ``class`` ("change"), ``date``, ``scene_id``, ``mean_backscatter_db``,
  ``area_sqm`` (area changed since the previous scene).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import store
from ._geometry import _geometries
from ._source import records
from .export import no_gc

TYPES = ("ship", "oilslick", "newbuilding", "disappearbuilding", "timeseries")
CLASS_TYPE = {
    "ship": "ship",
    "oilslick": "oilslick",
    "new_building": "newbuilding",
    "disappeared_building": "disappearbuilding",
    "change": "timeseries",
}
BASE_COLUMNS = [
    "job_id",
    "detection_type",
    "aoi_name",
    "scene_id",
    "date",
    "date_start",
    "date_end",
    "feature_id",
    "class",
    "area_sqm",
]
#: Columns only some detection types have (the per-type part of the fixed schema).
EXTRA_COLUMNS = {
    "ship": ["length_m"],
    "oilslick": [],
    "newbuilding": [],
    "disappearbuilding": [],
    "timeseries": ["mean_backscatter_db"],
}
DATE_COLUMNS = ("date", "date_start", "date_end")
STRING_COLUMNS = ("job_id", "aoi_name", "scene_id")
SCENE_DATE = re.compile(r"_(\d{8})T\d{6}_")
_WGS84_NAMES = ("EPSG:4326", "urn:ogc:def:crs:EPSG::4326", "urn:ogc:def:crs:OGC:1.3:CRS84", "OGC:CRS84")


class InvalidGeometryWarning(UserWarning):
    """Some features have invalid or missing geometry; they are kept with ``valid == False``."""


def columns(detection_types: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The fixed column order of a features frame holding ``detection_types`` (all base columns always)."""
    extras = [c for t in TYPES if t in detection_types for c in EXTRA_COLUMNS[t]]
    return [*BASE_COLUMNS, *dict.fromkeys(extras), "valid", "geometry"]


def features(
    source: Any, detection_type: str | None = None, keep_properties: bool = False, *, engine: str = "pandas"
) -> Any:
    """Every detected feature of every SateAIs job in ``source`` as a GeoDataFrame in EPSG:4326.

    ``source``: a Batch, raw FeatureCollection dicts, records, or GeoJSON result files (see ``load.records``).
    One row per feature: ``job_id, detection_type, aoi_name, scene_id, date, date_start, date_end, feature_id``
    (the top-level GeoJSON ``id``), ``class``, ``area_sqm``, the type's own columns (ship ``length_m``,
    timeseries ``mean_backscatter_db``), ``valid`` and ``geometry``. Jobs without a result add no rows; an
    empty result gives an empty frame with the same columns and CRS. Invalid or missing geometries are kept,
    flagged ``valid == False`` and named in an ``InvalidGeometryWarning``. ``detection_type`` overrides what
    the records say; ``keep_properties`` adds any other feature properties as extra columns.
    ``frame.attrs["aoi"]`` maps each AOI name to its WKT when the jobs recorded it (for ``plot.detections_map``).

    A Batch or Workspace is read from the workspace's columnar store (GeoParquet, ``toolkit.load.store``)
    unless ``detection_type`` or ``keep_properties`` asks for a reading of the raw JSON. ``engine="dask"``
    returns a lazy ``dask_geopandas`` frame over that dataset (needs the ``[dask]`` extra).
    """
    if engine != "pandas":
        from .lazy import lazy_frame

        return lazy_frame(source, "features", store_rows, engine=engine)
    with no_gc():
        loaded = None if detection_type or keep_properties else store.load(source, "features", store_rows, geo=True)
        if loaded is not None and loaded.jobs:
            return _from_store(loaded)
        gdf, why, _, aois, _ = _features(records(source), detection_type, keep_properties)
        _warn_invalid(gdf, why)
        gdf.attrs["aoi"] = aois
        return gdf


def store_rows(recs: list[dict[str, Any]]) -> tuple[Any, pd.DataFrame]:
    """The store's rows of ``recs`` (every type's columns, ``job_key``, ``invalid_reason``) and per-job facts."""
    gdf, why, kinds, _, keys = _features(recs, None, False, every_column=True)
    gdf.insert(len(gdf.columns) - 1, "invalid_reason", pd.array(why, dtype="str"))
    gdf.insert(len(gdf.columns) - 1, store.KEY, pd.Categorical(keys))
    return gdf, pd.DataFrame({store.KEY: [r["key"] for r in recs], "kind": kinds})


def _from_store(loaded: store.Loaded) -> Any:
    """The frame ``_features`` builds, from stored rows: the columns of the types present, ``class``
    re-categorised over every row, feature ids typed over every row, the same warning for invalid rows."""
    import geopandas as gpd

    rows = loaded.rows
    types = [k for k in loaded.facts["kind"].dropna()] + [t for t in rows["detection_type"].dropna().unique()]
    cols = columns(types)
    df = pd.DataFrame({c: rows[c] for c in cols if c != "geometry"})
    df["detection_type"] = pd.Categorical(df["detection_type"], categories=list(TYPES))
    df["class"] = df["class"].astype("str").astype("category")
    for c in STRING_COLUMNS:
        df[c] = df[c].astype("string")
    if not isinstance(df["feature_id"].dtype, (pd.Int64Dtype, pd.StringDtype)) or not len(df):
        df["feature_id"] = _ids(df["feature_id"].astype(object))
    df["valid"] = df["valid"].astype(bool)
    gdf = gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(rows.geometry.values, crs="EPSG:4326"), crs="EPSG:4326")
    why = np.array([v if isinstance(v, str) else None for v in rows["invalid_reason"]], dtype=object)
    _warn_invalid(gdf, why, stacklevel=4)
    jobs = store._full(loaded.ledger, list(loaded.jobs))
    gdf.attrs["aoi"] = dict(a for a in (_aoi(store.record(j, None)) for j in jobs) if a)
    return gdf


def _aoi(rec: dict[str, Any]) -> tuple[str, str] | None:
    """(AOI name, WKT) when a job's record names both."""
    meta = rec.get("meta") or {}
    name = meta.get("aoi_name") or rec.get("input")
    wkt = meta.get("aoi_wkt") or meta.get("wkt") or (meta.get("body") or {}).get("polygon")
    return (str(name), wkt) if name and isinstance(wkt, str) else None


def _features(
    recs: list[dict[str, Any]], detection_type: str | None, keep_properties: bool, every_column: bool = False
) -> tuple[Any, np.ndarray, list[str | None], dict[str, str], np.ndarray]:
    """(frame, why each row is invalid or None, each record's detection type, AOIs, each row's record key)."""
    import geopandas as gpd

    parts: list[pd.DataFrame] = []
    geoms: list[np.ndarray] = []
    types: list[str] = []
    kinds: list[str | None] = []
    keys: list[np.ndarray] = []
    aois: dict[str, str] = {}
    for rec in recs:
        fc = _collection(rec.get("result"))
        kind = detection_type or _type(rec, fc)
        kinds.append(kind)
        if kind:
            types.append(kind)
        aoi = _aoi(rec)
        if aoi:
            aois[aoi[0]] = aoi[1]
        if fc is None or not fc.get("features"):
            continue
        name = (rec.get("meta") or {}).get("aoi_name") or rec.get("input")
        frame, geom = _job_frame(rec, fc, kind, name, keep_properties)
        parts.append(frame)
        geoms.append(geom)
        keys.append(np.full(len(frame), rec.get("key"), dtype=object))
        types += [t for t in frame["detection_type"].dropna().unique() if t not in types]
    cols = columns(TYPES if every_column else types)
    df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({"_reason": []})
    reasons = df.pop("_reason")
    known = {c for group in EXTRA_COLUMNS.values() for c in group}
    extra = [c for c in df.columns if c not in cols and c not in known] if keep_properties else []
    df = df.reindex(columns=[c for c in cols if c != "geometry"] + extra)
    geometry = np.concatenate(geoms) if geoms else np.array([], dtype=object)
    gdf = gpd.GeoDataFrame(_typed(df), geometry=gpd.GeoSeries(geometry, crs="EPSG:4326"), crs="EPSG:4326")
    why = _check_validity(gdf, reasons)
    return gdf, why, kinds, aois, np.concatenate(keys) if keys else np.array([], dtype=object)


def to_geoparquet(frame: Any, path: str | Path) -> Path:
    """Write a features frame to GeoParquet (dtypes and CRS survive; read back with ``geopandas.read_parquet``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path


def to_geojson(frame: Any, path: str | Path) -> Path:
    """Write a features frame to RFC 7946 GeoJSON with ``feature_id`` as each Feature's ``id`` (the toolkit's one
    GeoJSON writer, ``toolkit.load.export.to_geojson``: lon/lat with 7 decimals, no ``crs``, exterior rings
    counter-clockwise). ``toolkit.load.features(path)`` reads the file back into the same frame."""
    from .export import to_geojson as write

    return write(frame, path)


# -- one job ------------------------------------------------------------------------------------------
def _collection(result: Any) -> dict[str, Any] | None:
    """The FeatureCollection in a result (possibly wrapped, or a bare list of features)."""
    if isinstance(result, list):
        return {"type": "FeatureCollection", "features": result}
    if not isinstance(result, dict):
        return None
    if "features" in result:
        return result
    for key in ("result", "data"):
        if isinstance(result.get(key), dict):
            return _collection(result[key])
    return None


def _type(rec: dict[str, Any], fc: dict[str, Any] | None) -> str | None:
    """Detection type from the operation (e.g. ``ship`` or ``analyze/ship``), the meta, or the classes."""
    meta = rec.get("meta") or {}
    for v in (rec.get("operation"), meta.get("type"), meta.get("detection_type")):
        if isinstance(v, str) and v.rsplit("/", 1)[-1].lower() in TYPES:
            return v.rsplit("/", 1)[-1].lower()
    for f in (fc or {}).get("features") or []:
        cls = (f.get("properties") or {}).get("class") if isinstance(f, dict) else None
        if cls in CLASS_TYPE:
            return CLASS_TYPE[cls]
    return None


def _job_frame(
    rec: dict[str, Any], fc: dict[str, Any], kind: str | None, name: Any, keep_properties: bool
) -> tuple[pd.DataFrame, np.ndarray]:
    feats = [f for f in fc["features"] if isinstance(f, dict)]
    props = pd.DataFrame.from_records([f.get("properties") or {} for f in feats], index=range(len(feats)))
    meta = rec.get("meta") or {}
    scenes = ((fc.get("sandbox_info") or {}).get("scenes")) or []
    scene = meta.get("scene_id") or (scenes[0] if len(scenes) == 1 else None)

    def prop(key: str, default: Any = None) -> Any:
        """A property column, with the job-level ``default`` where a feature lacks it."""
        if key not in props:
            return default
        return props[key] if default is None else props[key].where(props[key].notna(), default)

    # per-feature properties win over the job's record: a file written by to_geojson carries them
    classes = prop("class")
    inferred = classes.map(CLASS_TYPE) if classes is not None else None
    scene_ids = prop("scene_id", scene)
    dates: pd.Series | str | None
    if isinstance(scene_ids, pd.Series):
        dates = scene_ids.map(_scene_date, na_action="ignore")
    else:
        dates = _scene_date(scene_ids)
    ids = [f.get("id") for f in feats]
    data: dict[str, Any] = {
        "job_id": prop("job_id", rec.get("job_id")),
        "detection_type": prop("detection_type", kind) if kind or "detection_type" in props else inferred,
        "aoi_name": prop("aoi_name", name),
        "scene_id": scene_ids,
        "date": prop("date", dates if dates is not None else meta.get("date")),
        "date_start": prop("date_start", meta.get("date_start")),
        "date_end": prop("date_end", meta.get("date_end")),
        # a to_geojson file keeps the provider's id as a property (its Feature id is ``<job>:<feature_id>``)
        "feature_id": prop("feature_id")
        if "feature_id" in props
        else ids
        if any(i is not None for i in ids)
        else prop("id"),
        "class": classes,
        **{c: prop(c) for c in ("area_sqm", "length_m", "mean_backscatter_db")},
    }
    if keep_properties:
        data.update({k: props[k] for k in props.columns if k not in data and k not in ("id", "valid")})
    frame = pd.DataFrame(data, index=range(len(feats)))
    geom, reasons = _geometries([f.get("geometry") for f in feats])
    frame["_reason"] = reasons
    return _reproject(frame, geom, fc.get("crs"))


def _scene_date(scene_id: Any) -> str | None:
    m = SCENE_DATE.search(scene_id) if isinstance(scene_id, str) else None
    return f"{m[1][:4]}-{m[1][4:6]}-{m[1][6:]}" if m else None


def _reproject(frame: pd.DataFrame, geom: np.ndarray, crs: Any) -> tuple[pd.DataFrame, np.ndarray]:
    """Bring a job's geometries to EPSG:4326 when its collection declares another CRS (legacy GeoJSON)."""
    name = ((crs or {}).get("properties") or {}).get("name") if isinstance(crs, dict) else None
    if not name or name in _WGS84_NAMES:
        return frame, geom
    import geopandas as gpd
    from pyproj import CRS

    src = CRS.from_user_input(name)
    if src.equals(CRS.from_epsg(4326), ignore_axis_order=True):
        return frame, geom
    return frame, np.asarray(gpd.GeoSeries(geom, crs=src).to_crs(4326).values, dtype=object)


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """Frame dtypes: categoricals, nullable strings/ints, tz-aware UTC dates, float measures."""
    df = df.copy()
    df["detection_type"] = pd.Categorical(df["detection_type"], categories=list(TYPES))
    df["class"] = df["class"].astype("str").astype("category")
    for c in STRING_COLUMNS:
        df[c] = df[c].astype("string")
    for c in DATE_COLUMNS:
        df[c] = _utc(df[c])
    df["feature_id"] = _ids(df["feature_id"])
    for c in ("area_sqm", "length_m", "mean_backscatter_db"):
        if c in df.columns:  # NaN / Infinity literals (or None from a lenient parse) -> NaN
            df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64").replace([np.inf, -np.inf], np.nan)
    df["valid"] = pd.Series(True, index=df.index, dtype=bool)
    return df


def _utc(s: pd.Series) -> pd.Series:
    """Dates/timestamps (ISO strings, datetimes or epoch seconds) -> tz-aware UTC; each distinct value parsed once."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    if len(uniques) and pd.api.types.is_numeric_dtype(uniques.dtype):
        parsed = pd.to_datetime(uniques, unit="s", utc=True, errors="coerce")
    else:
        parsed = pd.to_datetime(pd.Index(uniques, dtype=object), utc=True, errors="coerce", format="mixed")
    values = pd.DatetimeIndex(parsed).astype("datetime64[ns, UTC]")
    # pandas-stubs leave NaT out of take's fill values; None would not fill (-1 would take the last value)
    values = values.take(codes, allow_fill=True, fill_value=pd.NaT)  # type: ignore[arg-type]
    return pd.Series(values, index=s.index)


def _ids(s: pd.Series) -> pd.Series:
    """Feature ids as nullable integers when they all are (the documented case), else strings."""
    num = pd.to_numeric(s, errors="coerce")
    if num.notna().sum() == s.notna().sum() and (num.dropna() % 1 == 0).all():
        return num.astype("Int64")
    return s.astype("string")


def _check_validity(gdf: Any, reasons: pd.Series) -> np.ndarray:
    """Set ``valid`` (read cleanly and valid by shapely); return why each row is not (None where it is)."""
    import shapely

    if gdf.empty:
        return np.array([], dtype=object)
    why = reasons.to_numpy(dtype=object).copy()
    geom = np.asarray(gdf.geometry.values, dtype=object)
    present = ~shapely.is_missing(geom)
    bad = present & ~shapely.is_valid(geom)
    if bad.any():
        why[bad] = shapely.is_valid_reason(geom[bad])
    empty = present & shapely.is_empty(geom)
    why[empty & pd.isna(why)] = "empty geometry"
    ok = present & ~bad & pd.isna(why)
    gdf["valid"] = ok
    why[ok] = None
    why[~ok & pd.isna(why)] = "no geometry"
    return why


def _warn_invalid(gdf: Any, why: np.ndarray, stacklevel: int = 3) -> None:
    """Warn once naming the job and feature of each row that is not ``valid``."""
    if gdf.empty or gdf["valid"].all():
        return
    ok = gdf["valid"].to_numpy(dtype=bool)
    lines = []
    for i in np.flatnonzero(~ok):
        row = gdf.iloc[i]
        lines.append(f"job {row['job_id']} feature {row['feature_id']}: {why[i]}")
    shown = "; ".join(lines[:10]) + (f"; and {len(lines) - 10} more" if len(lines) > 10 else "")
    warnings.warn(
        f"{len(lines)} of {len(gdf)} SateAIs features have invalid or missing geometry (kept, valid == False): {shown}",
        InvalidGeometryWarning,
        stacklevel=stacklevel,
    )
