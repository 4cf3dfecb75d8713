"""SateAIs client against the real sandbox: every operation and AOI form, exactly-once under faults, the
5-active-jobs queue, zero-request re-runs, preflight with nothing sent, the /detect fallback, the 302 result."""

from __future__ import annotations

import json
import threading
import time
from datetime import date

import geopandas as gpd
import httpx
import pytest
import respx
import shapely

from tests.helpers import stats
from toolkit.client import runtime
from toolkit.client.aoi import geodesic_area_sqkm, parse_aois
from toolkit.client.model import PreflightError, Status
from toolkit.client.providers.sateais import FIRST_POLL, _job_error
from toolkit.client.providers.sateais_preview import Preview, PreviewWarning
from toolkit.sandbox import Sandbox
from toolkit.workspace import Workspace

FAST = 0.0005  # ship ~0.45 s, oilslick ~1.5 s, storage URLs 1.8 s
SEED = 3  # injected job failures hit 3 of the 12 AOIs (a function of the seed and the request body only)
#: for tests that are not about request rates: lift the 10 requests/s on both sides so polls are not throttled
UNTHROTTLED = {"sateais": {"api": [(1000, 1.0)]}}


def square(i: int, size: float = 0.05) -> shapely.Polygon:
    """The i-th small (~25 km²) square along the coast of Tokyo Bay."""
    x = 139.60 + 0.06 * i
    return shapely.box(x, 35.40, x + size, 35.40 + size)


def tenant_stats(sb: Sandbox) -> dict:
    return stats(sb)["providers"].get("sateais", {}).get("tenants", {}).get(sb.tenant("sateais").id, {})


def server_job(sb: Sandbox, job_id: str):
    return sb.ctx.store.get("sateais", sb.tenant("sateais").id, job_id)


def workspace(sb: Sandbox, tmp_path, name: str = "ws", unthrottled: bool = False) -> Workspace:
    ws = Workspace(tmp_path / name, sandbox=sb, quiet=True)
    if unthrottled:
        ws.sateais.transport.config.rate_limits = UNTHROTTLED["sateais"]["api"]
    return ws


def same(a, b, tolerance: float = 1e-6) -> bool:
    """The same polygon up to ``tolerance``, whatever ring start and orientation (AOIs are sent canonical)."""
    return shapely.normalize(a).equals_exact(shapely.normalize(b), tolerance)


def six_forms(tmp_path) -> tuple[list, list[str]]:
    """One AOI in each accepted form (file, GeoJSON dict, GeoDataFrame in EPSG:3857, shapely, bbox, WKT)."""
    path = tmp_path / "harbour.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [{"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(square(0))}],
            }
        )
    )
    feature = {"type": "Feature", "properties": {"name": "bay"}, "geometry": shapely.geometry.mapping(square(1))}
    frame = gpd.GeoDataFrame({"name": ["pier"]}, geometry=[square(2)], crs=4326).to_crs(3857)
    forms = [str(path), feature, frame, square(3), square(4).bounds, square(5).wkt]
    return forms, ["harbour", "bay", "pier", "aoi-4", "aoi-5", "aoi-6"]


CALLS = {
    "ship": dict(date="2026-06-15"),
    "oilslick": dict(date="2026-06-15", date_direction="before"),
    "newbuilding": dict(date_start="2024-01-01", date_end="2024-03-01"),
    "disappearbuilding": dict(date_start="2024-01-01", date_end="2024-03-01"),
    "timeseries": dict(date_start="2024-01-01", date_end="2024-03-01", orbit_direction="ascending"),
}
CLASSES = {
    "ship": "ship",
    "oilslick": "oilslick",
    "newbuilding": "new_building",
    "disappearbuilding": "disappeared_building",
    "timeseries": "change",
}


