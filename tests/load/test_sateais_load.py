"""toolkit.load.features on real SateAIs sandbox output: schema, values, concatenation, files, NaN literals,
invalid geometries, exports and round trips."""

from __future__ import annotations

import json
import time

import geopandas as gpd
import httpx
import numpy as np
import pandas as pd
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from shapely.geometry import shape

from toolkit.load import features
from toolkit.load.sateais import InvalidGeometryWarning, columns, to_geojson, to_geoparquet
from toolkit.sandbox import Sandbox, SandboxConfig

SEA_AOI = "POLYGON((139.7 35.4, 139.9 35.4, 139.9 35.6, 139.7 35.6, 139.7 35.4))"
SMALL_AOI = "POLYGON((0 0, 0.05 0, 0.05 0.05, 0 0.05, 0 0))"
QUIET_AOI = "POLYGON((10.2 50, 10.22 50, 10.22 50.02, 10.2 50.02, 10.2 50))"  # no slick in the 2024-05-31 scene
S1 = {"satellite_id": "sentinel-1"}
JOBS = {
    "ship": {**S1, "polygon": SEA_AOI, "date": "2024-06-01"},
    "oilslick": {**S1, "polygon": SEA_AOI, "date": "2024-06-01", "date_direction": "before"},
    "newbuilding": {**S1, "polygon": SEA_AOI, "date_start": "2016-01-01", "date_end": "2024-01-01"},
    "disappearbuilding": {**S1, "polygon": SEA_AOI, "date_start": "2016-01-01", "date_end": "2024-01-01"},
    "timeseries": {
        **S1,
        "polygon": SMALL_AOI,
        "date_start": "2024-01-01",
        "date_end": "2024-03-01",
        "orbit_direction": "ascending",
    },
    "empty": {**S1, "polygon": QUIET_AOI, "date": "2024-06-01", "date_direction": "before"},
}
CLASSES = {
    "ship": "ship",
    "oilslick": "oilslick",
    "newbuilding": "new_building",
    "disappearbuilding": "disappeared_building",
    "timeseries": "change",
}


def run_jobs(sb: Sandbox, jobs: dict[str, dict]) -> dict[str, dict]:
    """Each body through the real API (<= 5 concurrent jobs, the documented cap): job object + GeoJSON."""
    out: dict[str, dict] = {}
    with httpx.Client(
        base_url=sb.base_url("sateais"), timeout=10, headers={"Authorization": f"Bearer {sb.key('sateais')}"}
    ) as c:
        names = list(jobs)
        for start in range(0, len(names), 5):
            ids = {}
            for name in names[start : start + 5]:
                kind = "oilslick" if name == "empty" else name
                r = c.post(f"/analyze/{kind}", json=jobs[name])
                assert r.status_code == 202, r.text
                ids[name] = r.json()["job_id"]
            for name, job_id in ids.items():
                deadline = time.monotonic() + 30
                while (job := c.get(f"/jobs/{job_id}").json())["status"] not in ("completed", "failed"):
                    assert time.monotonic() < deadline, f"{name} did not finish"
                    time.sleep(0.1)
                r = c.get(f"/jobs/{job_id}/result.geojson")
                assert r.status_code == 302, (name, job["error_code"], job["error_message"])
                body = httpx.get(r.headers["location"])  # signed URL: no Authorization
                out[name] = {"job": job, "bytes": body.content, "fc": body.json()}
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, dict]:
    root = tmp_path_factory.mktemp("sateais-load")
    # runtimes: every job ~0.3 s, while signed-URL windows keep their documented length x 0.001 (3.6 s)
    with Sandbox(SandboxConfig(port=0, data_dir=root, time_scale=0.001, runtimes={"sateais": 300})) as sb:
        return run_jobs(sb, JOBS)


