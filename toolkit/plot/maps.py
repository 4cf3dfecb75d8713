"""Maps and size distributions of SateAIs features (frames from ``toolkit.load.features``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib.ticker import MaxNLocator

from ..client.model import ToolkitError

#: Colours per class, stable across figures (tab10 order).
CLASS_COLORS = {
    "ship": "#1f77b4",
    "oilslick": "#2b2b2b",
    "new_building": "#2ca02c",
    "disappeared_building": "#d62728",
    "change": "#9467bd",
}
_FALLBACK = ["#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]
AOI_EDGE, AOI_FILL, SCENE_EDGE = "#444444", "#f1f3f5", "#6a3d9a"
AREA_LABELS = {
    "ship": "ships",
    "oilslick": "oil slicks",
    "new_building": "new buildings",
    "disappeared_building": "disappeared buildings",
    "change": "changed area",
}


class BasemapError(ToolkitError):
    """``detections_map(basemap=True)`` could not draw the web basemap: contextily is missing or the tiles could
    not be fetched (offline). Everything else on the map needs no network."""


def detections_map(
    features: Any,
    aoi: Any = None,
    ax: Any = None,
    column: str = "class",
    marker_fraction: float = 0.03,
    *,
    footprint: Any = None,
    scale_bar: bool = True,
    basemap: bool = False,
    basemap_source: Any = None,
) -> Any:
    """Detected polygons over the AOI outline, coloured by ``column``, with a legend, lon/lat axes and a scale
    bar; context that needs no network.

    ``aoi``: a shapely geometry, WKT, GeoJSON path, GeoSeries/GeoDataFrame, or None for the AOIs the jobs
    recorded (``features.attrs["aoi"]``). ``footprint``: the analysed scene's extent, given the same ways, or
    None for ``features.attrs["footprint"]`` (name -> WKT) where the results carry it. Polygons smaller than
    ``marker_fraction`` of the map's width also get a ring at their centre, so that 200 m ships stand out
    on a 20 km AOI. ``basemap=True`` draws web map tiles beneath (needs the ``contextily`` package and a
    network; ``basemap_source`` picks the tiles, an ``xyzservices`` provider or URL); it raises
    ``BasemapError`` naming what is missing rather than drawing a map without it. Returns the Axes.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    own_figure = ax is None
    if own_figure:
        _, ax = plt.subplots(figsize=(8, 7))
    outline = _aoi(aoi, features)
    has_outline = outline is not None and not outline.empty
    scene = _aoi(footprint, None) if footprint is not None else _recorded(features, "footprint")
    if has_outline:
        outline.plot(ax=ax, color=AOI_FILL, edgecolor="none", gid="aoi_fill", zorder=0.5)
        outline.boundary.plot(ax=ax, color=AOI_EDGE, linewidth=1.4, linestyle="--", gid="aoi", zorder=2.5)
    if scene is not None and not scene.empty:
        scene.boundary.plot(ax=ax, color=SCENE_EDGE, linewidth=1.2, linestyle="-.", gid="footprint", zorder=2.4)
    feats = features[features.geometry.notna() & ~features.geometry.is_empty] if len(features) else features
    handles = []
    if len(feats):
        bounds = np.array(feats.total_bounds if not has_outline else _union_bounds(feats, outline))
        width = max(bounds[2] - bounds[0], bounds[3] - bounds[1]) or 1.0
        keys = feats[column].astype("string").fillna("(none)")
        for i, key in enumerate(dict.fromkeys(keys)):
            part = feats[keys == key]
            color = CLASS_COLORS.get(key, _FALLBACK[i % len(_FALLBACK)])
            part.plot(ax=ax, color=color, edgecolor=color, linewidth=0.6, alpha=0.8, gid="detections", zorder=2)
            b = part.geometry.bounds
            small = ((b["maxx"] - b["minx"]).clip(lower=b["maxy"] - b["miny"]) < marker_fraction * width).to_numpy()
            if small.any():
                pts = part.geometry[small].representative_point()
                ax.scatter(
                    pts.x,
                    pts.y,
                    s=46,
                    marker="o",
                    facecolor="none",
                    edgecolor=color,
                    linewidth=1.3,
                    gid="markers",
                    zorder=3,
                )
            handles.append(Patch(facecolor=color, edgecolor=color, alpha=0.8, label=f"{key} ({len(part)})"))
    if has_outline:
        handles.append(Line2D([], [], color=AOI_EDGE, linestyle="--", label="area of interest"))
    if scene is not None and not scene.empty:
        handles.append(Line2D([], [], color=SCENE_EDGE, linestyle="-.", label="scene footprint"))
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
    ax.margins(x=0.04, y=0.1)  # room for the scale bar below the outlines
    ax.autoscale_view()
    if basemap:
        _basemap(ax, basemap_source)
    if scale_bar and (has_outline or len(feats)):
        _scale_bar(ax)
    return ax


