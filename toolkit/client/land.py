"""Where land is, coarsely, to tell a bbox given in (lat, lon) order from one given right.

The geometry is Natural Earth's 1:110m admin-0 countries dissolved into land (public domain; naturalearthdata.com,
as shipped in pyogrio's test fixtures), stored as gzipped WKB beside this module (44 kB). It is about 10 km
accurate, misses small islands and counts large lakes as land: good enough to see that a ship box lies hundreds
of kilometres inland, never to decide anything closer to a coast than that.
"""

from __future__ import annotations

import functools
import gzip
from importlib.resources import files
from typing import Any

SHIP_KINDS = frozenset({"ship", "oilslick"})
BUILDING_KINDS = frozenset({"newbuilding", "disappearbuilding"})
#: a ship box whose centre lies this far inland (degrees, ~100 km) cannot be meant; nor a building box this far
#: out at sea (~200 km, which keeps Malta, 0.9° from the nearest 1:110m coast, well inside)
DEEP_INLAND = 1.0
OPEN_SEA = 2.0


@functools.lru_cache(maxsize=1)
def _land() -> tuple[Any, Any]:
    import shapely

    geom = shapely.from_wkb(gzip.decompress(files(__package__).joinpath("land_110m.wkb.gz").read_bytes()))
    shapely.prepare(geom)
    return geom, geom.boundary


def coast_offset(lon: float, lat: float) -> float:
    """Degrees from the nearest (1:110m) coast: positive inland, negative at sea."""
    import shapely

    land, coast = _land()
    point = shapely.Point(lon, lat)
    distance = float(coast.distance(point))
    return distance if land.contains(point) else -distance


def implausible(kind: str, lon: float, lat: float) -> str | None:
    """Why a ``kind`` job cannot be meant at (lon, lat), or None: ships far inland, buildings far out at sea."""
    if kind in SHIP_KINDS and coast_offset(lon, lat) > DEEP_INLAND:
        return f"lies about {coast_offset(lon, lat) * 111:.0f} km inland, where there are no {kind}s to detect"
    if kind in BUILDING_KINDS and coast_offset(lon, lat) < -OPEN_SEA:
        return f"lies about {-coast_offset(lon, lat) * 111:.0f} km out at sea, where there are no buildings"
    return None