def record(name: str, run: dict, **extra) -> dict:
    """What Batch.records() gives for a SateAIs job (meta as the client records it)."""
    body = JOBS[name]
    kind = "oilslick" if name == "empty" else name
    meta = {
        "type": kind,
        "aoi_name": f"aoi-{name}",
        "aoi_wkt": body["polygon"],
        "body": body,
        **{k: body[k] for k in ("date", "date_start", "date_end") if k in body},
    }
    return {
        "job_id": run["job"]["job_id"],
        "input": f"aoi-{name}@x",
        "operation": kind,
        "status": "succeeded",
        "error_code": None,
        "error_message": None,
        "options": {},
        "meta": meta,
        "submitted_at": time.time(),
        "started_at": None,
        "finished_at": time.time(),
        "result": run["fc"],
        **extra,
    }


def test_every_type_concatenated_with_its_values(runs):
    kinds = list(CLASSES)
    g = features([record(k, runs[k]) for k in kinds])
    assert g.crs.to_epsg() == 4326
    assert list(g.columns) == columns(kinds)
    assert {"length_m", "mean_backscatter_db"} <= set(g.columns)
    assert str(g["class"].dtype) == "category" and str(g["detection_type"].dtype) == "category"
    assert str(g["feature_id"].dtype) == "Int64" and g["valid"].dtype == bool
    for c in ("date", "date_start", "date_end"):
        assert str(g[c].dtype) == "datetime64[ns, UTC]"
    for k in kinds:
        fc, part = runs[k]["fc"], g[g["detection_type"] == k]
        assert len(part) == len(fc["features"]) > 0, k
        assert (part["job_id"] == runs[k]["job"]["job_id"]).all()
        assert set(part["class"]) == {CLASSES[k]}
        assert (part["aoi_name"] == f"aoi-{k}").all()
        assert part["feature_id"].tolist() == [f["id"] for f in fc["features"]]
        assert part["area_sqm"].tolist() == [f["properties"]["area_sqm"] for f in fc["features"]]
        for geom, f in zip(part.geometry, fc["features"]):
            assert geom.equals_exact(shape(f["geometry"]), 0)
    ships = g[g["detection_type"] == "ship"]
    assert ships["length_m"].tolist() == [f["properties"]["length_m"] for f in runs["ship"]["fc"]["features"]]
    scene = runs["ship"]["fc"]["sandbox_info"]["scenes"][0]
    assert (ships["scene_id"] == scene).all()
    assert (ships["date"] == pd.Timestamp(f"{scene[17:21]}-{scene[21:23]}-{scene[23:25]}", tz="UTC")).all()
    ts = g[g["detection_type"] == "timeseries"]
    props = [f["properties"] for f in runs["timeseries"]["fc"]["features"]]
    assert ts["date"].tolist() == [pd.Timestamp(p["date"], tz="UTC") for p in props]
    assert ts["scene_id"].tolist() == [p["scene_id"] for p in props]
    assert ts["mean_backscatter_db"].tolist() == [p["mean_backscatter_db"] for p in props]
    assert ts["date_start"].eq(pd.Timestamp("2024-01-01", tz="UTC")).all()
    nb = g[g["detection_type"] == "newbuilding"]
    assert (
        nb["date_start"]
        .eq(pd.Timestamp(runs["newbuilding"]["fc"]["features"][0]["properties"]["date_start"], tz="UTC"))
        .all()
    )
    assert g["valid"].all()
    assert g.attrs["aoi"]["aoi-ship"] == SEA_AOI


def test_fixed_schema_per_detection_type(runs):
    assert list(features([record("oilslick", runs["oilslick"])]).columns) == columns(["oilslick"])
    assert "length_m" not in columns(["oilslick"]) and "mean_backscatter_db" not in columns(["oilslick"])
    assert list(features([record("ship", runs["ship"])]).columns) == columns(["ship"])
    assert "length_m" in columns(["ship"])
    assert list(features([record("timeseries", runs["timeseries"])]).columns) == columns(["timeseries"])


def test_empty_result_gives_typed_empty_frame(runs):
    assert runs["empty"]["fc"]["features"] == []
    g = features([record("empty", runs["empty"])])
    assert len(g) == 0
    assert g.crs.to_epsg() == 4326
    assert list(g.columns) == columns(["oilslick"])
    assert str(g["date"].dtype) == "datetime64[ns, UTC]" and str(g["feature_id"].dtype) == "Int64"
    # failed and unfinished jobs add no rows and break nothing; the successful job's rows are all there
    failed = record("ship", runs["ship"], status="failed", error_code="INTERNAL_ERROR", result=None)
    pending = record("oilslick", runs["oilslick"], status="running", result=None)
    g = features([failed, pending, record("newbuilding", runs["newbuilding"]), record("empty", runs["empty"])])
    assert len(g) == len(runs["newbuilding"]["fc"]["features"])
    assert list(g.columns) == columns(["ship", "oilslick", "newbuilding"])
    assert list(features([]).columns) == columns([])


