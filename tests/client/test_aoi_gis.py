"""AOIs the way GIS users send them: across the antimeridian, with heights, as MultiPolygons, with impossible
dates; the client cuts and refuses before sending, and the sandbox never fails on what preflight lets through."""

from __future__ import annotations

import json
from datetime import date

import pytest
import shapely
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.helpers import api, stats
from toolkit.client.aoi import parse_aois
from toolkit.client.model import PreflightError
from toolkit.sandbox.core import ApiError
from toolkit.sandbox.engines import sar
from toolkit.sandbox.providers.sateais import AnalyzeRequest, plan
from toolkit.workspace import Workspace

FIJI = "POLYGON ((179.95 -17, -179.95 -17, -179.95 -16.95, 179.95 -16.95, 179.95 -17))"
SCENE = [sar.find_scene(date(2026, 6, 15)).as_dict()]


def near_antimeridian(fc: dict) -> list[float]:
    lons = []
    for f in fc["features"]:
        g = shapely.geometry.shape(f["geometry"])
        lons += [x for p in getattr(g, "geoms", [g]) for x, _ in p.exterior.coords]
    return lons


def test_antimeridian_aoi_is_cut_in_two_polygons_of_the_right_size():
    parts = parse_aois("sateais", {"fiji": FIJI})
    assert [a.name for a in parts] == ["fiji-1", "fiji-2"]
    assert [a.geometry.bounds[::2] for a in parts] == [(179.95, 180.0), (-180.0, -179.95)]
    assert all(a.geometry.exterior.is_ccw for a in parts)
    assert 58 < sum(a.area_sqkm for a in parts) < 60  # 0.1° x 0.05° near 17° S, not a band round the globe


def test_heights_are_dropped_and_other_geometries_named():
    (z,) = parse_aois("sateais", "POLYGON Z ((14.5 35.8 10, 14.55 35.8 12, 14.55 35.85 11, 14.5 35.8 10))")
    assert not z.geometry.has_z and z.wkt == "POLYGON ((14.5 35.8, 14.55 35.8, 14.55 35.85, 14.5 35.8))"
    feature = {
        "type": "Polygon",
        "coordinates": [[[14.5, 35.8, 3.0], [14.6, 35.8, 3.0], [14.6, 35.9, 3.0], [14.5, 35.8, 3.0]]],
    }
    assert not parse_aois("sateais", feature)[0].geometry.has_z
    multi = shapely.MultiPolygon([shapely.box(14.5, 35.8, 14.52, 35.82), shapely.box(14.6, 35.8, 14.62, 35.82)])
    assert [a.name for a in parse_aois("sateais", {"two": multi})] == ["two-1", "two-2"]
    (line,) = parse_aois("sateais", "LINESTRING (0 0, 1 1)")
    assert isinstance(line, PreflightError) and "must be a Polygon or MultiPolygon" in str(line)
    (pole,) = parse_aois("sateais", "POLYGON ((0 80, 120 80, -120 80, 0 80))")
    assert isinstance(pole, PreflightError) and "encloses a pole" in str(pole)


def test_impossible_dates_are_named_as_such():
    from toolkit.client.providers.sateais import _iso

    wrong = _iso("sateais", "2026-02-30", "date")
    assert isinstance(wrong, PreflightError) and "2026-02-30 is not a real date" in str(wrong)
    assert "bad date format" in str(_iso("sateais", "30/02/2026", "date"))
    with pytest.raises(ApiError, match="'2026-02-30' is not a real date"):
        plan(
            "ship",
            AnalyzeRequest(satellite_id="sentinel-1", polygon="POLYGON ((0 0, 1 0, 1 1, 0 0))", date="2026-02-30"),
        )


