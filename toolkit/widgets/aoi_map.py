"""SateAIs areas on a map: draw a rectangle or polygon (or pass an AOI), see its km² against the operation's cap
and the refusals the Python call gives, and get it back as a shapely geometry and a 6-decimal WKT (``AoiMap``).

It works offline: the basemap is the Natural Earth land the client already ships (``toolkit.client.land``),
drawn as a vector layer over a sea rectangle; web tiles are added only once a tile server answers (checked in the
background, so a map never waits, is never blank and never raises). Everything an area is checked by is the
client's own: ``parse_aois`` with the operation's cap and kind (what ``SateAIsClient.items`` runs), so a box
crossing the antimeridian is cut and a box the wrong way round is refused exactly as the call does it.
"""

from __future__ import annotations

import html
import socket
import threading
from typing import Any, Callable

import ipywidgets as W

from ..client.aoi import AREA_CAP_SQKM, canonical_wkt, geodesic_area_sqkm, parse_aois
from ..client.model import PreflightError

PROVIDER = "sateais"
TILES_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
TILES_HOST = ("tile.openstreetmap.org", 443)
TILES_ATTRIBUTION = "&copy; OpenStreetMap contributors"
LAND_STYLE = {"color": "#8c8c7a", "weight": 0.6, "fillColor": "#ecebe4", "fillOpacity": 1.0}
SEA_STYLE = {"color": "#b9d3e3", "weight": 0, "fill_color": "#cfe3ef", "fill_opacity": 1.0}
AOI_STYLE = {"color": "#444444", "weight": 2, "dashArray": "5 4", "fillOpacity": 0.05}
DRAW_STYLE = {"shapeOptions": {"color": "#d62728", "weight": 2, "fillOpacity": 0.1}}


def land_geojson() -> dict[str, Any]:
    """The shipped Natural Earth 1:110m land as a GeoJSON geometry (EPSG:4326)."""
    import shapely

    from ..client.land import _land

    return shapely.geometry.mapping(_land()[0])  # type: ignore[no-any-return]


def base_map(center: tuple[float, float] = (20.0, 0.0), zoom: int = 2, **kw: Any) -> Any:
    """An ipyleaflet Map whose base layers need no network: a sea rectangle and the vector land; web tiles
    are added on top when reachable (``add_tiles_when_reachable``)."""
    import ipyleaflet as L

    sea = L.Rectangle(bounds=((-90, -180), (90, 180)), name="sea", **SEA_STYLE)
    land = L.GeoJSON(data=land_geojson(), style=LAND_STYLE, name="land (Natural Earth 1:110m)")
    return L.Map(
        center=center, zoom=zoom, layers=(sea, land), scroll_wheel_zoom=True, layout=W.Layout(height="420px"), **kw
    )


def tiles_reachable(host: tuple[str, int] = TILES_HOST, timeout: float = 2.0) -> bool:
    """Whether the tile server accepts a connection (False offline, never an error)."""
    try:
        socket.create_connection(host, timeout=timeout).close()
        return True
    except OSError:
        return False


def add_tiles_when_reachable(m: Any, tiles: bool | None = None) -> threading.Event:
    """Add web tiles above the vector basemap if ``tiles`` (None: when the server answers, checked in a thread);
    the returned Event is set once decided. Offline the vector basemap stays, with no error."""
    import ipyleaflet as L

    done = threading.Event()

    def check() -> None:
        try:
            if tiles or (tiles is None and tiles_reachable()):
                layer = L.TileLayer(url=TILES_URL, attribution=TILES_ATTRIBUTION, name="web tiles", max_zoom=19)
                m.layers = (*m.layers[:2], layer, *m.layers[2:])  # above sea and land, below the areas
        finally:
            done.set()

    if tiles is False:
        done.set()
    else:
        threading.Thread(target=check, daemon=True, name="toolkit-map-tiles").start()
    return done


def wrap_longitudes(geojson: dict[str, Any]) -> dict[str, Any]:
    """A drawn GeoJSON geometry with longitudes brought into -180..180: Leaflet gives 181 for a box drawn past the
    antimeridian; wrapped, its edge spans more than 180° and the client reads it the short way and cuts it
    (RFC 7946 §3.1.9), as it does a GeoJSON written that way."""

    def lon(x: float) -> float:
        return x if -180 <= x <= 180 else ((x + 180) % 360) - 180

    def walk(c: Any) -> Any:
        if c and isinstance(c[0], (int, float)):
            return [lon(float(c[0])), float(c[1])]
        return [walk(p) for p in c]

    return {**geojson, "coordinates": walk(geojson["coordinates"])}


