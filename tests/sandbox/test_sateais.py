"""SateAIs contract over real HTTP: create -> poll -> 302 to the GeoJSON, every documented error, the detectors."""

from __future__ import annotations

import re
import time
from datetime import date, timedelta

import httpx
import numpy as np
import pytest

from tests.helpers import api, stats
from toolkit.sandbox import Sandbox, SandboxConfig, Tenant
from toolkit.sandbox.engines import sar

FAST = 0.0002  # oilslick ~0.6 s, retention 30 d -> ~8.6 min, storage URL 0.72 s
SEA_AOI = "POLYGON((139.7 35.4, 139.9 35.4, 139.9 35.6, 139.7 35.6, 139.7 35.4))"  # ~400 km²
SMALL_AOI = "POLYGON((0 0, 0.05 0, 0.05 0.05, 0 0.05, 0 0))"  # ~31 km²
S1 = {"satellite_id": "sentinel-1"}
BODIES = {
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
}
CLASSES = {
    "ship": "ship",
    "oilslick": "oilslick",
    "newbuilding": "new_building",
    "disappearbuilding": "disappeared_building",
    "timeseries": "change",
}
GRD = "S1A_IW_GRDH_1SDV_20240615T054211_20240615T054236_054744_471196_7FD4"
SLC = "S1A_IW_SLC__1SDV_20240615T054211_20240615T054238_054744_471196_A1B2"


def wait(c: httpx.Client, job_id: str, timeout: float = 15) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = c.get(f"/jobs/{job_id}").json()
        if job["status"] in ("completed", "failed"):
            return job
        assert job["status"] in ("pending", "processing")
        time.sleep(0.12)  # stay under the documented 10 requests/s
    raise AssertionError("job did not finish")


def result(c: httpx.Client, job: dict) -> dict:
    """Follow ``result_path`` (relative to the API's mount point) and the 302 without credentials."""
    url = str(c.base_url).rstrip("/").removesuffix("/api/v1") + job["result_path"]
    r = c.get(url)
    assert r.status_code == 302, r.text
    location = r.headers["location"]
    assert "/storage/sateais/" in location and "sig=" in location
    assert httpx.URL(location).port != c.base_url.port  # on the storage origin, as S3 is another host
    got = httpx.get(location)  # no Authorization on the pre-signed URL
    assert got.status_code == 200 and got.headers["content-type"].startswith("application/geo+json")
    return got.json()


def run(c: httpx.Client, kind: str, body: dict, verb: str = "analyze") -> dict:
    r = c.post(f"/{verb}/{kind}", json=body)
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "pending"
    job = wait(c, r.json()["job_id"])
    assert job["status"] == "completed", job
    return result(c, job)


def run_many(c: httpx.Client, requests: list[tuple[str, dict]]) -> list[dict]:
    """Submit up to 5 jobs at once (the concurrency limit), then collect their results in order."""
    ids = []
    for kind, body in requests:
        r = c.post(f"/analyze/{kind}", json=body)
        assert r.status_code == 202, r.text
        ids.append(r.json()["job_id"])
    return [result(c, wait(c, i)) for i in ids]


def jobs_created(sb) -> int:
    tenants = stats(sb)["providers"].get("sateais", {}).get("tenants", {})
    return sum(t["jobs"]["created"] for t in tenants.values())


@pytest.fixture
def sb(make_sandbox):
    return make_sandbox(time_scale=FAST)


@pytest.fixture(scope="module")
def no_jobs_sb(tmp_path_factory):
    """One sandbox for the tests whose requests must all be refused before a job exists."""
    with Sandbox(SandboxConfig(port=0, data_dir=tmp_path_factory.mktemp("sateais"), time_scale=FAST)) as sandbox:
        yield sandbox