def test_raw_dicts_and_files_give_the_same_frame(runs, tmp_path):
    raw = [runs[k]["fc"] for k in CLASSES]
    g = features(raw)
    assert g["job_id"].isna().all()  # a bare FeatureCollection carries no job id
    assert g["detection_type"].tolist() == [k for k in CLASSES for _ in runs[k]["fc"]["features"]]
    for i, k in enumerate(CLASSES):
        (tmp_path / f"{i}-{k}.geojson").write_bytes(runs[k]["bytes"])
    from_files = features(str(tmp_path / "*.geojson"))
    assert_geodataframe_equal(from_files.drop(columns="aoi_name"), g.drop(columns="aoi_name"))
    assert from_files["aoi_name"].str.endswith(".geojson").all()  # the file is the input


def test_nan_and_infinity_literals_are_tolerated(runs, tmp_path):
    text = runs["ship"]["bytes"].decode()
    first, second = runs["ship"]["fc"]["features"][:2]
    text = text.replace(f'"area_sqm":{first["properties"]["area_sqm"]}', '"area_sqm":NaN', 1)
    text = text.replace(f'"length_m":{second["properties"]["length_m"]}', '"length_m":Infinity', 1)
    assert "NaN" in text and "Infinity" in text
    with pytest.raises(ValueError):
        json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    path = tmp_path / "ship.geojson"
    path.write_text(text)
    g = features(path)
    assert len(g) == len(runs["ship"]["fc"]["features"])
    assert np.isnan(g["area_sqm"].iloc[0]) and np.isnan(g["length_m"].iloc[1])
    assert g["area_sqm"].iloc[1] == second["properties"]["area_sqm"]
    # the same literals parsed by Python's json (floats nan/inf, as Batch.records gives them) end up the same
    g2 = features([{"result": json.loads(text), "input": "x", "job_id": "j"}])
    assert np.isnan(g2["area_sqm"].iloc[0]) and np.isnan(g2["length_m"].iloc[1])


def test_invalid_geometries_are_kept_flagged_and_named(runs):
    fc = json.loads(runs["ship"]["bytes"])
    feats = fc["features"]
    feats[0]["geometry"] = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}  # bowtie
    feats[1]["geometry"] = None
    ring = feats[2]["geometry"]["coordinates"][0]
    feats[2]["geometry"]["coordinates"][0] = ring[:-1]  # not closed
    feats[3]["geometry"] = {"type": "Polygon", "coordinates": []}  # empty
    rec = record("ship", {"job": runs["ship"]["job"], "fc": fc})
    with pytest.warns(InvalidGeometryWarning) as caught:
        g = features([rec])
    assert len(g) == len(feats)  # nothing dropped
    assert g["valid"].tolist() == [False] * 4 + [True] * (len(feats) - 4)
    message = str(caught[0].message)
    job = runs["ship"]["job"]["job_id"]
    assert f"job {job} feature 1: Self-intersection" in message
    assert f"job {job} feature 2: no geometry" in message
    assert f"job {job} feature 3: ring not closed" in message
    assert f"job {job} feature 4: empty geometry" in message
    assert g.geometry.iloc[1] is None and g.geometry.iloc[0] is not None
    # a geometry shapely cannot build at all (a 2-point ring) is reported the same way
    feats[2]["geometry"]["coordinates"][0] = [[0, 0], [1, 1]]
    with pytest.warns(InvalidGeometryWarning, match=r"feature 3: unreadable geometry"):
        g = features([rec])
    assert g["valid"].sum() == len(feats) - 4
    # an open ring in an otherwise clean all-Polygon collection (the vectorised path) is caught too
    fc = json.loads(runs["ship"]["bytes"])
    last = fc["features"][-1]["geometry"]["coordinates"][0]
    fc["features"][-1]["geometry"]["coordinates"][0] = last[:-1]
    with pytest.warns(InvalidGeometryWarning, match=rf"feature {fc['features'][-1]['id']}: ring not closed"):
        g = features([record("ship", {"job": runs["ship"]["job"], "fc": fc})])
    assert g["valid"].tolist() == [True] * (len(fc["features"]) - 1) + [False]