def test_the_sandbox_refuses_3d_and_multipolygons_with_a_400(sandbox):
    with api(sandbox, "sateais") as c:
        for wkt, why in (
            ("POLYGON Z ((14.5 35.8 1, 14.55 35.8 1, 14.55 35.85 1, 14.5 35.8 1))", "2-D"),
            ("MULTIPOLYGON (((14.5 35.8, 14.55 35.8, 14.55 35.85, 14.5 35.8)))", "single WKT POLYGON"),
        ):
            r = c.post("/analyze/ship", json={"satellite_id": "sentinel-1", "polygon": wkt, "date": "2026-06-15"})
            assert r.status_code == 400 and why in r.json()["error"]["message"], r.text


def test_fiji_ships_lie_near_fiji_end_to_end(sandbox, tmp_path):
    ws = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    batch = ws.sateais.ship({"fiji": FIJI}, date="2026-06-15").wait(timeout=120)
    assert batch.status_counts()["succeeded"] == 2 and len(batch.jobs) == 2
    ships = batch.features()
    assert len(ships) > 0 and set(ships["aoi_name"].astype(str)) <= {"fiji-1", "fiji-2"}
    minx, miny, maxx, maxy = ships.total_bounds
    assert -17.0 <= miny and maxy <= -16.95
    assert ((ships.bounds["minx"] >= 179.95) | (ships.bounds["maxx"] <= -179.95)).all()
    # the same polygon sent as drawn (as another client would) is read the same way by the sandbox
    lons = near_antimeridian(sar.analyze("ship", FIJI, SCENE))
    assert lons and all(abs(x) >= 179.95 for x in lons)


coord = st.floats(-180, 180, allow_nan=False)
lat = st.floats(-85, 85, allow_nan=False)


@st.composite
def polygons(draw: st.DrawFn) -> str:
    """Small quads anywhere (many across the antimeridian), with or without heights, as WKT."""
    x, y = draw(coord), draw(lat)
    w, h = draw(st.floats(0.001, 0.2)), draw(st.floats(0.001, 0.2))
    pts = [(x, y), (x + w, y), (x + w + draw(st.floats(-0.05, 0.05)), y + h), (x, y + h), (x, y)]
    pts = [((px + 180) % 360 - 180, py) for px, py in pts]
    if draw(st.booleans()):
        return (
            "POLYGON Z (("
            + ", ".join(f"{px} {py} {draw(st.floats(-10, 3000))}" for px, py in pts[:-1])
            + f", {pts[0][0]} {pts[0][1]} 0))"
        )
    return "POLYGON ((" + ", ".join(f"{px} {py}" for px, py in pts) + "))"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(polygons())
def test_what_preflight_lets_through_the_sandbox_analyses(wkt):
    for aoi in parse_aois("sateais", wkt):
        if isinstance(aoi, PreflightError):
            continue
        p = plan("ship", AnalyzeRequest(satellite_id="sentinel-1", polygon=aoi.wkt, date="2026-06-15"))
        fc = sar.analyze("ship", p.aoi_wkt, [s.as_dict() for s in p.scenes])
        minx, miny, maxx, maxy = aoi.geometry.bounds
        for x in near_antimeridian(fc):
            assert minx - 1e-6 <= x <= maxx + 1e-6


# the same harbour with a hole (a breakwater basin), as three GIS tools would write it
SHELL = [(14.5, 35.8), (14.56, 35.8), (14.57, 35.83), (14.53, 35.86), (14.49, 35.83)]
HOLE = [(14.52, 35.81), (14.54, 35.81), (14.54, 35.82), (14.52, 35.82)]


def ring(points: list, ccw: bool, start: int) -> list:
    pts = points[start:] + points[:start]
    if shapely.LinearRing(pts).is_ccw != ccw:
        pts = pts[::-1]
    return [list(p) for p in pts] + [list(pts[0])]