@pytest.mark.parametrize("kind", list(BODIES))
def test_every_type_end_to_end_on_analyze_and_detect(sb, kind):
    with api(sb, "sateais") as c:
        created = c.post(f"/analyze/{kind}", json=BODIES[kind])
        assert created.status_code == 202
        job = created.json()
        assert set(job) == {
            "job_id",
            "status",
            "created_at",
            "completed_at",
            "result_path",
            "error_code",
            "error_message",
            "error",
        }
        assert job["status"] == "pending" and job["result_path"] is None and job["completed_at"] is None
        done = wait(c, job["job_id"])
        assert done["status"] == "completed" and done["completed_at"] >= done["created_at"]
        assert done["result_path"] == f"/api/v1/jobs/{job['job_id']}/result.geojson"
        assert done["error_code"] is done["error"] is done["error_message"] is None
        first = result(c, done)
        second = run(c, kind, BODIES[kind], verb="detect")
    assert first["type"] == "FeatureCollection" and first["sandbox"] is True
    assert first["crs"] == {"type": "name", "properties": {"name": "EPSG:4326"}}
    assert first["features"] == second["features"]  # same request -> same result, whichever path
    assert first["features"], f"{kind}: the synthetic scene should contain targets"
    minx, miny, maxx, maxy = (0, 0, 0.05, 0.05) if kind == "timeseries" else (139.7, 35.4, 139.9, 35.6)
    for i, f in enumerate(first["features"], 1):
        assert f["type"] == "Feature" and f["id"] == i and f["geometry"]["type"] == "Polygon"
        ring = f["geometry"]["coordinates"][0]
        assert ring[0] == ring[-1] and len(ring) >= 4
        assert all(minx - 1e-9 <= x <= maxx + 1e-9 and miny - 1e-9 <= y <= maxy + 1e-9 for x, y in ring)
        props = f["properties"]
        assert props["class"] == CLASSES[kind] and isinstance(props["area_sqm"], int) and props["area_sqm"] >= 0
        if kind == "oilslick":
            assert props["id"] == f["id"]
        if kind == "ship":
            assert props["length_m"] > 0
        if kind == "timeseries":
            assert props["date"] <= "2024-03-01" and props["mean_backscatter_db"] < 0


def test_detectors_find_the_planted_targets(sb):
    aois = [f"POLYGON(({x} 10, {x + 0.2} 10, {x + 0.2} 10.2, {x} 10.2, {x} 10))" for x in (1, 2, 3)]
    with api(sb, "sateais") as c:
        for aoi in aois:
            scene = {**S1, "polygon": aoi, "date": "2023-03-03"}
            change = {**S1, "polygon": aoi, "date_start": "2015-06-01", "date_end": "2025-06-01"}
            ships, slicks, new, gone = run_many(
                c, [("ship", scene), ("oilslick", scene), ("newbuilding", change), ("disappearbuilding", change)]
            )
            planted = ships["sandbox_info"]["planted"]
            assert planted["ships"] >= 3 and abs(len(ships["features"]) - planted["ships"]) <= 1
            assert len(slicks["features"]) == slicks["sandbox_info"]["planted"]["oilslicks"]
            assert abs(len(new["features"]) - new["sandbox_info"]["planted"]["new_buildings"]) <= 1
            assert abs(len(gone["features"]) - gone["sandbox_info"]["planted"]["disappeared_buildings"]) <= 1


def test_detector_algorithms_on_hand_made_images():
    rng = np.random.default_rng(7)
    sea = np.ones((128, 128), bool)
    img = 0.02 * rng.gamma(sar.LOOKS, 1 / sar.LOOKS, sea.shape)
    assert not sar.cfar(img, sea).any()  # pure speckle: no false alarms at Pfa 1e-7
    targets = [(20, 20), (20, 90), (64, 64), (100, 30), (110, 110)]
    for r, c in targets:
        img[r : r + 2, c : c + 3] = 2.0
    hits = sar.cfar(img, sea)
    assert all(hits[r, c] for r, c in targets) and hits.sum() == 5 * 6
    dark = img.copy()
    dark[40:60, 30:70] *= 0.1
    slick = sar.dark_spots(dark, sea)
    assert slick[50, 50] and not slick[100, 100] and 600 <= slick.sum() <= 900
    after = img.copy()
    after[80:85, 80:85] = 1.5
    assert sar.changes(sar.log_ratio(img, after), sea, 1)[82, 82]
    assert not sar.changes(sar.log_ratio(img, after), sea, -1)[82, 82]