def _scale_bar(ax: Any) -> None:
    """A bar of a round length (about a fifth of the map's width) in the lower right, for lon/lat axes."""
    import matplotlib.font_manager as fm
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    x0, x1 = ax.get_xlim()
    lat = float(np.clip(np.mean(ax.get_ylim()), -85, 85))
    metres_per_degree = 111_320.0 * np.cos(np.radians(lat))
    target = abs(x1 - x0) * metres_per_degree / 5
    if not np.isfinite(target) or target <= 0:
        return
    power = 10 ** np.floor(np.log10(target))
    length = max(f * power for f in (1, 2, 5) if f * power <= target)
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    bar = AnchoredSizeBar(
        ax.transData,
        length / metres_per_degree,
        label,
        loc="lower right",
        pad=0.4,
        sep=3,
        borderpad=0.6,
        frameon=True,
        size_vertical=0,
        fontproperties=fm.FontProperties(size=9),
    )
    bar.patch.set(facecolor="white", alpha=0.85, edgecolor="#999999")
    bar.set_gid("scale_bar")
    bar.set_zorder(5)
    ax.add_artist(bar)


def _basemap(ax: Any, source: Any) -> None:
    """Web tiles beneath the map (contextily, imported only here), or a ``BasemapError`` saying why not."""
    try:
        import contextily as cx
    except ImportError as e:
        raise BasemapError(
            "basemap=True needs the 'contextily' package, which is not installed (pip install contextily); "
            "without it, leave basemap=False: the AOI outline, footprint and scale bar need no network"
        ) from e
    try:
        cx.add_basemap(ax, crs="EPSG:4326", source=source or cx.providers.OpenStreetMap.Mapnik, zorder=0)
    except Exception as e:  # requests', urllib3's, rasterio's errors alike: the tiles did not arrive
        raise BasemapError(
            f"basemap=True: the map tiles could not be fetched ({type(e).__name__}: {e}); offline? "
            "leave basemap=False for a map that needs no network"
        ) from e


def sizes(features: Any, ax: Any = None, bins: int = 20) -> Any:
    """Size distributions: ship lengths (m) and areas (m², log scale) per class (ships, slicks, buildings).

    Draws two panels (lengths, areas) into a new Figure and returns it (shown once in a notebook, as the
    cell's value or not); or into ``ax`` given as a pair of Axes, or a single Axes (the area panel only), and
    returns what was given.
    """
    from ._figure import subplots

    if ax is None:
        fig, axes = subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    elif isinstance(ax, (Sequence, np.ndarray)):
        axes = list(np.ravel(ax))
    else:
        axes = [None, ax]
    classes = features["class"].astype("string") if len(features) else features.get("class")
    if axes[0] is not None:
        _lengths(axes[0], features, classes, bins)
    _areas(axes[1], features, classes, bins)
    return fig if ax is None else ax


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
        return _recorded(features, "aoi")
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


def _recorded(features: Any, key: str) -> Any:
    """Outlines a loader recorded in ``features.attrs[key]`` (name -> WKT) as a GeoSeries, or None."""
    import geopandas as gpd
    import shapely

    known = getattr(features, "attrs", {}).get(key) or {}
    if not known:
        return None
    return gpd.GeoSeries([shapely.from_wkt(w) for w in known.values()], index=list(known), crs="EPSG:4326")


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
