"""SateAIs areas on a map and the results map, in plain pytest (no kernel, no browser): the DrawControl's on_draw
callback is called with the GeoJSON Leaflet sends, and what follows is compared with the Python call's own
answers (its plan, keys and refusals) against the sandbox."""

from __future__ import annotations

import datetime
import io
import socket
from contextlib import redirect_stdout

import geopandas as gpd
import ipyleaflet as L
import pytest
import shapely

from tests.widgets.test_form import created
from toolkit.client.aoi import parse_aois
from toolkit.client.model import PreflightError
from toolkit.widgets import AoiMap, features_map
from toolkit.workspace import Workspace

DATE = "2024-06-01"
HARBOUR = (14.50, 35.88, 14.53, 35.90)  # Grand Harbour, Valletta
INLAND = (35.88, 14.50, 35.90, 14.53)  # the same numbers read (lat, lon): Sudan, ~400 km from the sea


@pytest.fixture
def ws(sandbox, tmp_path) -> Workspace:
    return Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)


@pytest.fixture
def offline(monkeypatch):
    """No network: every outgoing connection except the loopback sandbox is refused."""
    real = socket.create_connection

    def refuse(address, *a, **kw):
        if address[0] not in ("127.0.0.1", "localhost"):
            raise OSError("network unreachable (test)")
        return real(address, *a, **kw)

    monkeypatch.setattr(socket, "create_connection", refuse)


def rectangle(minx: float, miny: float, maxx: float, maxy: float) -> dict:
    """The Feature Leaflet.draw sends for a rectangle: lon-lat, counter-clockwise from the south-west corner."""
    ring = [[minx, miny], [minx, maxy], [maxx, maxy], [maxx, miny], [minx, miny]]
    return {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [ring]}}


def draw(m: AoiMap, feature: dict, action: str = "created") -> None:
    m.draw._draw_callbacks(m.draw, action=action, geo_json=feature)


def test_a_box_drawn_over_the_harbour_plans_one_new_job_with_the_key_of_the_python_call(ws):
    form = ws.form("sateais", "ship")
    form.fields["date"].widget.value = datetime.date.fromisoformat(DATE)
    m = form.aoi_map
    assert isinstance(m, AoiMap) and m.widget in form.input_box.children
    draw(m, rectangle(*HARBOUR))
    assert m.problem == "" and m.aoi.geom_type == "Polygon"
    assert m.wkt == "POLYGON ((14.5 35.88, 14.53 35.88, 14.53 35.9, 14.5 35.9, 14.5 35.88))"
    assert 5 < m.area_sqkm < 7 and "km²" in m.status.value and "no area limit for ship" in m.status.value
    assert form.code == f'ws.sateais.ship("{m.wkt}", date="{DATE}")'
    assert not form.submit_button.disabled
    with redirect_stdout(io.StringIO()):
        plan = form.plan()
    python = ws.sateais.ship(m.wkt, DATE, dry_run=True)
    assert plan.new_jobs == 1 and [r.key for r in plan.rows] == [r.key for r in python.rows]
    as_box = ws.sateais.ship(HARBOUR, DATE, dry_run=True)  # the box as a tuple: the same job
    assert [r.key for r in as_box.rows] == [r.key for r in plan.rows]
    assert created(ws.sandbox, "sateais") == 0


def test_a_box_drawn_inland_for_ship_shows_the_refusal_of_the_python_call(ws):
    form = ws.form("sateais", "ship")
    form.fields["date"].widget.value = datetime.date.fromisoformat(DATE)
    draw(form.aoi_map, rectangle(*INLAND))
    (refusal,) = [e for e in ws.sateais.items("ship", INLAND, DATE) if isinstance(e, PreflightError)]
    assert "inland" in refusal.message and form.aoi_map.problem == refusal.message
    assert refusal.message in form.aoi_map.status.value.replace("&#x27;", "'")
    assert refusal.message in form.preflight_line.value.replace("&#x27;", "'")
    assert form.submit_button.disabled and "POLYGON" not in form.code
    draw(form.aoi_map, rectangle(*HARBOUR))  # drawn again where ships are: accepted
    assert form.aoi_map.problem == "" and not form.submit_button.disabled


