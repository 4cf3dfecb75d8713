"""GeoJSON geometry dicts -> shapely geometries, and why a feature's geometry is malformed (SateAIs loader)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["_geometries"]


def _geometries(raw: list[Any]) -> tuple[np.ndarray, list[str | None]]:
    """Shapely geometries for GeoJSON geometry dicts, and per feature None (valid) or why it is not.

    All-Polygon collections (what SateAIs returns) are built in one vectorised call; anything else, or a
    collection the fast path cannot read, is built feature by feature so one bad feature spoils nothing.
    """
    import shapely

    if raw and all(isinstance(g, dict) and g.get("type") == "Polygon" for g in raw):
        try:
            ring_sizes, poly_sizes, coords = [], [], []
            for g in raw:
                rings = g["coordinates"]
                poly_sizes.append(len(rings))
                for ring in rings:
                    ring_sizes.append(len(ring))
                    coords += ring
            xy = np.asarray(coords, dtype=np.float64)
            if xy.ndim == 2 and xy.shape[1] >= 2 and min(ring_sizes) >= 4:
                ring_off = np.concatenate([[0], np.cumsum(ring_sizes)])
                poly_off = np.concatenate([[0], np.cumsum(poly_sizes)])
                geom = shapely.from_ragged_array(
                    shapely.GeometryType.POLYGON, np.ascontiguousarray(xy[:, :2]), (ring_off, poly_off)
                )
                reasons: list[str | None] = [None] * len(raw)
                open_rings = np.flatnonzero((xy[ring_off[:-1], :2] != xy[ring_off[1:] - 1, :2]).any(axis=1))
                if open_rings.size:  # from_ragged_array closes them silently; GeoJSON says they are invalid
                    owner = np.searchsorted(poly_off, open_rings, side="right") - 1
                    for i in owner:
                        reasons[i] = "ring not closed (first and last positions differ)"
                return geom, reasons
        except (ValueError, TypeError, KeyError, shapely.errors.GEOSException):
            pass
    from shapely.geometry import shape

    out, reasons = np.empty(len(raw), dtype=object), []
    for i, g in enumerate(raw):
        if not g:
            out[i] = None
            reasons.append("no geometry")
            continue
        try:
            out[i] = shape(g)
            reasons.append(_open_ring(g))
        except Exception as e:  # malformed coordinates of any kind: keep the row, say why
            out[i] = None
            reasons.append(f"unreadable geometry: {e}")
    return out, reasons


def _open_ring(g: dict[str, Any]) -> str | None:
    """Why a (Multi)Polygon dict is malformed although shapely builds it: a ring that is not closed."""
    polys = [g.get("coordinates")] if g.get("type") == "Polygon" else g.get("coordinates") or []
    if g.get("type") not in ("Polygon", "MultiPolygon"):
        return None
    for poly in polys:
        for ring in poly or []:
            if ring and list(ring[0]) != list(ring[-1]):
                return "ring not closed (first and last positions differ)"
    return None