def test_one_area_from_a_shapefile_geojson_or_bbox_is_one_job(sandbox, tmp_path):
    import geopandas as gpd

    # GeoJSON as RFC 7946 has it (exterior counter-clockwise, hole clockwise), with digits beyond a micro-degree
    noisy = [[x + 3e-9, y - 2e-9] for x, y in ring(SHELL, True, 0)]
    noisy[-1] = noisy[0]
    feature = {"type": "Polygon", "coordinates": [noisy, ring(HOLE, False, 0)]}
    geojson = tmp_path / "harbour.geojson"
    geojson.write_text(json.dumps({"type": "Feature", "properties": {"name": "harbour"}, "geometry": feature}))
    # a shapefile: rings the other way round (the ESRI order) and each starting at another vertex
    reversed_ = shapely.Polygon(ring(SHELL, False, 2), [ring(HOLE, True, 1)])
    shp = tmp_path / "harbour_esri.shp"
    gpd.GeoDataFrame(geometry=[reversed_], crs="EPSG:4326").to_file(shp)
    (a,), (b,), (c,) = (parse_aois("sateais", x) for x in (geojson, shp, reversed_))
    assert a.wkt == b.wkt == c.wkt, (a.wkt, b.wkt, c.wkt)
    assert a.geometry.exterior.is_ccw and not a.geometry.interiors[0].is_ccw  # RFC 7946 §3.1.6
    assert a.wkt.startswith("POLYGON ((14.49 35.83, ") and "e-" not in a.wkt  # canonical start, 6 decimals

    box = (14.5, 35.8, 14.6, 35.9)
    drawn = {"type": "Polygon", "coordinates": [ring(list(shapely.box(*box).exterior.coords)[:-1], False, 3)]}
    assert parse_aois("sateais", box)[0].wkt == parse_aois("sateais", drawn)[0].wkt

    ws = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    for aoi in (geojson, shp, {"harbour-basin": reversed_}):
        batch = ws.sateais.ship(aoi, date="2026-06-15").wait(timeout=120)
        assert batch.status_counts()["succeeded"] == 1
    tenant = stats(sandbox)["providers"]["sateais"]["tenants"][sandbox.tenant("sateais").id]
    assert tenant["jobs"]["created"] == 1  # server side: one job for the one area
    (job,) = batch.jobs
    sent = shapely.from_wkt(job.meta["body"]["polygon"])  # what went out: one valid 2-D POLYGON
    assert sent.geom_type == "Polygon" and sent.is_valid and sent.exterior.is_ccw
    assert job.meta["aoi_name"] == "harbour-basin"  # the latest name given wins (results follow the inputs)
    assert set(batch.features()["aoi_name"].astype(str)) <= {"harbour-basin"}


def test_an_area_recorded_by_the_previous_version_keeps_its_job_after_the_upgrade(sandbox, tmp_path):
    """Before AOIs were normalised, a job's key hashed the AOI as given at 8 decimals; a ledger written then
    must still own that area (SateAIs has no idempotency key: a new key would be a second paid job)."""
    from toolkit.client.ledger import idempotency_key

    as_given = shapely.Polygon(ring(SHELL, False, 2), [ring(HOLE, True, 1)])  # not in canonical form
    ws = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    (job,) = ws.sateais.ship({"harbour": as_given}, date="2026-06-15").wait(timeout=120).jobs
    old_body = {**job.meta["body"], "polygon": shapely.to_wkt(as_given, rounding_precision=8, trim=True)}
    assert old_body["polygon"] != job.meta["body"]["polygon"]
    content = json.dumps({"type": job.meta["type"], **old_body}, sort_keys=True).encode()
    old_key = idempotency_key("sateais", f"{job.operation}@sandbox", job.options, content)
    db = ws.ledger._db  # the ledger as the previous version wrote it: the same job under its old key
    with ws.ledger._lock:
        db.execute("UPDATE jobs SET key=? WHERE key=?", (old_key, job.key))
    ws2 = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    again = ws2.sateais.ship({"harbour": as_given}, date="2026-06-15").wait(timeout=120)
    assert [j.key for j in again.jobs] == [old_key] and again.status_counts()["succeeded"] == 1
    assert ws2.client("sateais").transport.requests == 0
    tenant = stats(sandbox)["providers"]["sateais"]["tenants"][sandbox.tenant("sateais").id]
    assert tenant["jobs"]["created"] == 1
