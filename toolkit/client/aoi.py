"""Areas of interest: many input forms -> named, validated EPSG:4326 lon-lat polygons, before anything is sent.

Accepted forms: a GeoJSON file (or any file geopandas reads), a GeoJSON dict or string (Feature,
FeatureCollection or bare geometry), a GeoDataFrame/GeoSeries (reprojected to EPSG:4326), a shapely geometry,
a bbox tuple ``(min_lon, min_lat, max_lon, max_lat)`` in degrees (EPSG:4326; the GeoJSON and shapely order, not
(lat, lon): a tuple that only makes sense the other way round is refused with the swapped box suggested; west >
east crosses the antimeridian, RFC 7946 §5.2), a WKT string, a list of any of these, or a dict ``name -> AOI``.
Each AOI is named by the feature's ``name`` property, the dict key, or the file stem.

SateAIs takes one 2-D WKT ``POLYGON`` per job ("Use a single WKT POLYGON", docs/contracts.md §2), so:
heights (``POLYGON Z``, GeoJSON positions with a third value) are dropped; a polygon that crosses the
antimeridian is cut at ±180 as RFC 7946 §3.1.9 says; and each part of a MultiPolygon (or of such a cut) becomes
an AOI of its own, named ``name-1``, ``name-2``..., so it is sent as a job of its own.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from numbers import Real
from pathlib import Path
from typing import Any, Iterator

from .. import antimeridian
from . import land
from .inputs import file_problem
from .model import PreflightError

#: SateAIs' documented area caps per analysis type (km², docs/contracts.md §2); ship and oilslick have none
AREA_CAP_SQKM = {"newbuilding": 30_000, "disappearbuilding": 30_000, "timeseries": 50}

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
    geometry: Any  # shapely Polygon, 2-D, within -180..180
    wkt: str
    area_sqkm: float
    legacy_wkt: str | None = None  # how toolkit <= 0.x keyed it (8 decimals, as given): its jobs stay this one's


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
    found = list(_collect(provider, aoi, "aoi", kind))
    names: dict[str, int] = {}
    out: list[AOI | PreflightError] = []
    for name, geom in found:
        n = names[name] = names.get(name, 0) + 1
        name = name if n == 1 else f"{name}-{n}"  # two AOIs called alike still get distinct labels
        if isinstance(geom, PreflightError):
            out.append(geom)
            continue
        try:
            parts = polygons(provider, name, geom)
        except PreflightError as e:
            out.append(e)
            continue
        for part_name, part in parts:
            try:
                out.append(validate(provider, part_name, part, cap_sqkm=cap_sqkm, kind=kind))
            except PreflightError as e:
                out.append(e)
    return out


def polygons(provider: str, name: str, geom: Any) -> list[tuple[str, Any]]:
    """The 2-D polygons one AOI is sent as, named: itself, or ``name-1``, ``name-2``... for the parts of a
    MultiPolygon or of a polygon cut at the antimeridian (RFC 7946 §3.1.9)."""
    import shapely

    def bad(reason: str) -> PreflightError:
        return PreflightError(provider, name, reason)

    if geom is None or geom.is_empty:
        raise bad("the geometry is empty")
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise bad(
            f"the geometry is a {geom.geom_type}; an AOI must be a Polygon or MultiPolygon (a closed area; "
            "SateAIs takes one POLYGON per job, so each part of a MultiPolygon is sent as a job of its own)"
        )
    if geom.has_z:  # heights mean nothing to a 2-D area and SateAIs documents lon lat only
        geom = shapely.force_2d(geom)
    _check_range(bad, geom)
    try:
        unwrapped = antimeridian.unwrap(geom) if antimeridian.crosses(geom) else None
    except antimeridian.AntimeridianError as e:
        raise bad(f"{e}; split it into parts that do not") from None
    if unwrapped is not None:
        if not unwrapped.is_valid:  # check the shape as drawn, before it is cut
            raise bad(_invalid_reason(unwrapped))
        geom = antimeridian.wrap(unwrapped)
    parts = list(geom.geoms) if geom.geom_type == "MultiPolygon" else [geom]
    if len(parts) == 1:
        return [(name, parts[0])]
    return [(f"{name}-{i}", p) for i, p in enumerate(parts, 1)]


def validate(provider: str, name: str, geom: Any, *, cap_sqkm: float | None = None, kind: str = "") -> AOI:
    """Check one 2-D EPSG:4326 polygon (a part from ``polygons``): lon-lat range, valid, non-empty, within the cap."""
    import shapely

    def bad(reason: str) -> PreflightError:
        return PreflightError(provider, name, reason)

    if geom is None or geom.is_empty:
        raise bad("the geometry is empty")
    if geom.geom_type != "Polygon" or geom.has_z:
        raise bad(f"the geometry is a {geom.geom_type}{' Z' if geom.has_z else ''}; give parts from polygons()")
    _check_range(bad, geom)
    # What is checked is what is sent: validate the canonical WKT, not the geometry before rounding.
    legacy = shapely.to_wkt(geom, rounding_precision=8, trim=True)
    wkt = canonical_wkt(geom)
    sent = shapely.from_wkt(wkt)
    if not sent.is_valid:
        if geom.is_valid:
            raise bad(
                f"the polygon does not survive rounding to {DECIMALS} decimals (about 0.1 m): "
                f"{_invalid_reason(sent)}; it is too small or too thin to analyse"
            )
        raise bad(_invalid_reason(sent))
    geom = sent
    area = geodesic_area_sqkm(geom)
    if area <= 0:
        raise bad("the polygon has zero area")
    if cap_sqkm is not None and area > cap_sqkm:
        raise bad(f"the area is {area:,.1f} km², over the {cap_sqkm:,.0f} km² limit for {kind or provider}")
    return AOI(name, geom, wkt, area, legacy if legacy != wkt else None)


DECIMALS = 6  # a micro-degree, about 0.1 m: far below a Sentinel-1 pixel (10 m), far above float noise


def canonical_wkt(polygon: Any) -> str:
    """One spelling per area, so the same area is the same job (the job's key hashes the WKT sent) whatever
    file it came from: coordinates rounded to ``DECIMALS``, repeated points dropped, the exterior ring
    counter-clockwise and holes clockwise (RFC 7946 §3.1.6; a shapefile stores them the other way round), each
    ring starting at its lowest (x, y) vertex and holes in a fixed order (GEOS ``normalize``, which orients
    them the other way: ``orient`` then reverses each ring about its start). Numbers are written in plain
    decimals by this function, not by GEOS, whose formatting (``1e-6``) may change between versions and with
    it every key. Still one 2-D POLYGON, as docs/contracts.md §2 asks."""
    import numpy as np
    import shapely
    from shapely.geometry.polygon import orient

    rounded = shapely.transform(polygon, lambda xy: np.round(xy, DECIMALS))
    try:
        rounded = shapely.remove_repeated_points(rounded)
    except shapely.errors.GEOSException:  # a ring collapses at this precision: refused as invalid after
        pass
    poly = orient(shapely.normalize(rounded), 1.0)
    rings = [poly.exterior, *poly.interiors]
    return (
        "POLYGON (" + ", ".join("(" + ", ".join(f"{_num(x)} {_num(y)}" for x, y in r.coords) + ")" for r in rings) + ")"
    )


def _num(v: float) -> str:
    text = f"{v:.{DECIMALS}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _check_range(bad: Any, geom: Any) -> None:
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


def _invalid_reason(geom: Any) -> str:
    from shapely.validation import explain_validity

    why = explain_validity(geom)
    if why.lower().startswith(("self-intersection", "ring self-intersection")):
        return f"the polygon is self-intersecting ({why}); fix the vertex order or use shapely.make_valid"
    return f"the polygon is invalid ({why})"


# -- collecting (name, geometry-or-error) pairs from each form ------------------------------------------
def _collect(provider: str, obj: Any, default: str, kind: str = "") -> Iterator[tuple[str, Any]]:
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
                yield from _collect(provider, value, str(key), kind)
    elif _is_bbox(obj):
        yield default, bbox(provider, default, obj, kind)
    elif isinstance(obj, (list, tuple)):
        for i, item in enumerate(obj, 1):
            yield from _collect(provider, item, f"aoi-{i}", kind)
    else:
        yield (
            default,
            err(
                f"an AOI cannot be a {type(obj).__name__}: give a GeoJSON file or dict, a GeoDataFrame, "
                f"a shapely polygon, a bbox {BBOX_ORDER} or a WKT string"
            ),
        )


def _is_bbox(obj: Any) -> bool:
    return (
        isinstance(obj, (tuple, list))
        and len(obj) == 4
        and all(isinstance(v, Real) and not isinstance(v, bool) for v in obj)
    )


BBOX_ORDER = "(min_lon, min_lat, max_lon, max_lat)"


def bbox(provider: str, name: str, values: Any, kind: str = "") -> Any:
    """A bbox tuple ``(min_lon, min_lat, max_lon, max_lat)`` in degrees -> a shapely polygon (two, as a
    MultiPolygon, when west > east crosses the antimeridian), or a PreflightError. A tuple that only makes sense
    in another order is refused with that order suggested: a latitude beyond ±90 that fits as a longitude
    ((lat, lon) order), min_lat > max_lat, west > east spanning more than half the globe, or (for the job
    ``kind``) a box far inland for ships or far out at sea for buildings whose (lat, lon) reading is not."""
    import shapely

    a, b, c, d = (float(v) for v in values)
    given = _fmt((a, b, c, d))

    def refuse(why: str, meant: tuple[float, float, float, float] | None = None) -> PreflightError:
        hint = f"; did you mean {_fmt(meant)}?" if meant else ""
        return PreflightError(
            provider, name, f"the bbox {given} {why}; a bbox is {BBOX_ORDER} in degrees (EPSG:4326){hint}"
        )

    def lat(y: float) -> bool:
        return -90 <= y <= 90

    def lon(x: float) -> bool:
        return -180 <= x <= 180

    if not all(math.isfinite(v) for v in (a, b, c, d)):
        return refuse("has coordinates that are not finite numbers")
    if not (lat(b) and lat(d)):
        if lon(b) and lon(d) and lat(a) and lat(c):
            beyond = b if not lat(b) else d
            return refuse(f"looks like lat/lon swapped: latitude {beyond:.10g} is beyond ±90", _ordered(b, a, d, c))
        return refuse("is outside lon -180..180 / lat -90..90: projected coordinates? give degrees")
    if not (lon(a) and lon(c)):
        return refuse("has a longitude beyond ±180: projected coordinates? give degrees")
    if b > d:
        return refuse(f"has min_lat {b:g} > max_lat {d:g}", _ordered(a, b, c, d))
    if a > c:
        span = 360 - (a - c)
        if span > 180:  # as an antimeridian crossing it would be most of the globe: a mistaken order
            return refuse(
                f"has min_lon {a:g} > max_lon {c:g} (read as crossing the antimeridian: {span:g}° of longitude)",
                _ordered(a, b, c, d),
            )
        return shapely.MultiPolygon([shapely.box(a, b, 180, d), shapely.box(-180, b, c, d)])
    if a == c or b == d:
        return refuse("has no area (min equals max)")
    swapped = _ordered(b, a, d, c)
    why = land.implausible(kind, (a + c) / 2, (b + d) / 2)
    if why and lon(swapped[0]) and lon(swapped[2]) and lat(swapped[1]) and lat(swapped[3]):
        if land.implausible(kind, (swapped[0] + swapped[2]) / 2, (swapped[1] + swapped[3]) / 2) is None:
            return refuse(f"{why} (read as lon/lat); pass a polygon if that is really meant", swapped)
    return shapely.box(a, b, c, d)


def _ordered(x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
    return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def _fmt(t: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:.10g}" for v in t) + ")"  # a suggestion to copy: no digit lost


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
    coords: Any = geometry.get("coordinates")  # GeoJSON as given: checked ring by ring below
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
