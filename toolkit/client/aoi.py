"""Areas of interest: many input forms -> named, validated EPSG:4326 lon-lat polygons, before anything is sent.

Accepted forms: a GeoJSON file (or any file geopandas reads), a GeoJSON dict or string (Feature,
FeatureCollection or bare geometry), a GeoDataFrame/GeoSeries (reprojected to EPSG:4326), a shapely geometry,
a bbox ``(minx, miny, maxx, maxy)``, a WKT string, a list of any of these, or a dict ``name -> AOI``.
Each AOI is named by the feature's ``name`` property, the dict key, or the file stem.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from numbers import Real
from pathlib import Path
from typing import Any, Iterator

from .inputs import file_problem
from .model import PreflightError

GEOJSON_GEOMETRIES = {
    "Point",
    "MultiPoint",
    "LineString",
    "MultiLineString",
    "Polygon",
    "MultiPolygon",
    "GeometryCollection",
}
GEOJSON_TYPES = GEOJSON_GEOMETRIES | {"Feature", "FeatureCollection"}
WKT_START = re.compile(r"^\s*(SRID=\d+;\s*)?(MULTI)?(POINT|LINESTRING|POLYGON)|^\s*GEOMETRYCOLLECTION", re.I)
NAME_KEYS = ("name", "Name", "NAME", "aoi", "label")


@dataclass(frozen=True)
class AOI:
    """One validated area of interest: its name, geometry (EPSG:4326, lon-lat), WKT and geodesic area."""

    name: str
    geometry: Any  # shapely Polygon or MultiPolygon
    wkt: str
    area_sqkm: float


def geodesic_area_sqkm(geom: Any) -> float:
    """Area on the WGS84 ellipsoid, in km² (the providers' caps are geodesic)."""
    from pyproj import Geod

    return abs(Geod(ellps="WGS84").geometry_area_perimeter(geom)[0]) / 1e6


def parse_aois(
    provider: str,
    aoi: Any,
    *,
    cap_sqkm: float | None = None,
    kind: str = "",
) -> list[AOI | PreflightError]:
    """Every AOI in ``aoi`` validated, in order; a bad one becomes a PreflightError naming it and the reason."""
    found = list(_collect(provider, aoi, "aoi"))
    names: dict[str, int] = {}
    out: list[AOI | PreflightError] = []
    for name, geom in found:
        n = names[name] = names.get(name, 0) + 1
        name = name if n == 1 else f"{name}-{n}"  # two AOIs called alike still get distinct labels
        if isinstance(geom, PreflightError):
            out.append(geom)
            continue
        try:
            out.append(validate(provider, name, geom, cap_sqkm=cap_sqkm, kind=kind))
        except PreflightError as e:
            out.append(e)
    return out


def validate(provider: str, name: str, geom: Any, *, cap_sqkm: float | None = None, kind: str = "") -> AOI:
    """Check one EPSG:4326 geometry: polygonal, in lon-lat range, valid, non-empty, within the area cap."""
    import shapely
    from shapely.validation import explain_validity

    def bad(reason: str) -> PreflightError:
        return PreflightError(provider, name, reason)

    if geom is None or geom.is_empty:
        raise bad("the geometry is empty")
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise bad(f"the geometry is a {geom.geom_type}; an AOI must be a Polygon (a closed area)")
    minx, miny, maxx, maxy = geom.bounds
    if not all(math.isfinite(v) for v in geom.bounds):
        raise bad("the coordinates are not finite numbers")
    if max(abs(miny), abs(maxy)) > 90 or max(abs(minx), abs(maxx)) > 180:
        if max(abs(miny), abs(maxy)) <= 180 and max(abs(minx), abs(maxx)) <= 90:
            raise bad(
                f"looks like lat/lon swapped: y spans {miny:g}..{maxy:g}, beyond ±90; coordinates must be "
                "(lon, lat) in EPSG:4326"
            )
        raise bad(
            f"coordinates {minx:g}, {miny:g}, {maxx:g}, {maxy:g} are outside lon -180..180 / lat -90..90: "
            "projected coordinates? give EPSG:4326 or a GeoDataFrame with its crs set"
        )
    # What is checked is what is sent: validate the rounded WKT, not the geometry before rounding.
    wkt = shapely.to_wkt(geom, rounding_precision=8, trim=True)
    geom = shapely.from_wkt(wkt)
    if not geom.is_valid:
        why = explain_validity(geom)
        if why.lower().startswith(("self-intersection", "ring self-intersection")):
            raise bad(f"the polygon is self-intersecting ({why}); fix the vertex order or use shapely.make_valid")
        raise bad(f"the polygon is invalid ({why})")
    area = geodesic_area_sqkm(geom)
    if area <= 0:
        raise bad("the polygon has zero area")
    if cap_sqkm is not None and area > cap_sqkm:
        raise bad(f"the area is {area:,.1f} km², over the {cap_sqkm:,.0f} km² limit for {kind or provider}")
    return AOI(name, geom, wkt, area)


# -- collecting (name, geometry-or-error) pairs from each form ------------------------------------------
def _collect(provider: str, obj: Any, default: str) -> Iterator[tuple[str, Any]]:
    import geopandas as gpd
    from shapely.geometry.base import BaseGeometry

    def err(reason: str) -> PreflightError:
        return PreflightError(provider, default, reason)

    if obj is None:
        yield default, err("no AOI given")
    elif isinstance(obj, BaseGeometry):
        yield default, obj
    elif isinstance(obj, (gpd.GeoDataFrame, gpd.GeoSeries)):
        yield from _from_frame(provider, obj, default)
    elif isinstance(obj, Path):
        yield from _from_file(provider, obj)
    elif isinstance(obj, str):
        s = obj.strip()
        if WKT_START.match(s):
            yield default, _from_wkt(provider, default, s)
        elif s.startswith("{"):
            try:
                data = json.loads(s)
            except ValueError as e:
                yield default, err(f"not valid GeoJSON text ({e})")
                return
            yield from _from_geojson(provider, data, default)
        else:
            yield from _from_file(provider, Path(s).expanduser())
    elif isinstance(obj, dict):
        if obj.get("type") in GEOJSON_TYPES:
            yield from _from_geojson(provider, obj, default)
        else:  # name -> AOI
            for key, value in obj.items():
                yield from _collect(provider, value, str(key))
    elif _is_bbox(obj):
        minx, miny, maxx, maxy = (float(v) for v in obj)
        if not (minx < maxx and miny < maxy):
            yield default, err(f"the bbox {tuple(obj)} is not (minx, miny, maxx, maxy) with min < max")
        else:
            import shapely

            yield default, shapely.box(minx, miny, maxx, maxy)
    elif isinstance(obj, (list, tuple)):
        for i, item in enumerate(obj, 1):
            yield from _collect(provider, item, f"aoi-{i}")
    else:
        yield (
            default,
            err(
                f"an AOI cannot be a {type(obj).__name__}: give a GeoJSON file or dict, a GeoDataFrame, "
                "a shapely polygon, a bbox (minx, miny, maxx, maxy) or a WKT string"
            ),
        )


def _is_bbox(obj: Any) -> bool:
    return (
        isinstance(obj, (tuple, list))
        and len(obj) == 4
        and all(isinstance(v, Real) and not isinstance(v, bool) for v in obj)
    )


def _from_wkt(provider: str, name: str, text: str) -> Any:
    import shapely

    text = re.sub(r"^\s*SRID=\d+;\s*", "", text)
    try:
        return shapely.from_wkt(text)
    except shapely.errors.GEOSException as e:
        msg = str(e)
        if "closed linestring" in msg:
            return PreflightError(
                provider,
                name,
                "open ring: the first and last points of a polygon ring differ (WKT rings must be closed)",
            )
        return PreflightError(provider, name, f"not valid WKT ({msg.split(': ', 1)[-1]})")


def _from_file(provider: str, path: Path) -> Iterator[tuple[str, Any]]:
    stem = path.stem or str(path)
    problem = file_problem(path, directory_ok=True)  # by stat: a FIFO is never opened; a folder may be vector data
    if problem:
        yield (
            stem,
            PreflightError(
                provider,
                str(path),
                "the AOI file does not exist" if problem == "the path does not exist" else f"the AOI file {problem}",
            ),
        )
        return
    if path.suffix.lower() in (".geojson", ".json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            yield stem, PreflightError(provider, stem, f"{path.name} is not readable GeoJSON ({e})")
            return
        yield from _from_geojson(provider, data, stem)
        return
    import geopandas as gpd

    try:
        frame = gpd.read_file(path)
    except Exception as e:  # pyogrio raises several types for unreadable files
        yield stem, PreflightError(provider, stem, f"{path.name} cannot be read as vector data ({e})")
        return
    yield from _from_frame(provider, frame, stem)


def _from_frame(provider: str, frame: Any, default: str) -> Iterator[tuple[str, Any]]:
    import geopandas as gpd
    import pandas as pd

    series = frame.geometry if isinstance(frame, gpd.GeoDataFrame) else frame
    if series.crs is not None and not series.crs.equals("EPSG:4326"):
        series = series.to_crs(4326)
    names = None
    if isinstance(frame, gpd.GeoDataFrame):
        col = next((c for c in NAME_KEYS if c in frame.columns), None)
        names = list(frame[col]) if col else None
    if names is None and not isinstance(series.index, pd.RangeIndex):
        names = list(series.index)
    for i, geom in enumerate(series, 1):
        name = names[i - 1] if names is not None and pd.notna(names[i - 1]) else None
        name = str(name) if name is not None else (default if len(series) == 1 else f"{default}-{i}")
        if geom is None:
            yield name, PreflightError(provider, name, "the row has no geometry")
        else:
            yield name, geom


def _from_geojson(provider: str, data: Any, default: str) -> Iterator[tuple[str, Any]]:
    if not isinstance(data, dict) or data.get("type") not in GEOJSON_TYPES:
        yield default, PreflightError(provider, default, "not a GeoJSON Feature, FeatureCollection or geometry")
        return
    crs = _crs_of(data)
    if data["type"] == "FeatureCollection":
        feats = data.get("features") or []
        if not feats:
            yield default, PreflightError(provider, default, "the FeatureCollection has no features")
        for i, f in enumerate(feats, 1):
            name = _feature_name(f) or (default if len(feats) == 1 else f"{default}-{i}")
            yield name, _geometry(provider, name, f.get("geometry") if isinstance(f, dict) else None, crs)
    elif data["type"] == "Feature":
        name = _feature_name(data) or default
        yield name, _geometry(provider, name, data.get("geometry"), crs)
    else:
        yield default, _geometry(provider, default, data, crs)


def _feature_name(feature: Any) -> str | None:
    props = feature.get("properties") if isinstance(feature, dict) else None
    for k in NAME_KEYS:
        if isinstance(props, dict) and props.get(k) not in (None, ""):
            return str(props[k])
    return None


def _crs_of(data: dict[str, Any]) -> str | None:
    """The legacy GeoJSON ``crs`` member's name, when it is not plain WGS84 lon-lat."""
    name = ((data.get("crs") or {}).get("properties") or {}).get("name")
    if not name or re.search(r"(CRS84|EPSG:{1,2}4326)$", str(name), re.I):
        return None
    return str(name)


def _geometry(provider: str, name: str, geometry: Any, crs: str | None) -> Any:
    """A GeoJSON geometry dict -> shapely (in EPSG:4326), or a PreflightError. Open rings are refused here,
    because shapely would silently close them."""
    from shapely.geometry import shape

    if not isinstance(geometry, dict) or "type" not in geometry:
        return PreflightError(provider, name, "the feature has no geometry")
    kind = geometry["type"]
    coords = geometry.get("coordinates")
    polys = [coords] if kind == "Polygon" else coords if kind == "MultiPolygon" else []
    try:
        for poly in polys or []:
            for ring in poly:
                if len(ring) and list(ring[0]) != list(ring[-1]):
                    return PreflightError(
                        provider,
                        name,
                        f"open ring: the first point {list(ring[0])} and the "
                        f"last point {list(ring[-1])} differ (GeoJSON rings must "
                        "be closed)",
                    )
        geom = shape(geometry)
    except (TypeError, ValueError, IndexError, AttributeError) as e:
        return PreflightError(provider, name, f"not a valid {kind} ({e})")
    if crs is not None:
        try:
            import shapely
            from pyproj import Transformer

            t = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
            geom = shapely.transform(geom, lambda x, y: t.transform(x, y), interleaved=False)
        except Exception as e:  # pyproj.CRSError or a transform failure
            return PreflightError(provider, name, f"cannot reproject from {crs} ({e})")
    return geom