def test_every_operation_with_every_aoi_form(make_sandbox, tmp_path):
    sb = make_sandbox(time_scale=0.0002, rate_limits=UNTHROTTLED)  # oilslick ~0.6 s
    ws = workspace(sb, tmp_path, unthrottled=True)
    forms, names = six_forms(tmp_path)
    # five batches at once: 30 jobs through the one queue of 5 active jobs per key
    batches = {kind: getattr(ws.sateais, kind)(forms, **kw) for kind, kw in CALLS.items()}
    for kind, batch in batches.items():
        batch.wait(timeout=90)
        assert not batch.rejected
        assert batch.status_counts()["succeeded"] == 6, batch.to_frame()[["input", "status", "error_message"]]
        when = CALLS[kind].get("date") or "2024-01-01..2024-03-01"
        assert [j.input for j in batch.jobs] == [f"{n}@{when}" for n in names]
        for i, (job, rec) in enumerate(zip(batch.jobs, batch.records())):
            aoi = shapely.from_wkt(job.meta["aoi_wkt"])
            assert same(aoi, square(i))  # every form, the 3857 frame too, ends as the same lon-lat box
            assert job.meta["aoi_name"] == names[i] and job.meta["type"] == kind and 20 < job.meta["area_sqkm"] < 30
            sent = server_job(sb, job.job_id).request
            assert sent["polygon"] == job.meta["aoi_wkt"] and sent["satellite_id"] == "sentinel-1"
            assert {k: sent.get(k) for k in CALLS[kind]} == CALLS[kind]
            geo = rec["result"]
            assert geo["type"] == "FeatureCollection" and geo["sandbox"] is True
            minx, miny, maxx, maxy = square(i).bounds
            for f in geo["features"]:
                assert f["properties"]["class"] == CLASSES[kind]
                fx, fy = zip(*f["geometry"]["coordinates"][0])
                assert minx - 1e-6 <= min(fx) and max(fx) <= maxx + 1e-6
                assert miny - 1e-6 <= min(fy) and max(fy) <= maxy + 1e-6
        if kind in ("ship", "timeseries"):  # the synthetic scenes always hold ships; a time series has a row per scene
            assert all(r["result"]["features"] for r in batch.records())
    routes = tenant_stats(sb)["requests"]
    assert routes["POST /analyze/{type}"] == {"202": 30} and "POST /detect/{type}" not in routes
    assert routes["GET /jobs/{job_id}/result.geojson"] == {"302": 30}
    assert stats(sb)["providers"]["sateais"]["auth_on_signed_urls"] == 0  # the redirect was followed without the key


def test_aoi_forms_parse_to_the_same_polygon_and_names(tmp_path):
    poly = square(0)
    mapping = shapely.geometry.mapping(poly)
    merc = gpd.GeoSeries([poly], crs=4326).to_crs(3857)
    legacy_crs = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}},
        "features": [
            {"type": "Feature", "properties": {"name": "merc"}, "geometry": shapely.geometry.mapping(merc.iloc[0])}
        ],
    }
    gpkg = tmp_path / "zones.gpkg"
    gpd.GeoDataFrame({"name": ["z1", "z2"]}, geometry=[poly, square(1)], crs=4326).to_crs(32654).to_file(gpkg)
    got = parse_aois(
        "sateais",
        {
            "a": poly,
            "b": mapping,
            "c": poly.wkt,
            "d": poly.bounds,
            "e": merc,
            "f": json.dumps(mapping),
            "g": legacy_crs,
            "h": f"SRID=4326;{poly.wkt}",
        },
    )
    assert [a.name for a in got] == ["a", "b", "c", "d", "e", "f", "merc", "h"]
    assert all(same(a.geometry, poly) for a in got)
    zones = parse_aois("sateais", gpkg)
    assert [a.name for a in zones] == ["z1", "z2"] and same(zones[1].geometry, square(1))
    named_x = [
        {"type": "Feature", "properties": {"name": "x"}, "geometry": shapely.geometry.mapping(g)}
        for g in (poly, square(2))
    ]
    twice = parse_aois("sateais", [poly, square(1), *named_x])
    assert [a.name for a in twice] == ["aoi-1", "aoi-2", "x", "x-2"]
    assert abs(got[0].area_sqkm - geodesic_area_sqkm(poly)) < 1e-9 and 25 < got[0].area_sqkm < 26