class AoiMap:
    """A map to draw one area for a SateAIs ``operation`` (a rectangle or polygon; a new one replaces the last).

    ``aoi``: an existing area to show and start from (anything ``parse_aois`` reads: a GeoJSON or shapefile
    path, a bbox tuple, a shapely geometry, WKT). ``map.aoi`` is the area as a shapely geometry (None until
    there is one), ``map.wkt`` its WKT rounded to 6 decimals, ``map.problem`` the call's refusal ("" if none),
    ``map.area_sqkm`` its geodesic area; ``on_change(callback)`` calls ``callback(map)`` after each change.
    """

    def __init__(self, operation: str = "ship", aoi: Any = None, *, tiles: bool | None = None) -> None:
        import ipyleaflet as L

        self.operation = operation
        self.cap_sqkm: float | None = AREA_CAP_SQKM.get(operation)
        self.aoi: Any = None
        self.wkt = ""
        self.problem = ""
        self.area_sqkm: float | None = None
        self._callbacks: list[Callable[[AoiMap], None]] = []
        self.parts: list[Any] = []
        self.map = base_map()
        self.tiles_checked = add_tiles_when_reachable(self.map, tiles)
        self.given = L.GeoJSON(data={"type": "FeatureCollection", "features": []}, style=AOI_STYLE, name="AOI")
        self.map.add(self.given)
        self.draw = L.DrawControl(
            rectangle=DRAW_STYLE, polygon=DRAW_STYLE, polyline={}, circlemarker={}, circle={}, marker={}
        )
        self.draw.on_draw(self._drawn)
        self.map.add(self.draw)
        self.status = W.HTML()
        self.status.add_class("toolkit-map-status")
        self.widget = W.VBox([self.map, self.status], layout=W.Layout(width="100%"))
        self.widget.add_class("toolkit-aoi-map")
        if aoi is not None:
            self.set_aoi(aoi)
        else:
            self._show()

    def on_change(self, callback: Callable[["AoiMap"], None]) -> None:
        """Call ``callback(map)`` after each drawn, edited, deleted or given area."""
        self._callbacks.append(callback)

    def set_aoi(self, aoi: Any) -> None:
        """Show ``aoi`` (see the class) as the area, checked as the call checks it, and zoom to it."""
        import shapely

        parts = parse_aois(PROVIDER, aoi, cap_sqkm=self.cap_sqkm, kind=self.operation)
        good = [p for p in parts if not isinstance(p, PreflightError)]
        refused = [p for p in parts if isinstance(p, PreflightError)]
        geom = shapely.union_all([p.geometry for p in good]) if good else None
        if geom is not None:
            self.given.data = shapely.geometry.mapping(geom)
            minx, miny, maxx, maxy = geom.bounds
            self.map.fit_bounds([[miny, minx], [maxy, maxx]])
        self._set(geom, refused)

    # -- drawing -----------------------------------------------------------------------------------------
    def _drawn(self, target: Any, action: str, geo_json: dict[str, Any]) -> None:
        if action == "deleted":
            self.draw.data = []
            self._set(None, [])
            return
        from shapely.geometry import shape

        geometry = wrap_longitudes(geo_json["geometry"])
        self.draw.data = [{**geo_json, "geometry": geo_json["geometry"]}]  # one area: the newest replaces the last
        self.given.data = {"type": "FeatureCollection", "features": []}
        geom = shape(geometry)
        refused = [p for p in parse_aois(PROVIDER, geom, cap_sqkm=self.cap_sqkm, kind=self.operation) if _bad(p)]
        refused += self._as_box(geom)
        self._set(geom, refused)

    def _as_box(self, geom: Any) -> list[PreflightError]:
        """A drawn rectangle is checked as the call checks that box as a bbox tuple too (a ship box far inland
        whose (lat, lon) reading is at sea is refused, in the call's words)."""
        import shapely

        minx, miny, maxx, maxy = geom.bounds
        if maxx - minx > 180 or not shapely.equals(geom, shapely.box(minx, miny, maxx, maxy)):
            return []
        return [p for p in parse_aois(PROVIDER, (minx, miny, maxx, maxy), kind=self.operation) if _bad(p)]

    def _set(self, geom: Any, refused: list[PreflightError]) -> None:
        self.aoi = geom
        self.wkt = ""
        if geom is not None:  # a cut box is a MultiPolygon: one job per part, as the call sends it
            self.wkt = canonical_wkt(geom) if geom.geom_type == "Polygon" else _multi_wkt(geom)
        self.problem = "; ".join(e.message for e in refused)
        self.area_sqkm, self.parts = None, []
        if geom is not None and not refused:
            parts = [p for p in parse_aois(PROVIDER, geom, kind=self.operation) if not _bad(p)]
            self.area_sqkm = sum(geodesic_area_sqkm(p.geometry) for p in parts)
            self.parts = parts
        self._show()
        for callback in list(self._callbacks):
            callback(self)

    def _show(self) -> None:
        if self.problem:
            self.status.value = f'<span style="color:#b00020">{html.escape(self.problem)}</span>'
        elif self.aoi is None:
            self.status.value = '<span style="color:#666">draw a rectangle or polygon (tools at the left)</span>'
        else:
            cap = (
                f" of the {self.cap_sqkm:,.0f} km² limit for {self.operation}"
                if self.cap_sqkm
                else f" (no area limit for {self.operation})"
            )
            n = len(self.parts)
            cut = f", cut at the antimeridian into {n} parts (one job each)" if n > 1 else ""
            self.status.value = f'<span style="color:#1b5e20">{self.area_sqkm:,.1f} km²{cap}{cut}</span>'

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        return self.widget._repr_mimebundle_(include=include, exclude=exclude)


def _bad(p: Any) -> bool:
    return isinstance(p, PreflightError)


def form_rows(form: Any) -> list[Any]:
    """The form's hook: for a SateAIs operation whose input is ``aoi``, a map beside the text field; a drawn area
    fills that field with its WKT (so the call and ``form.code`` carry it), a refused one empties it and shows
    the refusal on the form's line. Returns the rows to add ([] for every other operation)."""
    text = getattr(form, "inputs", {}).get("aoi")
    if form.provider != PROVIDER or text is None:
        return []
    amap = AoiMap(form.operation)
    form.aoi_map = amap

    def changed(m: AoiMap) -> None:
        if m.problem:
            text.value = ""
            form._say(m.problem, error=True)
        elif m.aoi is not None:
            text.value = m.wkt
        else:
            text.value = ""

    amap.on_change(changed)
    return [amap.widget]


def _multi_wkt(geom: Any) -> str:
    """The WKT of an area of several parts (a box cut at the antimeridian), each part as the call spells it."""
    return "MULTIPOLYGON (" + ", ".join(canonical_wkt(p).removeprefix("POLYGON ") for p in geom.geoms) + ")"
