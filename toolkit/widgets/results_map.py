"""SateAIs results on an interactive map (``features_map``): ships as points with their properties in a popup,
slicks and buildings as polygons, the AOI outline; offline on the vector basemap of ``toolkit.widgets.aoi_map``.

Its mimebundle carries, beside the widget, a PNG of the same results drawn by ``toolkit.plot.detections_map`` and
a text line, so nbconvert's HTML and the report show an image where no widget runs (never a broken widget).
"""

from __future__ import annotations

import base64
import html
import io
import math
from typing import Any

import ipywidgets as W

from ..plot.maps import AOI_EDGE, CLASS_COLORS
from .aoi_map import add_tiles_when_reachable, base_map

SHIP = "ship"


class ResultsMap:
    """The map of one features frame (``batch.features()``); ``.map`` is the ipyleaflet Map, ``.widget`` the
    map with a line that counts what it shows."""

    def __init__(self, features: Any, aoi: Any = None, *, tiles: bool | None = None) -> None:
        import ipyleaflet as L
        import shapely

        self.features = features
        self.map = base_map()
        self.tiles_checked = add_tiles_when_reachable(self.map, tiles)
        outline = _outline(features, aoi)
        if outline is not None:
            self.map.add(L.GeoJSON(data=shapely.geometry.mapping(outline), name="AOI", style=_AOI_STYLE))
        feats = features[features.geometry.notna() & ~features.geometry.is_empty] if len(features) else features
        classes = feats["class"].astype("string").fillna("(none)") if len(feats) else []
        self.counts: dict[str, int] = {}
        for cls in dict.fromkeys(classes):
            part = feats[classes == cls]
            self.counts[cls] = len(part)
            color = CLASS_COLORS.get(cls, "#ff7f0e")
            if cls == SHIP:
                for (_, row), point in zip(part.iterrows(), part.geometry.representative_point()):
                    self.map.add(
                        L.CircleMarker(
                            location=(point.y, point.x),
                            radius=6,
                            color=color,
                            fill_color=color,
                            fill_opacity=0.7,
                            weight=2,
                            name=SHIP,
                            popup=W.HTML(_properties(row)),
                        )
                    )
            else:
                data = {"type": "FeatureCollection", "features": _features(part)}
                style = {"color": color, "fillColor": color, "weight": 1, "fillOpacity": 0.5}
                layer = L.GeoJSON(data=data, name=cls, style=style, hover_style={"fillOpacity": 0.8})
                layer.on_click(self._clicked)
                self.map.add(layer)
        bounds = _bounds(feats, outline)
        if bounds is not None:
            self.map.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
        self.line = W.HTML(f'<span style="color:#444">{html.escape(self.summary())}</span>')
        self.widget = W.VBox([self.map, self.line], layout=W.Layout(width="100%"))
        self.widget.add_class("toolkit-results-map")

    def summary(self) -> str:
        """ "3 ships, 1 oilslick" (what the map shows)."""
        if not self.counts:
            return "no detections"
        return ", ".join(f"{n} {c}{'s' * (n != 1 and not c.endswith('s'))}" for c, n in self.counts.items())

    def _clicked(self, event: Any = None, feature: Any = None, **_kw: Any) -> None:
        import ipyleaflet as L
        import shapely

        if not feature:
            return
        point = shapely.geometry.shape(feature["geometry"]).representative_point()
        props = feature.get("properties") or {}
        rows = "".join(
            f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>" for k, v in props.items()
        )
        self.map.add(L.Popup(location=(point.y, point.x), child=W.HTML(f"<table>{rows}</table>"), name="popup"))

    def png(self) -> bytes:
        """The static fallback: the same results drawn by ``toolkit.plot.detections_map``, as PNG bytes."""
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        from ..plot.maps import detections_map

        ax = detections_map(self.features)
        buf = io.BytesIO()
        ax.figure.savefig(buf, format="png", dpi=90, bbox_inches="tight")
        plt.close(ax.figure)
        return buf.getvalue()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        bundle = self.widget._repr_mimebundle_(include=include, exclude=exclude)
        data = dict(bundle[0] if isinstance(bundle, tuple) else bundle or {})
        png = base64.b64encode(self.png()).decode()
        data["image/png"] = png
        data["text/plain"] = f"<ResultsMap {self.summary()}>"
        return data


_AOI_STYLE = {"color": AOI_EDGE, "weight": 2, "dashArray": "5 4", "fillOpacity": 0.0}


def features_map(features: Any, aoi: Any = None, *, tiles: bool | None = None) -> ResultsMap:
    """SateAIs features (``batch.features()``) on an interactive map; ``aoi`` defaults to the AOIs the jobs
    recorded (``features.attrs["aoi"]``). ``tiles``: web tiles (None: when reachable)."""
    return ResultsMap(features, aoi, tiles=tiles)


def _outline(features: Any, aoi: Any) -> Any:
    import shapely

    from ..client.aoi import parse_aois

    if aoi is None:
        recorded = getattr(features, "attrs", {}).get("aoi") or {}
        geoms = [shapely.from_wkt(w) for w in recorded.values() if isinstance(w, str)]
    else:
        geoms = [a.geometry for a in parse_aois("sateais", aoi) if hasattr(a, "geometry")]
    return shapely.union_all(geoms) if geoms else None


def _bounds(feats: Any, outline: Any) -> tuple[float, float, float, float] | None:
    boxes = ([tuple(feats.total_bounds)] if len(feats) else []) + ([outline.bounds] if outline is not None else [])
    boxes = [b for b in boxes if all(math.isfinite(v) for v in b)]
    if not boxes:
        return None
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _properties(row: Any) -> str:
    """A feature's properties as a small HTML table (no geometry, no empty values)."""
    cells = []
    for k, v in row.items():
        if k == "geometry" or v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        text = f"{v:,.6g}" if isinstance(v, float) else str(v)
        cells.append(f"<tr><th style='text-align:left'>{html.escape(str(k))}</th><td>{html.escape(text)}</td></tr>")
    return f"<table style='font-size:12px'>{''.join(cells)}</table>"


def _features(part: Any) -> list[dict[str, Any]]:
    import json

    return json.loads(part.to_json(na="drop", drop_id=True))["features"]  # type: ignore[no-any-return]