def test_preview_is_free_synchronous_and_preflighted(sandbox, tmp_path):
    ws = workspace(sandbox, tmp_path)
    p = ws.sateais.preview("timeseries", square(0), date_start="2024-01-01", date_end="2024-03-01")
    assert isinstance(p, Preview) and p.type == "timeseries" and p.input == "aoi@2024-01-01..2024-03-01"
    assert abs(p.requested_area_sqkm - geodesic_area_sqkm(square(0))) < 0.01 and p.area_sqkm == p.requested_area_sqkm
    assert (p.coverage_method, p.coverage_ratio, p.warnings) == ("estimated", 1.0, ())
    assert same(shapely.from_wkt(p.coverage_polygon), square(0), 1e-7)  # usable as the next request's AOI
    assert (p.credits_estimated, p.credits_balance, p.credits_sufficient, p.credits_shortfall) == (
        1.0,
        None,
        True,
        None,
    )
    assert f"coverage: 100% of {p.requested_area_sqkm:.1f} km² (estimated)" in repr(p)
    assert "enough: yes" in p._repr_html_()
    many = ws.sateais.preview("ship", {"north": square(0), "south": square(1)}, date=["2026-06-15", "2026-06-16"])
    assert sorted(many) == ["north@2026-06-15", "north@2026-06-16", "south@2026-06-15", "south@2026-06-16"]
    [warning] = many["north@2026-06-16"].warnings
    assert warning.code == "SCENE_DATE_OFFSET" and "days from 2026-06-16" in warning.message
    assert f"warning SCENE_DATE_OFFSET</th><td style='text-align:left'>{warning.message}" in (
        many["north@2026-06-16"]._repr_html_()
    )
    sent = ws.sateais.transport.requests
    with pytest.raises(PreflightError, match="over the 50 km² limit for timeseries"):
        ws.sateais.preview("timeseries", square(0, 0.1), date_start="2024-01-01", date_end="2024-03-01")
    assert ws.sateais.transport.requests == sent
    assert tenant_stats(sandbox)["jobs"]["created"] == 0  # previews are free: no job


def test_preview_tells_when_credits_do_not_suffice(make_sandbox, tmp_path):
    sb = make_sandbox(credits={"sateais": 0})
    p = workspace(sb, tmp_path).sateais.preview("ship", square(0), date="2026-06-15")
    assert (p.credits_sufficient, p.credits_balance, p.credits_shortfall) == (False, 0.0, 1.0)
    assert "enough: no" in repr(p)


def test_preview_reads_what_the_sdk_reads_and_nothing_more():
    """Lenient like sateais 0.2.0's ``_preview_from_dict``: unknown method, no coverage, odd warnings."""
    body = {
        "endpoint_id": "ship",
        "coverage": {"method": "radar-magic", "ratio": True},
        "credits": {"estimated": None, "balance": 3, "sufficient": None},
        "warnings": [{"code": "CREDITS_NOT_ESTIMABLE", "message": None}, {"message": "no code"}, "text"],
    }
    p = Preview.from_response(body, type="ship", input="x")
    assert (p.coverage_method, p.coverage_ratio, p.credits_estimated, p.credits_sufficient) == (
        "unknown",
        None,
        None,
        None,
    )
    assert p.warnings == (PreviewWarning("CREDITS_NOT_ESTIMABLE", ""),) and p.credits_shortfall is None
    bare = Preview.from_response({"endpoint_id": "ship", "credits": {}}, type="ship", input="x")
    assert bare.coverage_method is None and bare.coverage_ratio is None and "coverage: unknown" in repr(bare)


