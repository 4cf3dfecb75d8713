"""Maps and size distributions over SateAIs features from real sandbox jobs: every feature drawn, the AOI, the
scene footprint, a scale bar of the right length, and a clear error for a basemap that cannot be drawn.
PNGs under test-output/plots/."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import matplotlib.pyplot as plt
import numpy as np
import pytest
import shapely
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

from tests.helpers import ROOT, save_figure
from tests.load.test_sateais_load import JOBS, SEA_AOI, record, run_jobs
from toolkit import ToolkitError
from toolkit.load import features
from toolkit.plot import BasemapError, detections_map, sizes
from toolkit.sandbox import Sandbox, SandboxConfig
from toolkit.sandbox.engines import sar

MAP_TYPES = ("ship", "oilslick", "newbuilding", "disappearbuilding")


@pytest.fixture(scope="module")
def frames(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("maps")
    scene = sar.find_scene(date(2024, 6, 1)).scene_id
    with Sandbox(SandboxConfig(port=0, data_dir=root / "sb", time_scale=0.001, runtimes={"sateais": 300})) as sb:
        runs = run_jobs(sb, {k: JOBS[k] for k in MAP_TYPES})
        by_scene = run_jobs(sb, {"ship": {"satellite_id": "sentinel-1", "scene_id": scene}})["ship"]
    whole = {**record("ship", by_scene), "meta": {"type": "ship", "scene_id": scene}}
    return {
        "features": features([record(k, runs[k]) for k in MAP_TYPES]),
        "scene": features([whole]),
        "footprint": sar.scene_footprint(scene),
    }


def scale_bar_km(ax) -> float:
    """The scale bar's length in km, read back from its drawn bar in data units (degrees of longitude)."""
    bar = [a for a in ax.artists if isinstance(a, AnchoredSizeBar)]
    assert len(bar) == 1 and bar[0].get_gid() == "scale_bar"
    label = bar[0].txt_label.get_text()
    width_deg = bar[0].size_bar.get_children()[0].get_width()
    lat = float(np.mean(ax.get_ylim()))
    km = width_deg * 111.32 * np.cos(np.radians(lat))
    assert label == (f"{km:g} km" if km >= 1 else f"{km * 1000:g} m") or label == f"{round(km):g} km"
    return round(km, 6)


def test_detections_map_draws_every_feature_over_the_aoi(frames):
    g = frames["features"]
    ax = detections_map(g)
    drawn = [c for c in ax.collections if c.get_gid() == "detections"]
    assert sum(len(c.get_paths()) for c in drawn) == len(g)
    counts = g["class"].astype(str).value_counts()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [f"{c} ({counts[c]})" for c in dict.fromkeys(g["class"].astype(str))] + ["area of interest"]
    assert scale_bar_km(ax) == 2  # a fifth of the map (~0.21°, 19 km at 35.5° N) is 3.8 km: 2 km in 1-2-5 steps
    aoi = [c for c in ax.collections if c.get_gid() == "aoi"]
    assert len(aoi) == 1
    verts = np.vstack([p.vertices for p in aoi[0].get_paths()])
    np.testing.assert_allclose([*verts.min(axis=0), *verts.max(axis=0)], shapely.from_wkt(SEA_AOI).bounds)
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    assert x0 <= 139.7 and x1 >= 139.9 and y0 <= 35.4 and y1 >= 35.6
    assert "Longitude" in ax.get_xlabel() and "Latitude" in ax.get_ylabel()
    width = 0.2  # the AOI's extent, larger than any detection's
    b = g.geometry.bounds
    small = int((np.maximum(b.maxx - b.minx, b.maxy - b.miny) < 0.03 * width).sum())
    markers = [c for c in ax.collections if c.get_gid() == "markers"]
    assert sum(len(c.get_offsets()) for c in markers) == small
    assert ax.get_title().startswith(f"{len(g)} detections")
    save_figure(ax, "detections_map")


