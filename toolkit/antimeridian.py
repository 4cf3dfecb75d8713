"""Polygons that cross the antimeridian (180° E = 180° W), read and cut as RFC 7946 §3.1.9 says.

A ring edge whose longitudes differ by more than 180° is read as the short way round, across the antimeridian
(``179.95 -17, -179.95 -17`` is 11 km near Fiji, not a band around the globe): that is how GeoJSON writers and
GIS tools spell such a polygon. ``unwrap`` makes the longitudes continuous (they may then pass ±180, for planar
work such as raster grids and validity checks); ``wrap`` cuts a continuous geometry at ±180 into parts that
each lie within -180..180 (a MultiPolygon when it crossed), exterior rings counter-clockwise.

Used by the client's AOI preflight (``toolkit.client.aoi``) and the sandbox's SateAIs engine, so both read a
crossing polygon the same way.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AntimeridianError", "crosses", "unwrap", "wrap", "split"]


class AntimeridianError(ValueError):
    """A ring that cannot be unwrapped: it goes all the way round the globe (it encloses a pole)."""


def crosses(geom: Any) -> bool:
    """Whether a Polygon or MultiPolygon has a ring edge that spans more than 180° of longitude."""
    return any(abs(b[0] - a[0]) > 180 for ring in _rings(geom) for a, b in zip(ring[:-1], ring[1:]))


def unwrap(geom: Any) -> Any:
    """``geom`` with continuous longitudes: each edge goes the short way, so a crossing ring passes ±180."""
    import shapely

    def ring(coords: list[tuple[float, ...]], near: float | None) -> list[tuple[float, float]]:
        out = [(float(coords[0][0]), float(coords[0][1]))]
        for (x0, _), (x1, y1) in zip(coords[:-1], coords[1:]):
            dx = x1 - x0
            dx -= 360 * round(dx / 360) if abs(dx) > 180 else 0
            out.append((out[-1][0] + dx, float(y1)))
        if abs(out[-1][0] - out[0][0]) > 1e-9:
            raise AntimeridianError("the ring goes all the way round the globe (it encloses a pole)")
        if near is not None:  # a hole sits next to its shell, not a turn of the globe away
            shift = 360 * round((near - out[0][0]) / 360)
            out = [(x + shift, y) for x, y in out]
        return out

    def polygon(p: Any) -> Any:
        shell = ring(list(p.exterior.coords), None)
        return shapely.Polygon(shell, [ring(list(h.coords), shell[0][0]) for h in p.interiors])

    if geom.geom_type == "Polygon":
        return polygon(geom)
    parts = [polygon(p) for p in geom.geoms]
    first = parts[0].exterior.coords[0][0]
    # parts of one area stay together: shift each by whole turns to sit nearest the first part
    parts = [shapely.affinity.translate(p, 360 * round((first - p.exterior.coords[0][0]) / 360), 0) for p in parts]
    return shapely.MultiPolygon(parts)


def wrap(geom: Any) -> Any:
    """A geometry with continuous longitudes cut at ±180 into parts within -180..180, exterior rings
    counter-clockwise: a Polygon when it stays on one side, else a MultiPolygon (parts that touch at ±180)."""
    import shapely
    from shapely.geometry.polygon import orient

    minx, _, maxx, _ = geom.bounds
    parts = []
    for k in range(int((minx + 180) // 360), int((maxx + 180) // 360) + 1):
        piece = geom.intersection(shapely.box(-180 + 360 * k, -90, 180 + 360 * k, 90))
        piece = shapely.affinity.translate(piece, -360 * k, 0) if k else piece
        parts += [g for g in getattr(piece, "geoms", [piece]) if g.geom_type == "Polygon" and not g.is_empty]
    parts = [orient(p, 1.0) for p in parts]
    if len(parts) == 1:
        return parts[0]
    return shapely.MultiPolygon(sorted(parts, key=lambda p: -p.bounds[0]))


def split(geom: Any) -> Any:
    """RFC 7946 §3.1.9: a Polygon or MultiPolygon that crosses the antimeridian, cut in two at ±180."""
    return wrap(unwrap(geom)) if crosses(geom) else geom


def _rings(geom: Any) -> list[list[tuple[float, ...]]]:
    polys = [geom] if geom.geom_type == "Polygon" else list(getattr(geom, "geoms", []))
    return [list(r.coords) for p in polys for r in (p.exterior, *p.interiors)]