def test_every_aoi_is_at_most_one_server_job_under_faults(make_sandbox, tmp_path):
    sb = make_sandbox(
        time_scale=FAST, faults={"sateais": {"5xx": 0.1, "429": 0.05, "drop": 0.02, "fail": 0.05}}, seed=SEED
    )
    ws = workspace(sb, tmp_path)
    aois = {f"cove-{i}": square(i) for i in range(12)}
    batch = ws.sateais.timeseries(aois, "2024-01-01", "2024-02-01").wait(timeout=90)
    counts = batch.status_counts()
    assert counts["succeeded"] + counts["failed"] == 12 and counts["succeeded"] >= 6
    t = tenant_stats(sb)
    per_digest = t["jobs_per_input_digest"]
    assert set(per_digest.values()) == {1}  # never a second job for the same AOI and date
    created = [j for j in batch.jobs if j.job_id]
    assert t["jobs"]["created"] == len(per_digest) == len(created)
    injected = [j for j in batch._failed_jobs() if j.job_id]
    assert injected and {j.error_code for j in injected} == {"INTERNAL_ERROR"}  # failed at the provider
    for j in batch._failed_jobs():
        assert j.error_code and j.error_message
        # a create cut off in flight is not sent again (no idempotency key): failed, no job id, and says why
        assert j.job_id or (j.error_code == "CONNECTION_LOST" and "not repeated" in j.error_message)
    assert len(batch.raw()) == counts["succeeded"]
    faults = stats(sb)["providers"]["sateais"]["faults"]
    assert faults.get("5xx", 0) > 0 and faults.get("429", 0) > 0


def test_twelve_aois_queue_locally_with_at_most_five_active(make_sandbox, tmp_path):
    sb = make_sandbox(time_scale=FAST)
    ws = workspace(sb, tmp_path)
    peak, stop = [0], threading.Event()

    def watch() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], sb.ctx.store.count_active("sateais", sb.tenant("sateais").id))
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        batch = ws.sateais.ship([square(i) for i in range(12)], "2026-06-15").wait(timeout=90)
    finally:
        stop.set()
        watcher.join()
    assert batch.status_counts()["succeeded"] == 12
    assert peak[0] == 5  # the queue was full, never over
    routes = tenant_stats(sb)["requests"]["POST /analyze/{type}"]
    assert routes == {"202": 12}  # no 429 for the sixth job: it waited on the client
    assert ws.sateais.transport.rate_limited == 0


def test_rerun_of_finished_batch_makes_no_request(sandbox, tmp_path):
    aois = {"harbour": square(0), "bay": square(1)}
    ws = workspace(sandbox, tmp_path)
    first = ws.sateais.timeseries(aois, "2024-01-01", "2024-03-01").wait(timeout=60)
    assert first.status_counts()["succeeded"] == 2
    ws2 = workspace(sandbox, tmp_path)  # as after a kernel restart
    again = ws2.sateais.timeseries(aois, date(2024, 1, 1), "2024-03-01").wait(timeout=10)
    assert ws2.sateais.transport.requests == 0
    assert again.id == first.id and again.raw() == first.raw()
    forced = ws2.sateais.timeseries(aois, "2024-01-01", "2024-03-01", force=True).wait(timeout=60)
    assert forced.id != first.id and ws2.sateais.transport.requests > 0
    assert tenant_stats(sandbox)["jobs"]["created"] == 4


