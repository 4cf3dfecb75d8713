"""The official SateAIs SDK and CLI (sateais 0.2.0) against the sandbox: every analysis type, status, wait and
result through the 302, the preview of every type, errors as the SDK maps them, and the CLI with --wait and -o."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sateais
import shapely
from pyproj import Geod
from sateais import AnalysisPreview, Client, CoverageMethod, JobStatus, SceneWarning

from tests.helpers import stats
from toolkit.sandbox import Sandbox

FAST = 0.0002  # oilslick ~0.6 s; the signed result URL lives 0.72 s; retention ~8.6 min
POLL = 0.1  # the SDK's poll interval: stays under the documented 10 requests/s
SEA = "POLYGON((139.7 35.4, 139.9 35.4, 139.9 35.6, 139.7 35.6, 139.7 35.4))"  # ~400 km²
SMALL = "POLYGON((14.5 35.88, 14.55 35.88, 14.55 35.92, 14.5 35.92, 14.5 35.88))"  # ~20 km²: timeseries
GRD = "S1A_IW_GRDH_1SDV_20240615T054211_20240615T054236_054744_471196_7FD4"
RANGE = {"date_start": "2024-01-01", "date_end": "2024-03-01"}
#: every analysis type, as the SDK's keyword arguments
CALLS = {
    "ship": {"polygon": SEA, "date": "2024-05-31"},  # a scene's day: no SCENE_DATE_OFFSET warning
    "oilslick": {"scene_id": GRD},
    "newbuilding": {"polygon": SEA, "date_start": "2016-01-01", "date_end": "2024-01-01"},
    "disappearbuilding": {"polygon": SEA, "date_start": "2016-01-01", "date_end": "2024-01-01"},
    "timeseries": {"polygon": SMALL, **RANGE, "orbit_direction": "ascending"},
}
CLASSES = {
    "ship": "ship",
    "oilslick": "oilslick",
    "newbuilding": "new_building",
    "disappearbuilding": "disappeared_building",
    "timeseries": "change",
}
STORAGE_ROUTE = "GET /{job_id}/result.geojson"  # the signed-URL route, under /storage/sateais


@pytest.fixture
def sb(make_sandbox) -> Sandbox:
    return make_sandbox(time_scale=FAST)


@pytest.fixture
def client(sb: Sandbox) -> Iterator[Client]:
    with Client(api_key=sb.key("sateais"), base_url=sb.base_url("sateais"), timeout=10) as c:
        yield c


def sateais_stats(sb: Sandbox) -> dict:
    return stats(sb)["providers"]["sateais"]


def requests_of(sb: Sandbox, route: str) -> dict[str, int]:
    return sateais_stats(sb)["tenants"].get(sb.tenant("sateais").id, {}).get("requests", {}).get(route, {})


def storage_requests(sb: Sandbox) -> dict[str, dict[str, int]]:
    """Requests on the signed-URL routes: they carry no key, so they count under no tenant ("-")."""
    return sateais_stats(sb)["tenants"].get("-", {}).get("requests", {})


def area_sqkm(wkt: str) -> float:
    return abs(Geod(ellps="WGS84").geometry_area_perimeter(shapely.from_wkt(wkt))[0]) / 1e6


def test_every_analysis_type_status_wait_and_result_through_the_302(sb, client):
    for kind, kwargs in CALLS.items():
        job = getattr(client.analyze, kind)(**kwargs)
        assert job.status is JobStatus.PENDING and job.job_id and job.result_path is None, (kind, job)
        result = client.jobs.wait(job.job_id, poll_interval=POLL, timeout=30)
        assert result["type"] == "FeatureCollection", kind
        assert {f["properties"]["class"] for f in result["features"]} <= {CLASSES[kind]}, kind
        done = client.jobs.status(job.job_id)
        assert done.status is JobStatus.COMPLETED and done.is_terminal and done.completed_at, (kind, done)
        assert done.result_path == f"/api/v1/jobs/{job.job_id}/result.geojson" and done.error_code is None
        assert client.jobs.result(job.job_id) == result, kind  # the 302 again, to a fresh signed URL
    # every result came from the storage origin (2 per type), and the SDK never sent its key there
    assert requests_of(sb, "GET /jobs/{job_id}/result.geojson") == {"302": 2 * len(CALLS)}
    assert storage_requests(sb) == {STORAGE_ROUTE: {"200": 2 * len(CALLS)}}
    assert sateais_stats(sb)["auth_on_signed_urls"] == 0


def test_preview_of_every_type_in_the_sdks_shape(sb, client):
    for kind, kwargs in CALLS.items():
        p = getattr(client.preview, kind)(**kwargs)
        assert isinstance(p, AnalysisPreview) and p.endpoint_id == kind
        assert p.coverage is not None and p.coverage.method is CoverageMethod.ESTIMATED, (kind, p.coverage)
        aoi = p.coverage.polygon
        assert p.coverage.ratio == 1.0 and shapely.from_wkt(aoi).geom_type == "Polygon", kind
        assert (
            abs(p.coverage.requested_area_sqkm - area_sqkm(aoi)) < 0.01
            and p.area_sqkm == p.coverage.requested_area_sqkm
        )
        if "polygon" in kwargs:  # the analysed polygon is the one sent
            assert shapely.from_wkt(aoi).equals_exact(shapely.from_wkt(kwargs["polygon"]), 1e-7), kind
        assert (p.credits.estimated, p.credits.balance, p.credits.sufficient) == (1.0, None, True), kind
        assert p.credits.shortfall is None and p.warnings == (), (kind, p.warnings)
    # a scene away from the date: a warning the SDK keeps (code and message), not a dropped string
    off = client.preview.ship(polygon=SEA, date="2024-06-02")
    assert off.warnings == (SceneWarning("SCENE_DATE_OFFSET", off.warnings[0].message),)
    assert "days from 2024-06-02" in off.warnings[0].message
    many = client.preview.timeseries(polygon=SMALL, date_start="2023-01-01", date_end="2025-12-31")
    assert [w.code for w in many.warnings] == ["SCENES_SUBSAMPLED"]
    tenant = sateais_stats(sb)["tenants"][sb.tenant("sateais").id]
    assert tenant["jobs"]["created"] == 0  # previews create nothing


def test_preview_credits_and_the_402_agree(make_sandbox):
    sb = make_sandbox(time_scale=FAST, credits={"sateais": 1})
    with Client(api_key=sb.key("sateais"), base_url=sb.base_url("sateais")) as client:
        before = client.preview.ship(**CALLS["ship"]).credits
        assert (before.estimated, before.balance, before.sufficient, before.shortfall) == (1.0, 1.0, True, 0.0)
        client.analyze.ship(**CALLS["ship"])
        after = client.preview.ship(**CALLS["ship"]).credits  # no error: "sufficient: false" is the answer
        assert (after.balance, after.sufficient, after.shortfall) == (0.0, False, 1.0)
        with pytest.raises(sateais.InsufficientCreditsError) as e:
            client.analyze.ship(**CALLS["ship"])
        assert e.value.status_code == 402 and e.value.code == "INSUFFICIENT_CREDITS"


def test_errors_reach_the_sdk_as_its_own_exceptions(sb, client):
    with pytest.raises(sateais.ValidationError) as e:
        client.analyze.timeseries(polygon=SEA, **RANGE)  # over the 50 km² cap
    assert e.value.code == "VALIDATION_ERROR" and "exceeds 50 km² limit" in str(e.value)
    with pytest.raises(sateais.ValidationError) as e:
        client.preview.oilslick(scene_id=GRD.replace("GRDH", "SLC_"))
    assert e.value.code == "INVALID_SCENE"
    with pytest.raises(sateais.NotFoundError) as e:
        client.jobs.status("no-such-job")
    assert e.value.code == "NOT_FOUND"
    with pytest.raises(sateais.NotFoundError) as e:
        client.preview.newbuilding(polygon=SEA, date_start="2024-01-01", date_end="2024-01-04")
    assert e.value.code == "INSUFFICIENT_SCENES"
    with Client(api_key="sk_live_wrong", base_url=sb.base_url("sateais")) as stranger:
        with pytest.raises(sateais.AuthenticationError) as e:
            stranger.jobs.status("x")
    assert e.value.status_code == 401 and e.value.code == "UNAUTHORIZED"
    jobs = [client.analyze.oilslick(**CALLS["ship"]) for _ in range(5)]  # ~0.6 s each: all five still active
    with pytest.raises(sateais.RateLimitError) as e:
        client.analyze.oilslick(**CALLS["ship"])
    assert e.value.code == "RATE_LIMIT_EXCEEDED"
    for job in jobs:
        client.jobs.wait(job.job_id, poll_interval=0.3, timeout=30)


def cli(sb: Sandbox, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The SDK's own console script, configured only through its documented environment variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SATEAIS_")}
    env |= {"SATEAIS_API_KEY": sb.key("sateais"), "SATEAIS_BASE_URL": sb.base_url("sateais"), "HOME": str(tmp_path)}
    exe = Path(sys.executable).with_name("sateais")
    return subprocess.run([str(exe), *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)


def test_the_cli_with_wait_and_output_files(sb, tmp_path):
    waited = cli(
        sb,
        tmp_path,
        "analyze",
        "ship",
        "--polygon",
        SEA,
        "--date",
        "2024-06-01",
        "--wait",
        "--poll-interval",
        str(POLL),
        "-o",
        "ship.geojson",
    )
    assert waited.returncode == 0, waited.stderr
    assert "Wrote ship.geojson" in waited.stderr and "status=completed" in waited.stderr
    ships = json.loads((tmp_path / "ship.geojson").read_text())
    assert ships["type"] == "FeatureCollection" and ships["features"]
    assert {f["properties"]["class"] for f in ships["features"]} == {"ship"}

    submitted = cli(sb, tmp_path, "analyze", "timeseries", "--json", json.dumps(CALLS["timeseries"]), "-o", "job.json")
    assert submitted.returncode == 0, submitted.stderr
    job = json.loads((tmp_path / "job.json").read_text())
    assert job["status"] == "pending" and set(job) == {"job_id", "status", "created_at"}
    waited = cli(sb, tmp_path, "jobs", "wait", job["job_id"], "--poll-interval", str(POLL), "-o", "series.geojson")
    assert waited.returncode == 0, waited.stderr
    status = cli(sb, tmp_path, "jobs", "status", job["job_id"])
    assert json.loads(status.stdout)["status"] == "completed"
    again = cli(sb, tmp_path, "jobs", "result", job["job_id"], "-o", "again.geojson")
    assert (
        again.returncode == 0 and (tmp_path / "again.geojson").read_text() == (tmp_path / "series.geojson").read_text()
    )

    preview = cli(sb, tmp_path, "preview", "newbuilding", "--polygon", SEA, *_range_flags(), "-o", "plan.json")
    assert preview.returncode == 0, preview.stderr
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan["coverage"]["method"] == "estimated" and plan["coverage"]["ratio"] == 1.0
    assert plan["credits"] == {"estimated": 1.0, "balance": None, "sufficient": True} and plan["warnings"] == []

    refused = cli(sb, tmp_path, "analyze", "timeseries", "--polygon", SEA, *_range_flags())
    assert refused.returncode == 6 and "VALIDATION_ERROR" in refused.stderr  # the CLI's exit code for a 4xx
    assert sateais_stats(sb)["auth_on_signed_urls"] == 0


def _range_flags() -> list[str]:
    return ["--date-start", RANGE["date_start"], "--date-end", RANGE["date_end"]]
