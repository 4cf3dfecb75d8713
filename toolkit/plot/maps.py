"""Maps and size distributions of SateAIs features (frames from ``toolkit.load.features``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib.ticker import MaxNLocator

#: Colours per class, stable across figures (tab10 order).
CLASS_COLORS = {
    "ship": "#1f77b4",
    "oilslick": "#2b2b2b",
    "new_building": "#2ca02c",
    "disappeared_building": "#d62728",
    "change": "#9467bd",
}
_FALLBACK = ["#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]
AREA_LABELS = {
    "ship": "ships",
    "oilslick": "oil slicks",
    "new_building": "new buildings",
    "disappeared_building": "disappeared buildings",
    "change": "changed area",
}


def detections_map(
    features: Any, aoi: Any = None, ax: Any = None, column: str = "class", marker_fraction: float = 0.01
) -> Any:
    """Detected polygons over the AOI outline, coloured by ``column``, with a legend and lon/lat axes.

    ``aoi``: a shapely geometry, WKT, GeoJSON path, GeoSeries/GeoDataFrame, or None for the AOIs the jobs
    recorded (``features.attrs["aoi"]``). Polygons smaller than ``marker_fraction`` of the map's width also get
    a marker at their centre, so that 200 m ships stay visible on a 20 km AOI. Returns the Axes.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    own_figure = ax is None
    if own_figure:
        _, ax = plt.subplots(figsize=(8, 7))
    outline = _aoi(aoi, features)
    if outline is not None and not outline.empty:
        outline.boundary.plot(ax=ax, color="#555555", linewidth=1.2, linestyle="--", gid="aoi")
    feats = features[features.geometry.notna() & ~features.geometry.is_empty] if len(features) else features
    handles = []
    if len(feats):
        bounds = np.array(feats.total_bounds if outline is None or outline.empty else _union_bounds(feats, outline))
        width = max(bounds[2] - bounds[0], bounds[3] - bounds[1]) or 1.0
        keys = feats[column].astype("string").fillna("(none)")
        for i, key in enumerate(dict.fromkeys(keys)):
            part = feats[keys == key]
            color = CLASS_COLORS.get(key, _FALLBACK[i % len(_FALLBACK)])
            part.plot(ax=ax, color=color, edgecolor=color, linewidth=0.6, alpha=0.75, gid="detections")
            b = part.geometry.bounds
            small = ((b["maxx"] - b["minx"]).clip(lower=b["maxy"] - b["miny"]) < marker_fraction * width).to_numpy()
            if small.any():
                pts = part.geometry[small].representative_point()
                ax.scatter(
                    pts.x,
                    pts.y,
                    s=22,
                    marker="o",
                    facecolor="none",
                    edgecolor=color,
                    linewidth=1.0,
                    gid="markers",
                    zorder=3,
                )
            handles.append(Patch(facecolor=color, edgecolor=color, alpha=0.75, label=f"{key} ({len(part)})"))
    if outline is not None and not outline.empty:
        handles.append(Line2D([], [], color="#555555", linestyle="--", label="area of interest"))
    if handles:  # beside the map on a figure of our own; inside it on the caller's axes (neighbours may follow)
        where = (
            {"loc": "upper left", "bbox_to_anchor": (1.02, 1.0), "borderaxespad": 0.0}
            if own_figure
            else {"loc": "best", "framealpha": 0.85}
        )
        ax.legend(handles=handles, fontsize=9, title=column, **where)
    ax.set_xlabel("Longitude (°)")
    ax.set_ylabel("Latitude (°)")
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.tick_params(axis="x", labelrotation=30)
    ax.set_title(f"{len(feats)} detection{'s' * (len(feats) != 1)}" + _title_suffix(feats))
    ax.grid(True, linewidth=0.3, alpha=0.5)
    return ax