def test_reattach_while_running_and_uncertain_create_is_not_resent(make_sandbox, tmp_path):
    sb = make_sandbox(time_scale=0.004)  # timeseries ~1.2 s
    ws = workspace(sb, tmp_path)
    aois = [square(i) for i in range(3)]
    running = ws.sateais.timeseries(aois, "2024-01-01", "2024-03-01")
    deadline = time.monotonic() + 10
    while not all(j.job_id for j in ws.ledger.jobs(batch_id=running.id)) and time.monotonic() < deadline:
        time.sleep(0.02)
    ws2 = workspace(sb, tmp_path)  # a second kernel re-running the cell: re-attaches by job id
    again = ws2.sateais.timeseries(aois, "2024-01-01", "2024-03-01").wait(timeout=60)
    assert again.status_counts()["succeeded"] == 3
    assert [j.job_id for j in again.jobs] == [j.job_id for j in running.wait(timeout=60).jobs]
    assert tenant_stats(sb)["jobs"]["created"] == 3
    # a create whose answer was lost (job id unknown) is neither replayed nor found: SateAIs has no job list
    ws3 = workspace(sb, tmp_path, "ws3")
    items = ws3.sateais.items("ship", square(7), "2026-06-15")
    pending = ws3.sateais.submit("ship", items, start=False)
    job = pending.jobs[0]
    job.meta["create_sent"] = True
    ws3.ledger.save(job, "meta")
    lost = workspace(sb, tmp_path, "ws3").sateais.ship(square(7), "2026-06-15").wait(timeout=10)
    assert lost.jobs[0].status == Status.FAILED and lost.jobs[0].error_code == "SUBMISSION_UNCERTAIN"
    assert tenant_stats(sb)["jobs"]["created"] == 3


GRD = "S1A_IW_GRDH_1SDV_20240615T054211_20240615T054236_054744_471196_7FD4"
BOWTIE = "POLYGON ((139.7 35.4, 139.75 35.45, 139.75 35.4, 139.7 35.45, 139.7 35.4))"
OPEN_RING = {"type": "Polygon", "coordinates": [[[139.7, 35.4], [139.75, 35.4], [139.75, 35.45], [139.7, 35.45]]]}
PREFLIGHT = {
    "self-intersecting": (
        ("newbuilding", BOWTIE, {"date_start": "2024-01-01", "date_end": "2024-03-01"}),
        "aoi",
        "the polygon is self-intersecting (Self-intersection[139.725 35.425])",
    ),
    "open ring dict": (
        ("ship", {"type": "Feature", "properties": {"name": "quay"}, "geometry": OPEN_RING}, {"date": "2026-06-15"}),
        "quay",
        "open ring: the first point [139.7, 35.4] and the last point",
    ),
    "open ring wkt": (
        ("ship", "POLYGON ((139.7 35.4, 139.75 35.4, 139.75 35.45))", {"date": "2026-06-15"}),
        "aoi",
        "open ring: the first and last points of a polygon ring differ",
    ),
    "lat/lon swapped": (
        ("ship", (35.4, 139.7, 35.45, 139.75), {"date": "2026-06-15"}),
        "aoi",
        "looks like lat/lon swapped",
    ),
    "point": (
        ("ship", shapely.Point(139.7, 35.4), {"date": "2026-06-15"}),
        "aoi",
        "the geometry is a Point; an AOI must be a Polygon",
    ),
    "line": (
        ("oilslick", {"type": "LineString", "coordinates": [[139.7, 35.4], [139.8, 35.5]]}, {"date": "2026-06-15"}),
        "aoi",
        "the geometry is a LineString",
    ),
    "projected, no crs": (
        ("ship", (390000, 3917000, 395000, 3922000), {"date": "2026-06-15"}),
        "aoi",
        "outside lon -180..180 / lat -90..90: projected coordinates?",
    ),
    "timeseries area": (
        ("timeseries", square(0, 0.1), {"date_start": "2024-01-01", "date_end": "2024-03-01"}),
        "aoi",
        "the area is 100.7 km², over the 50 km² limit for timeseries",
    ),
    "newbuilding area": (
        ("newbuilding", (10.0, 0.0, 12.0, 2.0), {"date_start": "2024-01-01", "date_end": "2024-03-01"}),
        "aoi",
        "over the 30,000 km² limit for newbuilding",
    ),
    "missing file": (
        ("ship", "nowhere/harbour.geojson", {"date": "2026-06-15"}),
        "nowhere/harbour.geojson",
        "the AOI file does not exist",
    ),
    "timeseries range": (
        ("timeseries", square(0), {"date_start": "2020-01-01", "date_end": "2023-01-02"}),
        "2020-01-01..2023-01-02",
        "the range is 1097 days, over the 3-year limit for timeseries",
    ),
    "date format": (
        ("ship", square(0), {"date": "15/06/2026"}),
        "date '15/06/2026'",
        "bad date format: dates must be YYYY-MM-DD",
    ),
    "start after end": (
        ("disappearbuilding", square(0), {"date_start": "2024-03-01", "date_end": "2024-01-01"}),
        "2024-03-01..2024-01-01",
        "date_start 2024-03-01 must be before date_end 2024-01-01",
    ),
    "scene and aoi": (("ship", square(0), {"scene_id": GRD}), GRD, "give either scene_id or an aoi (+ date), not both"),
    "neither scene nor aoi": (
        ("oilslick", None, {"date": "2026-06-15"}),
        "(no AOI)",
        "give an aoi with a date, or a scene_id",
    ),
    "SLC scene": (
        ("ship", None, {"scene_id": "S1A_IW_SLC__1SDV_20240615T054211_20240615T054238_054744_471196_A1B2"}),
        "S1A_IW_SLC__1SDV_20240615T054211_20240615T054238_054744_471196_A1B2",
        "only GRD scenes",
    ),
}


