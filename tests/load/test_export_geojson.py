"""Every GeoJSON the toolkit writes is RFC 7946, checked with geojson-validator and by hand: the library's
``tk.load.to_geojson`` and the CLI's ``results export``, on ships from Malta and from across the antimeridian."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import geojson_validator
import pytest
import shapely

import toolkit as tk
from toolkit.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
FIJI = "POLYGON ((179.95 -17, -179.95 -17, -179.95 -16.95, 179.95 -16.95, 179.95 -17))"


def assert_rfc7946(doc: dict, n: int) -> None:
    assert geojson_validator.validate_structure(doc, check_crs=True) == {}
    checked = geojson_validator.validate_geometries(doc)
    assert checked["invalid"] == {} and checked["skipped_validation"] == []
    assert "crs" not in doc and doc["type"] == "FeatureCollection" and len(doc["features"]) == n
    assert all("id" in f for f in doc["features"])
    for f in doc["features"]:
        g = shapely.geometry.shape(f["geometry"])
        for p in getattr(g, "geoms", [g]):
            assert p.exterior.is_ccw and all(not r.is_ccw for r in p.interiors)  # right-hand rule
            assert all(-180 <= x <= 180 and -90 <= y <= 90 for x, y in p.exterior.coords)  # lon, lat


@pytest.fixture
def ships(sandbox, tmp_path):
    ws = Workspace(
        tmp_path / "ws",
        keys={"sateais": sandbox.key("sateais")},
        base_urls={"sateais": sandbox.base_url("sateais")},
        quiet=True,
    )
    ws._config("sateais").time_scale = sandbox.config.time_scale
    aois = {"harbour": REPO / "data/aoi/harbour.geojson", "fiji": FIJI}
    return ws.sateais.ship(aois, date="2026-06-15").wait(timeout=120, progress=False)


def test_library_and_cli_write_rfc7946(ships, sandbox, tmp_path):
    frame = ships.features()
    assert len(frame) > 5 and set(frame["aoi_name"].astype(str)) == {"Grand Harbour, Valletta", "fiji-1", "fiji-2"}
    doc = json.loads(tk.load.to_geojson(frame, tmp_path / "lib.geojson").read_text())
    assert_rfc7946(doc, len(frame))
    assert [f["properties"]["feature_id"] for f in doc["features"]] == list(frame["feature_id"])
    back = tk.load.features(tmp_path / "lib.geojson")
    assert (
        len(back) == len(frame)
        and back.geometry.reset_index(drop=True).geom_equals_exact(frame.geometry.reset_index(drop=True), 1e-6).all()
    )
    env = {
        **os.environ,
        "SATEAIS_API_KEY": sandbox.key("sateais"),
        "SATEAIS_BASE_URL": sandbox.base_url("sateais"),
        "TOOLKIT_TIME_SCALE": str(sandbox.config.time_scale),
        "PYTHONPATH": str(REPO),
    }
    out = tmp_path / "cli.geojson"
    done = subprocess.run(
        [sys.executable, "-m", "toolkit", "-w", str(tmp_path / "ws"), "results", "export", ships.id, "--out", str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert_rfc7946(json.loads(out.read_text()), len(frame))


def test_clockwise_projected_frames_without_ids_are_fixed_on_the_way_out(tmp_path):
    import geopandas as gpd

    cw = shapely.Polygon([(0, 0), (0, 1000), (1000, 1000), (1000, 0)], [[(100, 100), (200, 100), (200, 200)]])
    frame = gpd.GeoDataFrame({"name": ["a", "b"]}, geometry=[cw, shapely.box(2000, 0, 3000, 1000)], crs="EPSG:32633")
    doc = json.loads(tk.load.export.to_geojson(frame, tmp_path / "x.geojson").read_text())
    assert_rfc7946(doc, 2)
    assert [f["id"] for f in doc["features"]] == [1, 2] and "_geojson_id" not in doc["features"][0]["properties"]


def test_two_jobs_export_unique_ids_that_gdal_reads_back_without_warning(ships, tmp_path):
    """Feature ids repeat across jobs (each job numbers its own); the file's ids are ``<job>:<feature_id>``."""
    import warnings

    import pyogrio

    frame = ships.features()
    assert frame["job_id"].nunique() >= 2 and frame["feature_id"].duplicated().any()  # the case that broke
    path = tk.load.to_geojson(frame, tmp_path / "two.geojson")
    doc = json.loads(path.read_text())
    ids = [f["id"] for f in doc["features"]]
    assert len(set(ids)) == len(ids) == len(frame)
    assert ids == [f"{j}:{i}" for j, i in zip(frame["job_id"], frame["feature_id"])]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # GDAL's "renumbering" would come through as a RuntimeWarning
        back = pyogrio.read_dataframe(path)
    assert list(back["feature_id"]) == list(frame["feature_id"]) and list(back["job_id"]) == list(frame["job_id"])
    again = tk.load.features(path)
    assert list(again["feature_id"]) == list(frame["feature_id"])