def test_a_box_drawn_across_the_antimeridian_is_cut_as_the_call_cuts_it(ws):
    m = AoiMap("ship", tiles=False)
    draw(m, rectangle(179.5, -17.0, 180.5, -16.5))  # Leaflet's longitudes run on past 180 (Fiji)
    assert m.problem == "" and len(m.parts) == 2 and "cut at the antimeridian into 2 parts" in m.status.value
    call = [a.wkt for a in parse_aois("sateais", (179.5, -17.0, -179.5, -16.5), kind="ship")]
    assert [p.wkt for p in m.parts] == call
    assert [a.wkt for a in parse_aois("sateais", m.wkt, kind="ship")] == call  # the code's literal: the same parts
    keys = [r.key for r in ws.sateais.ship(m.wkt, DATE, dry_run=True).rows]
    assert keys == [r.key for r in ws.sateais.ship((179.5, -17.0, -179.5, -16.5), DATE, dry_run=True).rows]
    assert len(keys) == 2


def test_a_given_area_is_shown_and_checked_as_the_call_checks_it(tmp_path):
    path = tmp_path / "harbour.geojson"
    gpd.GeoDataFrame(geometry=[shapely.box(*HARBOUR)], crs=4326).to_file(path)
    for given in (path, HARBOUR, shapely.box(*HARBOUR)):
        m = AoiMap("newbuilding", given, tiles=False)
        assert m.problem == "" and m.given.data["type"] == "Polygon"
        assert m.wkt == "POLYGON ((14.5 35.88, 14.53 35.88, 14.53 35.9, 14.5 35.9, 14.5 35.88))"
        assert "of the 30,000 km² limit for newbuilding" in m.status.value
    wrong = AoiMap("ship", (35.9, 14.5, 35.88, 14.53), tiles=False)  # min_lon > max_lon: the wrong way round
    (call,) = parse_aois("sateais", (35.9, 14.5, 35.88, 14.53), kind="ship")
    assert wrong.aoi is None and wrong.problem == call.message and "did you mean" in wrong.problem
    big = AoiMap("timeseries", HARBOUR[:2] + (14.7, 36.1), tiles=False)
    assert "over the 50 km² limit for timeseries" in big.problem


def test_the_map_has_a_vector_basemap_and_no_tiles_with_no_network(offline):
    m = AoiMap("ship")
    assert m.tiles_checked.wait(30)
    names = [layer.name for layer in m.map.layers]
    assert not any(isinstance(layer, L.TileLayer) for layer in m.map.layers), names
    (land,) = [layer for layer in m.map.layers if isinstance(layer, L.GeoJSON) and layer.name.startswith("land")]
    assert land.data["type"] == "MultiPolygon" and len(land.data["coordinates"]) > 100
    online = AoiMap("ship", tiles=True)
    assert online.tiles_checked.wait(30)
    assert [type(layer).__name__ for layer in online.map.layers][:3] == ["Rectangle", "GeoJSON", "TileLayer"]


def test_the_results_map_has_one_marker_per_ship_polygons_the_aoi_and_a_static_fallback():
    ships = [shapely.box(14.51 + i / 200, 35.885, 14.512 + i / 200, 35.886) for i in range(3)]
    slick = shapely.box(14.515, 35.89, 14.525, 35.895)
    frame = gpd.GeoDataFrame(
        {"class": ["ship"] * 3 + ["oilslick"], "length_m": [120.0, 80.0, 200.0, None], "aoi_name": ["harbour"] * 4},
        geometry=[*ships, slick],
        crs=4326,
    )
    frame.attrs["aoi"] = {"harbour": shapely.box(*HARBOUR).wkt}
    rm = features_map(frame, tiles=False)
    markers = [layer for layer in rm.map.layers if isinstance(layer, L.CircleMarker)]
    assert len(markers) == 3
    assert "length_m" in markers[0].popup.value and "120" in markers[0].popup.value
    polygons = [layer for layer in rm.map.layers if isinstance(layer, L.GeoJSON) and layer.name == "oilslick"]
    assert len(polygons) == 1 and len(polygons[0].data["features"]) == 1
    assert any(layer.name == "AOI" for layer in rm.map.layers)
    bundle = rm._repr_mimebundle_()
    bundle = bundle[0] if isinstance(bundle, tuple) else bundle
    assert bundle["image/png"][:8] and "application/vnd.jupyter.widget-view+json" in bundle
    assert "3 ships" in bundle["text/plain"]