@pytest.fixture(scope="module")
def shared_sb(tmp_path_factory):
    with Sandbox(port=0, data_dir=tmp_path_factory.mktemp("sateais-client"), time_scale=FAST) as sb:
        yield sb


@pytest.mark.parametrize("case", list(PREFLIGHT))
def test_preflight_names_the_aoi_and_reason_and_sends_nothing(shared_sb, tmp_path, case):
    (kind, aoi, kw), name, fragment = PREFLIGHT[case]
    ws = workspace(shared_sb, tmp_path)
    with pytest.raises(PreflightError) as raised:  # the only input refused: raised, nothing recorded
        getattr(ws.sateais, kind)(aoi, **kw) if aoi is not None else getattr(ws.sateais, kind)(**kw)
    (err,) = raised.value.rejected
    assert err.input == name and fragment in err.message, err.message
    assert str(err).startswith(f"{name}: ") and str(err).endswith("(not sent to sateais)")
    assert ws.sateais.transport.requests == 0
    assert "sateais" not in stats(shared_sb)["providers"]


def test_bad_aois_are_rejected_and_the_rest_of_the_batch_goes_on(sandbox, tmp_path):
    ws = workspace(sandbox, tmp_path)
    aois = {"good": square(0), "bowtie": BOWTIE, "swapped": (35.4, 139.7, 35.45, 139.75), "big": square(1, 0.1)}
    batch = ws.sateais.timeseries(aois, ["2024-01-01", "2024-02-01"], ["2024-03-01", "20240401"]).wait(timeout=60)
    assert [j.input for j in batch.jobs] == ["good@2024-01-01..2024-03-01"]
    assert batch.status_counts()["succeeded"] == 1
    assert sorted(e.input for e in batch.rejected) == ["big", "bowtie", "date_end '20240401'", "swapped"]
    assert tenant_stats(sandbox)["jobs"]["created"] == 1
    with pytest.raises(ValueError, match="date_direction='sideways'"):
        ws.sateais.ship(square(0), "2026-06-15", date_direction="sideways")


def test_detect_fallback_after_404_is_remembered(make_sandbox, tmp_path):
    sandbox = make_sandbox(time_scale=FAST, rate_limits=UNTHROTTLED)
    ws = workspace(sandbox, tmp_path, unthrottled=True)
    with respx.mock(assert_all_called=False) as mock:
        analyze = mock.post(url__regex=r"/sateais/api/v1/analyze/[a-z]+$").respond(
            404, json={"error": {"code": "NOT_FOUND", "message": "Not Found"}}
        )
        mock.route().pass_through()
        batch = ws.sateais.ship([square(i) for i in range(8)], "2026-06-15").wait(timeout=60)
    assert batch.status_counts()["succeeded"] == 8
    assert ws.sateais.adapter.verb == "detect" and {j.meta["endpoint"] for j in batch.jobs} == {"detect"}
    assert 1 <= analyze.call_count <= 5 < 8  # the creates after the first fallback go straight to /detect
    routes = tenant_stats(sandbox)["requests"]
    assert routes["POST /detect/{type}"] == {"202": 8} and "POST /analyze/{type}" not in routes