def test_geoparquet_round_trip_keeps_dtypes_and_crs(runs, tmp_path):
    g = features([record(k, runs[k]) for k in CLASSES])
    path = to_geoparquet(g, tmp_path / "out" / "features.parquet")
    back = gpd.read_parquet(path)
    assert back.crs.to_epsg() == 4326
    assert_geodataframe_equal(back, g, check_like=False)


def test_geojson_round_trip_through_the_loader(runs, tmp_path):
    g = features([record(k, runs[k]) for k in CLASSES])
    path = to_geojson(g, tmp_path / "features.geojson")
    doc = json.loads(path.read_text())
    ids = [f"{j}:{i}" for j, i in zip(g["job_id"], g["feature_id"])]
    assert [f["id"] for f in doc["features"]] == ids  # stable ids, unique across jobs
    assert [f["properties"]["feature_id"] for f in doc["features"]] == g["feature_id"].tolist()
    assert doc["features"][0]["properties"]["job_id"] == g["job_id"].iloc[0]
    back = features(path)
    assert_geodataframe_equal(back, g, check_less_precise=False)


def test_legacy_crs_member_is_reprojected_to_4326():
    import pyproj

    to_merc = pyproj.Transformer.from_crs(4326, 3857, always_xy=True)
    ring = [to_merc.transform(x, y) for x, y in [(10, 50), (10.01, 50), (10.01, 50.01), (10, 50.01), (10, 50)]]
    fc = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "EPSG:3857"}},
        "features": [
            {
                "type": "Feature",
                "id": 7,
                "properties": {"class": "ship", "area_sqm": 1.0},
                "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in ring]]},
            }
        ],
    }
    g = features([fc])
    assert g.crs.to_epsg() == 4326
    np.testing.assert_allclose(g.total_bounds, [10, 50, 10.01, 50.01], atol=1e-9)
    assert g["feature_id"].tolist() == [7] and g["detection_type"].tolist() == ["ship"]


def test_keep_properties_adds_unknown_properties(runs):
    fc = json.loads(runs["oilslick"]["bytes"])
    for i, f in enumerate(fc["features"]):
        f["properties"]["score"] = 0.5 + i / 10
    rec = record("oilslick", {"job": runs["oilslick"]["job"], "fc": fc})
    assert "score" not in features([rec]).columns
    g = features([rec], keep_properties=True)
    assert g["score"].tolist() == [0.5 + i / 10 for i in range(len(fc["features"]))]
    assert list(g.columns[:-2]) == columns(["oilslick"])[:-1] and g.columns[-1] == "geometry"


def test_batch_features_through_the_client(make_sandbox, tmp_path, runs):
    from toolkit import load
    from toolkit.workspace import Workspace

    sb = make_sandbox(runtimes={"sateais": 300})
    ws = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    batch = ws.sateais.ship(aoi=SEA_AOI, date="2024-06-01").wait(timeout=60)
    g = batch.features()
    expected = runs["ship"]["fc"]["features"]  # the engine is deterministic: same AOI and scene, same ships
    assert len(g) == len(expected) and g["feature_id"].tolist() == [f["id"] for f in expected]
    assert (g["job_id"] == batch.jobs[0].job_id).all() and set(g["detection_type"]) == {"ship"}
    name = batch.jobs[0].meta["aoi_name"]
    assert (g["aoi_name"] == name).all()
    assert shapely.from_wkt(g.attrs["aoi"][name]).equals(shapely.from_wkt(SEA_AOI))
    assert_geodataframe_equal(load.results(batch), g)
    # the cache's raw results (no meta) give the same features, named after the job's input
    raw = features(batch.raw())
    assert_geodataframe_equal(raw.drop(columns="aoi_name"), g.drop(columns="aoi_name"))
