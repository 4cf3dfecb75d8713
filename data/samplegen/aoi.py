"""Areas of interest around Malta as GeoJSON (EPSG:4326, lon-lat, closed counter-clockwise rings).

Outlines drawn by hand from approximate coordinates of the places (not surveyed boundaries); they are
sized for the SateAIs caps: the town fits a time series (<= 50 km2), every one fits building change.
"""

from __future__ import annotations

import json
from pathlib import Path

from .common import write

AOIS: dict[str, dict] = {
    "harbour": {
        "name": "Grand Harbour, Valletta",
        "description": "Harbour basin and quays between Valletta, the Three Cities and Marsa",
        "suggested_use": "ship, oilslick",
        "ring": [(14.4941, 35.8790), (14.5060, 35.8790), (14.5160, 35.8860), (14.5270, 35.8950),
                 (14.5280, 35.9010), (14.5200, 35.9050), (14.5100, 35.8990), (14.5000, 35.8900)],
    },
    "coastline": {
        "name": "South-east coast of Malta",
        "description": "Coast and open sea from Marsaskala to Delimara Point and offshore",
        "suggested_use": "oilslick, ship",
        "ring": [(14.5462, 35.8250), (14.5700, 35.8050), (14.6300, 35.8100), (14.6300, 35.8600),
                 (14.5800, 35.8750), (14.5500, 35.8700)],
    },
    "town": {
        "name": "Marsaxlokk",
        "description": "Fishing town and its bay, south-east Malta",
        "suggested_use": "newbuilding, disappearbuilding, timeseries",
        "ring": [(14.5332, 35.8330), (14.5500, 35.8320), (14.5580, 35.8400), (14.5540, 35.8500),
                 (14.5400, 35.8520), (14.5310, 35.8440)],
    },
}


def feature_collection(key: str) -> dict:
    """The AOI ``key`` as a one-feature GeoJSON FeatureCollection (ring closed, counter-clockwise)."""
    import shapely
    from shapely.geometry import mapping
    from shapely.geometry.polygon import orient

    spec = AOIS[key]
    poly = orient(shapely.Polygon(spec["ring"]), 1.0)
    geometry = mapping(poly)
    geometry["coordinates"] = [[[round(x, 6), round(y, 6)] for x, y in ring] for ring in geometry["coordinates"]]
    props = {k: v for k, v in spec.items() if k != "ring"}
    return {"type": "FeatureCollection",
            "features": [{"type": "Feature", "properties": props, "geometry": geometry}]}


def generate(out: Path) -> list[Path]:
    return [write(out / "aoi" / f"{key}.geojson",
                  (json.dumps(feature_collection(key), indent=2) + "\n").encode()) for key in AOIS]