def sizes(features: Any, ax: Any = None, bins: int = 20) -> Any:
    """Size distributions: ship lengths (m) and areas (m², log scale) per class (ships, slicks, buildings).

    Draws two panels (lengths, areas) into a new Figure, or into ``ax`` given as a pair of Axes; a single Axes
    gets the area panel only. Returns the Figure.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    elif isinstance(ax, (Sequence, np.ndarray)):
        axes = list(np.ravel(ax))
        fig = axes[0].figure
    else:
        axes, fig = [None, ax], ax.figure
    classes = features["class"].astype("string") if len(features) else features.get("class")
    if axes[0] is not None:
        _lengths(axes[0], features, classes, bins)
    _areas(axes[1], features, classes, bins)
    return fig


def _lengths(ax: Any, features: Any, classes: Any, bins: int) -> None:
    lengths = features.loc[classes == "ship", "length_m"].dropna() if "length_m" in features else []
    if len(lengths):
        ax.hist(
            lengths,
            bins=min(bins, max(5, len(lengths))),
            color=CLASS_COLORS["ship"],
            edgecolor="white",
            gid="ship_length",
        )
        ax.axvline(float(np.median(lengths)), color="#333333", linestyle=":", linewidth=1)
        ax.set_title(f"Ship length (n={len(lengths)}, median {np.median(lengths):.0f} m)")
    else:
        ax.text(0.5, 0.5, "no ship lengths", transform=ax.transAxes, ha="center", va="center", color="#777777")
        ax.set_title("Ship length")
    ax.set_xlabel("Length (m)")
    ax.set_ylabel("Ships")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def _areas(ax: Any, features: Any, classes: Any, bins: int) -> None:
    areas = features["area_sqm"] if len(features) else None
    keys = [k for k in dict.fromkeys(classes.dropna()) if k != "change"] if classes is not None else []
    values = {k: areas[(classes == k) & (areas > 0)].dropna().to_numpy(float) for k in keys}
    values = {k: v for k, v in values.items() if len(v)}
    if values:
        lo = min(v.min() for v in values.values())
        hi = max(v.max() for v in values.values())
        edges = np.geomspace(lo / 1.05, hi * 1.05, bins + 1)
        for i, (k, v) in enumerate(values.items()):
            color = CLASS_COLORS.get(k, _FALLBACK[i % len(_FALLBACK)])
            ax.hist(
                v,
                bins=edges,
                histtype="stepfilled",
                alpha=0.45,
                color=color,
                edgecolor=color,
                label=f"{AREA_LABELS.get(k, k)} (n={len(v)})",
                gid=f"area:{k}",
            )
        ax.set_xscale("log")
        ax.legend(fontsize=9)
    else:
        ax.text(0.5, 0.5, "no areas", transform=ax.transAxes, ha="center", va="center", color="#777777")
    ax.set_xlabel("Area (m², log scale)")
    ax.set_ylabel("Features")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Detected areas")


def _aoi(aoi: Any, features: Any) -> Any:
    """The AOI(s) as a GeoSeries in EPSG:4326, or None."""
    import geopandas as gpd
    import shapely

    if aoi is None:
        known = getattr(features, "attrs", {}).get("aoi") or {}
        if not known:
            return None
        return gpd.GeoSeries([shapely.from_wkt(w) for w in known.values()], index=list(known), crs="EPSG:4326")
    if isinstance(aoi, gpd.GeoDataFrame):
        return aoi.geometry.to_crs(4326) if aoi.crs else aoi.geometry
    if isinstance(aoi, gpd.GeoSeries):
        return aoi.to_crs(4326) if aoi.crs else aoi
    if isinstance(aoi, shapely.Geometry):
        return gpd.GeoSeries([aoi], crs="EPSG:4326")
    if isinstance(aoi, (str, Path)) and Path(str(aoi)).suffix.lower() in (".geojson", ".json", ".gpkg", ".shp"):
        return gpd.read_file(aoi).geometry.to_crs(4326)
    if isinstance(aoi, str):
        return gpd.GeoSeries([shapely.from_wkt(aoi)], crs="EPSG:4326")
    raise TypeError(f"aoi: give a shapely geometry, WKT, a GeoJSON path or a GeoSeries, not {type(aoi).__name__}")


def _union_bounds(feats: Any, outline: Any) -> list[float]:
    a, b = feats.total_bounds, outline.total_bounds
    return [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]


def _title_suffix(feats: Any) -> str:
    if not len(feats) or "detection_type" not in feats:
        return ""
    types = [str(t) for t in feats["detection_type"].dropna().unique()]
    names = [str(n) for n in feats["aoi_name"].dropna().unique()] if "aoi_name" in feats else []
    where = f" in {', '.join(names[:2])}" + ("…" if len(names) > 2 else "") if names else ""
    return f" ({', '.join(types)}){where}"