def test_scene_id_request_uses_the_named_grd_scene(sb):
    with api(sb, "sateais") as c:
        geo = run(c, "ship", {**S1, "scene_id": GRD})
    assert geo["sandbox_info"]["scenes"] == [GRD]
    assert len(geo["features"]) >= geo["sandbox_info"]["planted"]["ships"] - 1


def test_result_is_404_before_completion_and_no_cancel(make_sandbox):
    sb = make_sandbox(time_scale=0.01)  # oilslick ~30 s
    with api(sb, "sateais") as c:
        job = c.post("/analyze/oilslick", json=BODIES["oilslick"]).json()
        r = c.get(f"/jobs/{job['job_id']}/result.geojson", follow_redirects=False)
        assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
        assert c.get(f"/jobs/{job['job_id']}").json()["result_path"] is None
        assert c.delete(f"/jobs/{job['job_id']}").status_code == 405
        assert c.post(f"/jobs/{job['job_id']}/cancel").status_code == 404


def test_result_gone_after_30_days_but_job_metadata_stays(sb):
    with api(sb, "sateais") as c:
        job = c.post("/analyze/timeseries", json=BODIES["timeseries"]).json()
        done = wait(c, job["job_id"])
        assert c.get(f"/jobs/{job['job_id']}/result.geojson").status_code == 302
        sb.ctx.store.update(job["job_id"], completed_at=time.time() - 30 * 86400 * FAST - 5)
        r = c.get(f"/jobs/{job['job_id']}/result.geojson")
        assert r.status_code == 410 and r.json()["error"]["code"] == "GONE"
        assert c.get(f"/jobs/{job['job_id']}").json()["status"] == done["status"] == "completed"


def test_signed_storage_url_tamper_and_expiry(sb):
    with api(sb, "sateais") as c:
        job = wait(c, c.post("/analyze/timeseries", json=BODIES["timeseries"]).json()["job_id"])
        location = c.get(f"/jobs/{job['job_id']}/result.geojson").headers["location"]
    assert httpx.get(location.replace("sig=", "sig=0")).status_code == 403
    r = httpx.get(re.sub(r"expires=\d+", "expires=9999999999", location))
    assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"
    time.sleep(1.8)  # the URL lives 3600 s x FAST = 0.72 s (rounded up to a whole second)
    assert httpx.get(location).status_code == 403
    assert stats(sb)["providers"]["sateais"]["auth_on_signed_urls"] == 0


def test_preview_is_free_and_validates_like_create(sb):
    with api(sb, "sateais") as c:
        r = c.post("/analyze/timeseries/preview", json=BODIES["timeseries"])
        assert r.status_code == 200
        p = r.json()
        assert p["endpoint_id"] == "timeseries" and 30 < p["area_sqkm"] < 32
        coverage = p["coverage"]  # the shape SDK 0.2.0 reads
        assert coverage["method"] == "estimated" and coverage["ratio"] == 1.0
        assert coverage["requested_area_sqkm"] == p["area_sqkm"] and coverage["polygon"].startswith("POLYGON")
        assert p["credits"] == {"estimated": 1, "balance": None, "sufficient": True} and p["warnings"] == []
        ship = c.post("/analyze/ship/preview", json={**BODIES["ship"], "date": "2024-06-02"}).json()
        [warning] = ship["warnings"]
        assert warning["code"] == "SCENE_DATE_OFFSET" and "days from 2024-06-02" in warning["message"]
        many = c.post("/analyze/timeseries/preview", json={**BODIES["timeseries"], "date_end": "2026-12-31"}).json()
        assert [w["code"] for w in many["warnings"]] == ["SCENES_SUBSAMPLED"]
        big = c.post("/analyze/timeseries/preview", json={**BODIES["timeseries"], "polygon": SEA_AOI})
        assert big.status_code == 400 and "exceeds 50 km² limit" in big.json()["error"]["message"]
    assert jobs_created(sb) == 0