def test_named_grd_scenes_instead_of_an_aoi(make_sandbox, tmp_path):
    sandbox = make_sandbox(time_scale=0.0002)  # oilslick ~0.6 s
    ws = workspace(sandbox, tmp_path)
    other = GRD.replace("20240615T0542", "20240621T1742").replace("20240615T054236", "20240621T174236")
    b = ws.sateais.oilslick(scene_id=[GRD, other]).wait(timeout=30)
    assert [j.input for j in b.jobs] == [GRD, other] and b.status_counts()["succeeded"] == 2
    assert [r["result"]["sandbox_info"]["scenes"] for r in b.raw()] == [[GRD], [other]]
    assert server_job(sandbox, b.jobs[0].job_id).request == {
        "type": "oilslick",
        "satellite_id": "sentinel-1",
        "scene_id": GRD,
    }


def test_a_scene_not_found_404_is_an_answer_not_a_missing_route(sandbox, tmp_path):
    ws = workspace(sandbox, tmp_path)
    batch = ws.sateais.ship(square(0), "2014-06-01").wait(timeout=30)  # after launch, before the archive
    job = batch.jobs[0]
    assert job.status == Status.FAILED and job.error_code == "SCENE_NOT_FOUND" and job.http_status == 404
    assert "2014-06-01" in job.error_message and job.job_id is None
    assert ws.sateais.adapter.verb == "analyze" and "POST /detect/{type}" not in tenant_stats(sandbox)["requests"]


def test_result_redirect_without_auth_lenient_json_and_410_expired(sandbox, tmp_path):
    ws = workspace(sandbox, tmp_path)
    nan_body = (
        b'{"type":"FeatureCollection","features":[{"type":"Feature","id":1,"geometry":null,'
        b'"properties":{"class":"ship","area_sqm":NaN,"length_m":Infinity}}]}'
    )
    with respx.mock(assert_all_called=False) as mock:
        storage = mock.get(url__regex=r"/storage/sateais/").respond(200, content=nan_body)
        mock.route().pass_through()
        batch = ws.sateais.ship(square(0), "2026-06-15").wait(timeout=30)
    assert batch.status_counts()["succeeded"] == 1 and storage.call_count == 1
    assert "authorization" not in storage.calls[0].request.headers and "sig=" in str(storage.calls[0].request.url)
    cached = ws.ledger.get_result(batch.jobs[0].result_digest)
    assert cached == nan_body  # stored as received
    props = batch.raw()[0]["result"]["features"][0]["properties"]
    assert props["class"] == "ship" and props["area_sqm"] != props["area_sqm"]  # NaN survives parsing
    with respx.mock(assert_all_called=False) as mock:
        mock.get(url__regex=r"/jobs/[^/]+/result\.geojson$").respond(
            410, json={"error": {"code": "GONE", "message": "Results are retained for 30 days after completion"}}
        )
        mock.route().pass_through()
        gone = ws.sateais.ship(square(1), "2026-06-15").wait(timeout=30)
    job = gone.jobs[0]
    assert job.status == Status.EXPIRED and job.error_code == "GONE" and job.http_status == 410