def test_detections_map_into_given_axes_with_explicit_aoi(frames):
    ships = frames["features"][frames["features"]["class"] == "ship"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    ax = detections_map(ships, aoi=SEA_AOI, ax=axes[1])
    assert ax is axes[1] and not axes[0].collections
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [f"ship ({len(ships)})", "area of interest"]
    assert sum(len(c.get_paths()) for c in ax.collections if c.get_gid() == "detections") == len(ships)
    empty = detections_map(frames["features"].iloc[:0], ax=axes[0])
    assert empty.get_title() == "0 detections" and not [c for c in empty.collections if c.get_gid() == "detections"]
    save_figure(fig, "detections_map_ships")


def test_sizes_histograms_count_every_feature(frames):
    g = frames["features"]
    fig = sizes(g)
    lengths_ax, areas_ax = fig.axes
    lengths = g.loc[g["class"] == "ship", "length_m"]
    bars = [p for p in lengths_ax.patches if p.get_gid() == "ship_length"]
    assert sum(p.get_height() for p in bars) == len(lengths) > 0
    assert bars[0].get_x() == pytest.approx(lengths.min()) and bars[-1].get_x() + bars[-1].get_width() == pytest.approx(
        lengths.max()
    )
    assert areas_ax.get_xscale() == "log"
    steps = {p.get_gid(): p for p in areas_ax.patches}
    classes = [c for c in dict.fromkeys(g["class"].astype(str))]
    assert list(steps) == [f"area:{c}" for c in classes]
    for c in classes:
        verts = steps[f"area:{c}"].get_path().vertices
        heights = verts[1 : 2 * 20 : 2, 1]  # stepfilled outline: (edge, count) pairs, 20 bins
        assert heights.sum() == (g["class"] == c).sum()
    assert [t.get_text() for t in areas_ax.get_legend().get_texts()][0] == f"ships (n={len(lengths)})"
    save_figure(fig, "sizes")
    one = plt.figure().add_subplot()
    assert sizes(g, ax=one) is one and one.get_xscale() == "log"
    plt.close(one.figure)


def test_a_scene_footprint_is_drawn_around_what_was_found_in_it(frames):
    g, wkt = frames["scene"], frames["footprint"]
    assert len(g) > 0
    ax = detections_map(g, footprint=wkt)
    outline = [c for c in ax.collections if c.get_gid() == "footprint"]
    verts = np.vstack([p.vertices for p in outline[0].get_paths()])
    np.testing.assert_allclose([*verts.min(axis=0), *verts.max(axis=0)], shapely.from_wkt(wkt).bounds)
    assert "scene footprint" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert shapely.from_wkt(wkt).contains(shapely.union_all(g.geometry.to_numpy()))
    x0, x1 = ax.get_xlim()
    assert x1 - x0 >= 0.25  # the whole 0.25° footprint is in view, not only the ships
    assert scale_bar_km(ax) in (2, 5)
    save_figure(ax, "detections_map_scene")


def test_the_scale_bar_follows_the_map_and_can_be_left_out(frames):
    g = frames["features"]
    one = g[g["class"] == "ship"].iloc[:1]
    x, y = one.geometry.iloc[0].centroid.coords[0]
    ax = detections_map(one, aoi=shapely.box(x - 0.002, y - 0.002, x + 0.002, y + 0.002))
    km = scale_bar_km(ax)
    assert 0.05 <= km <= 0.5  # a map some 400 m wide gets a bar in metres
    plt.close(ax.figure)
    bare = detections_map(g, scale_bar=False)
    assert not [a for a in bare.artists if isinstance(a, AnchoredSizeBar)]
    plt.close(bare.figure)


def test_a_basemap_without_contextily_is_a_clear_error(frames):
    """contextily is not among the project's dependencies: asking for a basemap names it (in a fresh
    interpreter, so the check does not depend on what other tests imported)."""
    code = (
        "import matplotlib; matplotlib.use('Agg')\n"
        "from toolkit.load import features\n"
        "from toolkit.plot import detections_map\n"
        "import geopandas as gpd, shapely\n"
        "g = gpd.GeoDataFrame({'class': ['ship']}, geometry=[shapely.box(14.5, 35.8, 14.51, 35.81)], crs=4326)\n"
        "detections_map(g, basemap=True)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 1 and "ModuleNotFoundError: No module named 'contextily'" in run.stderr
    assert "toolkit.plot.maps.BasemapError: basemap=True needs the 'contextily' package" in run.stderr
    assert "pip install contextily" in run.stderr
    assert issubclass(BasemapError, ToolkitError)