def test_preview_says_whether_the_credits_suffice(make_sandbox):
    sb = make_sandbox(credits={"sateais": 1})
    with api(sb, "sateais") as c:
        before = c.post("/analyze/ship/preview", json=BODIES["ship"]).json()["credits"]
        assert before == {"estimated": 1, "balance": 1, "sufficient": True}
        assert c.post("/analyze/ship", json=BODIES["ship"]).status_code == 202
        after = c.post("/analyze/ship/preview", json=BODIES["ship"])
        assert after.status_code == 200 and after.json()["credits"] == {
            "estimated": 1,
            "balance": 0,
            "sufficient": False,
        }
        assert c.post("/analyze/ship", json=BODIES["ship"]).status_code == 402  # as the preview said


BAD = {
    "open ring": ({**BODIES["ship"], "polygon": "POLYGON((0 0, 1 0, 1 1))"}, "ship", "VALIDATION_ERROR", "not closed"),
    "lon range": (
        {**BODIES["ship"], "polygon": "POLYGON((179 0, 181 0, 181 1, 179 0))"},
        "ship",
        "VALIDATION_ERROR",
        "Longitude out of range",
    ),
    "lat range (lat-lon swapped)": (
        {**BODIES["ship"], "polygon": "POLYGON((35.4 139.7, 35.6 139.7, 35.6 139.9, 35.4 139.7))"},
        "ship",
        "VALIDATION_ERROR",
        "Latitude out of range",
    ),
    "self-intersection": (
        {**BODIES["newbuilding"], "polygon": "POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))"},
        "newbuilding",
        "VALIDATION_ERROR",
        "Self-intersection",
    ),
    "not wkt": ({**BODIES["ship"], "polygon": "139.7,35.4"}, "ship", "VALIDATION_ERROR", "WKT"),
    "timeseries area cap": (
        {**BODIES["timeseries"], "polygon": SEA_AOI},
        "timeseries",
        "VALIDATION_ERROR",
        "exceeds 50 km² limit for endpoint 'timeseries'",
    ),
    "newbuilding area cap": (
        {**BODIES["newbuilding"], "polygon": "POLYGON((0 0, 2 0, 2 2, 0 2, 0 0))"},
        "newbuilding",
        "VALIDATION_ERROR",
        "exceeds 30,000 km² limit for endpoint 'newbuilding'",
    ),
    "date range cap": (
        {**BODIES["timeseries"], "date_start": "2019-01-01", "date_end": "2022-01-02"},
        "timeseries",
        "VALIDATION_ERROR",
        "3 year limit",
    ),
    "date order": (
        {**BODIES["newbuilding"], "date_start": "2024-01-01", "date_end": "2023-01-01"},
        "newbuilding",
        "VALIDATION_ERROR",
        "date_start must be before date_end",
    ),
    "date format": ({**BODIES["ship"], "date": "01/06/2024"}, "ship", "VALIDATION_ERROR", "YYYY-MM-DD"),
    "satellite": ({**BODIES["ship"], "satellite_id": "sentinel-2"}, "ship", "VALIDATION_ERROR", "sentinel-1"),
    "both scene and polygon": ({**BODIES["ship"], "scene_id": GRD}, "oilslick", "VALIDATION_ERROR", "exactly one"),
    "neither": ({**S1, "date": "2024-06-01"}, "ship", "VALIDATION_ERROR", "exactly one"),
    "direction": ({**BODIES["ship"], "date_direction": "sideways"}, "ship", "VALIDATION_ERROR", "date_direction"),
    "SLC scene": ({**S1, "scene_id": SLC}, "ship", "INVALID_SCENE", "Only GRD"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_validation_errors_are_400_before_any_job(no_jobs_sb, case):
    sb = no_jobs_sb
    body, kind, code, fragment = BAD[case]
    with api(sb, "sateais") as c:
        for path in (f"/analyze/{kind}", f"/detect/{kind}", f"/analyze/{kind}/preview"):
            r = c.post(path, json=body)
            assert r.status_code == 400, r.text
            assert r.json()["error"]["code"] == code and fragment in r.json()["error"]["message"]
    assert jobs_created(sb) == 0


def test_scene_not_found_and_insufficient_scenes(no_jobs_sb):
    sb = no_jobs_sb
    future = (date.today() + timedelta(days=30)).isoformat()
    with api(sb, "sateais") as c:
        for body in (
            {**BODIES["ship"], "date": "2014-01-01"},
            {**BODIES["ship"], "date": future},
            {**BODIES["oilslick"], "date": date.today().isoformat(), "date_direction": "after"},
            {**S1, "scene_id": GRD.replace("20240615", "20130615")},
        ):
            r = c.post("/analyze/ship", json=body)
            assert r.status_code == 404 and r.json()["error"]["code"] == "SCENE_NOT_FOUND", body
        r = c.post(
            "/analyze/newbuilding", json={**BODIES["newbuilding"], "date_start": "2020-01-01", "date_end": "2020-01-05"}
        )
        assert r.status_code == 404 and r.json()["error"]["code"] == "INSUFFICIENT_SCENES"
        r = c.post("/detect/timeseries", json={**BODIES["timeseries"], "date_end": "2024-01-10"})
        assert r.status_code == 404 and r.json()["error"]["code"] == "INSUFFICIENT_SCENES"  # one ascending pass
    assert jobs_created(sb) == 0


def test_unknown_type_is_404(no_jobs_sb):
    with api(no_jobs_sb, "sateais") as c:
        for path in ("/analyze/cars", "/detect/cars", "/analyze/cars/preview", "/jobs/nope"):
            r = c.post(path, json=BODIES["ship"]) if "jobs" not in path else c.get(path)
            assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"


def test_unauthorized_and_tenant_isolation(make_sandbox):
    sb = make_sandbox(time_scale=FAST, tenants=[Tenant("sateais", "k1"), Tenant("sateais", "k2")])
    with httpx.Client(base_url=sb.base_url("sateais")) as anon:
        for headers in ({}, {"Authorization": "Bearer sk_live_wrong"}):
            r = anon.post("/analyze/ship", json={"not": "even valid"}, headers=headers)
            assert r.status_code == 401 and r.json() == {
                "error": {"code": "UNAUTHORIZED", "message": r.json()["error"]["message"]}
            }
    with api(sb, "sateais", key="k1") as a, api(sb, "sateais", key="k2") as b:
        job = a.post("/analyze/timeseries", json=BODIES["timeseries"]).json()
        assert wait(a, job["job_id"])["status"] == "completed"
        for path in (f"/jobs/{job['job_id']}", f"/jobs/{job['job_id']}/result.geojson"):
            r = b.get(path)
            assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
        assert a.get(f"/jobs/{job['job_id']}/result.geojson").status_code == 302


def test_sixth_concurrent_job_is_429_per_key(make_sandbox):
    sb = make_sandbox(time_scale=0.01, tenants=[Tenant("sateais", "k1"), Tenant("sateais", "k2")])
    with api(sb, "sateais", key="k1") as a, api(sb, "sateais", key="k2") as b:
        codes = [a.post("/detect/ship", json=BODIES["ship"]).status_code for _ in range(5)]
        assert codes == [202] * 5
        r = a.post("/analyze/oilslick", json=BODIES["oilslick"])
        assert r.status_code == 429 and r.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        assert b.post("/analyze/ship", json=BODIES["ship"]).status_code == 202  # another key is not affected
        assert a.post("/analyze/ship/preview", json=BODIES["ship"]).status_code == 200  # previews are not jobs


def test_request_rate_limit_is_429(make_sandbox):
    sb = make_sandbox()
    sb.config.rate_limits["sateais"]["api"] = [(3, 60.0)]
    with api(sb, "sateais") as c:
        codes = [c.get("/jobs/none") for _ in range(4)]
    assert [r.status_code for r in codes] == [404, 404, 404, 429]
    assert codes[-1].json()["error"]["code"] == "RATE_LIMIT_EXCEEDED" and int(codes[-1].headers["Retry-After"]) >= 1


def test_failed_job_emits_all_three_error_fields(make_sandbox):
    sb = make_sandbox(time_scale=FAST, faults={"sateais": {"fail": 1.0}})
    with api(sb, "sateais") as c:
        job = wait(c, c.post("/analyze/timeseries", json=BODIES["timeseries"]).json()["job_id"])
        assert job["status"] == "failed" and job["result_path"] is None
        assert job["error_code"] == job["error"] == "INTERNAL_ERROR" and job["error_message"]
        assert c.get(f"/jobs/{job['job_id']}/result.geojson").status_code == 404