def test_an_ambiguous_create_is_never_sent_twice(sandbox, tmp_path):
    ws = workspace(sandbox, tmp_path)
    with respx.mock(assert_all_called=False) as mock:
        cut = mock.post(url__regex=r"/analyze/ship$").mock(side_effect=httpx.ReadError("connection reset"))
        mock.route().pass_through()
        b = ws.sateais.ship({"quay": square(0)}, "2026-06-15").wait(timeout=30)
        assert cut.call_count == 1  # not retried: the job may exist
        cut.mock(return_value=httpx.Response(500, json={"error": {"code": "INTERNAL_ERROR", "message": "boom"}}))
        b500 = ws.sateais.ship({"dock": square(1)}, "2026-06-15").wait(timeout=30)
        assert cut.call_count == 2  # a 500 after the request left is ambiguous too
    j = b.jobs[0]
    assert (j.status, j.error_code, j.job_id) == (Status.FAILED, "CONNECTION_LOST", None)
    assert "not repeated automatically" in j.error_message
    assert (b500.jobs[0].error_code, b500.jobs[0].http_status) == ("INTERNAL_ERROR", 500)
    sent = ws.sateais.transport.requests
    again = workspace(sandbox, tmp_path).sateais.ship({"quay": square(0)}, "2026-06-15").wait(timeout=10)
    assert again.jobs[0].status == Status.FAILED and ws.sateais.transport.requests == sent  # re-run: no resend
    retried = b.retry_failed().wait(timeout=30)  # the user's explicit decision: a new job
    assert retried.id != b.id and retried.status_counts()["succeeded"] == 1
    assert tenant_stats(sandbox)["jobs"]["created"] == 1


def test_error_shapes_and_flat_request_errors(sandbox, tmp_path):
    assert _job_error({"error_code": "A", "error": "B", "error_message": "m"}) == ("A", "m")
    assert _job_error({"error": "VALIDATION_ERROR", "error_message": "too big"}) == ("VALIDATION_ERROR", "too big")
    assert _job_error({"error": {"code": "GONE", "message": "old"}}) == ("GONE", "old")
    ws = workspace(sandbox, tmp_path)
    with respx.mock(assert_all_called=False) as mock:
        mock.post(url__regex=r"/analyze/ship$").respond(
            402, json={"error_code": "INSUFFICIENT_CREDITS", "error_message": "0 credits left"}
        )
        mock.route().pass_through()
        b = ws.sateais.ship(square(0), "2026-06-15").wait(timeout=30)
    j = b.jobs[0]
    assert (j.status, j.error_code, j.http_status) == (Status.FAILED, "INSUFFICIENT_CREDITS", 402)
    assert j.error_message.startswith("0 credits left")  # the flat error_message, maybe with a hint after it
    assert "INSUFFICIENT_CREDITS: 0 credits left" in str(j.error()) and "aoi@2026-06-15" in str(j.error())


def test_failed_job_carries_the_provider_code_and_message(make_sandbox, tmp_path):
    sb = make_sandbox(time_scale=FAST, faults={"sateais": {"fail": 1.0}})
    ws = workspace(sb, tmp_path)
    b = ws.sateais.timeseries(square(0), "2024-01-01", "2024-03-01").wait(timeout=30)
    j = b.jobs[0]
    assert j.status == Status.FAILED and j.provider_status == "failed"
    assert j.error_code == server_job(sb, j.job_id).error_code == "INTERNAL_ERROR" and j.error_message
    assert b.raw() == [] and runtime.run(ws.sateais.adapter.cancel(j)) is False


def test_first_poll_follows_the_job_type(sandbox, tmp_path):
    ws = workspace(sandbox, tmp_path)
    client = ws.sateais
    scale = client.transport.config.time_scale
    for kind, first in FIRST_POLL.items():
        items = client.items(
            kind,
            square(0),
            "2026-06-15" if kind in ("ship", "oilslick") else None,
            **({} if kind in ("ship", "oilslick") else {"date_start": "2024-01-01", "date_end": "2024-03-01"}),
        )
        batch = client.submit(kind, items, start=False)
        job = batch.jobs[0]
        job.submitted_at = time.time()
        assert abs(batch._next_delay(job, False, 60 * scale, scale) - first * scale) < 0.01
        assert abs(batch._next_delay(job, True, 60 * scale, scale) - 60 * scale) < 1e-9
    assert FIRST_POLL == {"ship": 300, "oilslick": 600, "newbuilding": 300, "disappearbuilding": 300, "timeseries": 120}
    assert client.transport.requests == 0
