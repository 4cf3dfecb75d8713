"""SateAIs engine: synthetic Sentinel-1 GRD backscatter and real SAR detectors run on it.

Scene catalogue (project choice): one acquisition every 6 days from 2014-10-03, alternating descending
(even index) and ascending (odd index) passes, named like real GRD products.

Synthesis, deterministic per AOI (world) and per AOI + scene (acquisition): a 256x256 grid over the AOI's
lon/lat bounding box; a coastline from a linear ramp plus smooth Gaussian noise thresholded at a seeded sea
fraction; land sigma0 -9 dB with smooth texture, sea -17 dB; buildings are bright rectangles (+11 dB over land)
with seeded construction/demolition dates; per scene, ships (bright 1-2 x 2-4 px targets, +18..23 dB) and oil
slicks (ellipses at 0.12x sea backscatter) on open sea; finally multiplicative gamma speckle (ENL 4).

Detectors (no knowledge of what was planted, only the land mask that real pipelines take from coastline data):
- ships: cell-averaging CFAR (guard 3 px, training ring 6 px, sea-only training cells, threshold factor from
  the gamma distribution for Pfa 1e-7), then 8-connected components;
- oil slicks: 5x5 mean-filtered intensity below 0.5x the local sea mean (75 px window), morphological
  opening/closing, hole filling, components >= 40 px;
- new/disappeared buildings: log-ratio of the 3x3 mean-filtered first and last scenes in the date range,
  |ratio| >= 6 dB on land, 3x3 opening, components >= 6 px;
- timeseries: per scene, mean backscatter (dB) over the AOI and the area changed (log-ratio) since the
  previous scene.
Components become pixel-exact polygons in EPSG:4326, clipped to the AOI; areas are geodesic (WGS84).

An AOI that crosses the antimeridian (an edge spanning more than 180° of longitude, RFC 7946 §3.1.9) is
analysed where it is: its longitudes are unwrapped for the grid (179.95..180.05, not a band round the globe) and
each result polygon is cut back at ±180 (a MultiPolygon when it straddles it).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

import numpy as np

from ... import antimeridian

EPOCH = date(2014, 10, 3)
REVISIT_DAYS = 6
SEARCH_DAYS = 14
GRID = 256
LOOKS = 4.0
SEA_SIGMA0, LAND_SIGMA0 = 0.02, 0.12
BUILDING_GAIN, SLICK_GAIN = 12.0, 0.12
WORLD_END = date(2030, 1, 1)  # fixed horizon for building dates, so results do not change with "today"
MAX_TIMESERIES_SCENES = 60
ALGORITHM = {
    "ship": "CA-CFAR (guard 3 px, training 6 px, Pfa 1e-7, ENL 4) + connected components",
    "oilslick": "dark-spot segmentation (0.5 x local sea mean, 75 px) + morphology + connected components",
    "newbuilding": "log-ratio change detection (first vs last scene, +6 dB) on land",
    "disappearbuilding": "log-ratio change detection (first vs last scene, -6 dB) on land",
    "timeseries": "per-scene mean backscatter and log-ratio change area vs previous scene",
}


_IMPORTS = threading.Lock()
_imported = False


def _import_dependencies() -> None:
    """Import the heavy submodules once, under a lock. The runner's worker threads would otherwise import
    them concurrently on the first jobs, and scipy.spatial / scikit-image's lazy loader then fail with
    "ImportError: ... partially initialized module" (seen when the first jobs of a process run in parallel)."""
    global _imported
    if _imported:
        return
    with _IMPORTS:
        if not _imported:
            import pyproj  # noqa: F401
            import scipy.ndimage  # noqa: F401
            import scipy.stats  # noqa: F401
            import shapely  # noqa: F401
            import skimage.draw  # noqa: F401
            import skimage.measure  # noqa: F401
            import skimage.morphology  # noqa: F401

            _imported = True


# -- scene catalogue ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scene:
    scene_id: str
    date: date
    orbit_direction: str

    def as_dict(self) -> dict[str, str]:
        return {"scene_id": self.scene_id, "date": self.date.isoformat(), "orbit_direction": self.orbit_direction}


def today() -> date:
    return datetime.now(timezone.utc).date()


def _scene(k: int) -> Scene:
    d = EPOCH + timedelta(days=REVISIT_DAYS * k)
    direction = "descending" if k % 2 == 0 else "ascending"
    hh = 5 if direction == "descending" else 17
    start, stop = f"{d:%Y%m%d}T{hh:02d}4211", f"{d:%Y%m%d}T{hh:02d}4236"
    orbit, take = 3000 + 88 * k, (0x4A2 + 7919 * k) % 0xFFFFFF
    crc = hashlib.sha256(f"{start}{orbit}".encode()).hexdigest()[:4].upper()
    return Scene(f"S1A_IW_GRDH_1SDV_{start}_{stop}_{orbit:06d}_{take:06X}_{crc}", d, direction)


def _k_max() -> int:
    return (today() - EPOCH).days // REVISIT_DAYS


def find_scene(on: date, direction: str = "nearest", orbit: str | None = None) -> Scene | None:
    """The acquisition for ``on`` in ``direction`` (before/after/nearest) within +-14 days, or None."""
    k0 = (on - EPOCH).days // REVISIT_DAYS
    ks = [k for k in range(k0 - 4, k0 + 5) if 0 <= k <= _k_max()]
    cands = [s for s in map(_scene, ks) if orbit in (None, s.orbit_direction)]
    if direction == "before":
        cands = [s for s in cands if s.date <= on]
    elif direction == "after":
        cands = [s for s in cands if s.date >= on]
    cands = [s for s in cands if abs((s.date - on).days) <= SEARCH_DAYS]
    return min(cands, key=lambda s: (abs((s.date - on).days), s.date), default=None)


def scenes_between(start: date, end: date, orbit: str | None = None) -> list[Scene]:
    """All acquisitions with ``start <= date <= end`` (and the orbit direction, if given)."""
    k_lo = max(0, -(-(start - EPOCH).days // REVISIT_DAYS))
    k_hi = min(_k_max(), (end - EPOCH).days // REVISIT_DAYS)
    return [s for s in map(_scene, range(k_lo, k_hi + 1)) if orbit in (None, s.orbit_direction)]


def scene_footprint(scene_id: str) -> str:
    """PC: the analysed subset of a named scene is a 0.25 x 0.2 degree box placed by the id's digest."""
    h = hashlib.sha256(scene_id.encode()).digest()
    lon = -170 + 340 * int.from_bytes(h[:4], "big") / 2**32
    lat = -60 + 120 * int.from_bytes(h[4:8], "big") / 2**32
    lon, lat = round(lon, 4), round(lat, 4)
    return f"POLYGON (({lon} {lat}, {lon + 0.25} {lat}, {lon + 0.25} {lat + 0.2}, {lon} {lat + 0.2}, {lon} {lat}))"


# -- synthesis ----------------------------------------------------------------------------------------
def _seed(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("|".join(parts).encode()).digest()[:8], "big")


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    from scipy import ndimage

    n = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return (n - n.mean()) / (n.std() + 1e-12)


def _place(rng: np.random.Generator, allowed: np.ndarray, count: int, spacing: int) -> list[tuple[int, int]]:
    """Up to ``count`` seeded positions among ``allowed`` pixels, at least ``spacing`` px apart."""
    rows, cols = np.nonzero(allowed)
    out: list[tuple[int, int]] = []
    if rows.size == 0:
        return out
    for i in rng.permutation(rows.size)[: count * 40]:
        r, c = int(rows[i]), int(cols[i])
        if all(max(abs(r - r2), abs(c - c2)) >= spacing for r2, c2 in out):
            out.append((r, c))
            if len(out) == count:
                break
    return out


@dataclass
class World:
    """What does not change between acquisitions of one AOI."""

    aoi: Any  # shapely geometry
    bounds: tuple[float, float, float, float]
    inside: np.ndarray  # pixel centre inside the AOI
    land: np.ndarray
    land_sigma0: np.ndarray
    sea_sigma0: np.ndarray
    buildings: list[tuple[int, int, int, int, int, int]]  # r, c, h, w, built_day, demolished_day
    pixel_area_m2: float


@lru_cache(maxsize=16)
def world(aoi_wkt: str) -> World:
    import shapely
    from pyproj import Geod
    from scipy import ndimage

    aoi = shapely.from_wkt(aoi_wkt)
    minx, miny, maxx, maxy = aoi.bounds
    rng = np.random.default_rng(_seed("world", aoi_wkt))
    dx, dy = (maxx - minx) / GRID, (maxy - miny) / GRID
    cols, rows = np.meshgrid(np.arange(GRID) + 0.5, np.arange(GRID) + 0.5)
    inside = shapely.contains_xy(aoi, minx + cols * dx, maxy - rows * dy)
    theta = rng.uniform(0, 2 * np.pi)
    ramp = ((cols - GRID / 2) * np.cos(theta) + (rows - GRID / 2) * np.sin(theta)) / (GRID / 2)
    field = ramp + 0.35 * _smooth_noise(rng, (GRID, GRID), GRID / 10)
    land = field > np.quantile(field, rng.uniform(0.5, 0.7))
    land = ndimage.binary_closing(ndimage.binary_opening(land, iterations=2), iterations=2)
    land_sigma0 = LAND_SIGMA0 * np.exp(0.25 * _smooth_noise(rng, (GRID, GRID), 4))
    sea_sigma0 = SEA_SIGMA0 * (1 + 0.08 * _smooth_noise(rng, (GRID, GRID), 12))
    interior = ndimage.distance_transform_edt(land) >= 5
    interior &= ndimage.binary_erosion(inside, iterations=6)
    span = (WORLD_END - EPOCH).days
    buildings = []
    for r, c in _place(rng, interior, int(rng.integers(12, 30)), 9):
        h, w = (int(v) for v in rng.integers(3, 6, size=2))
        kind = rng.random()
        built = -(10**6) if kind < 0.4 else int(rng.integers(0, span))
        gone = int(rng.integers(max(built, 0), span)) if kind < 0.4 else 10**6
        buildings.append((r - h // 2, c - w // 2, h, w, built, gone))
    geod = Geod(ellps="WGS84")
    box_area = abs(geod.geometry_area_perimeter(shapely.box(minx, miny, maxx, maxy))[0])
    return World(aoi, (minx, miny, maxx, maxy), inside, land, land_sigma0, sea_sigma0, buildings, box_area / GRID**2)


def synthesize(aoi_wkt: str, scene: dict[str, str]) -> tuple[np.ndarray, dict[str, int]]:
    """The speckled sigma0 image of one acquisition and what was planted in it (inside the AOI)."""
    from scipy import ndimage
    from skimage.draw import ellipse

    w = world(aoi_wkt)
    rng = np.random.default_rng(_seed("scene", aoi_wkt, scene["scene_id"]))
    day = (date.fromisoformat(scene["date"]) - EPOCH).days
    img = np.where(w.land, w.land_sigma0, w.sea_sigma0)
    present = 0
    for r, c, h, wd, built, gone in w.buildings:
        if built <= day < gone:
            img[r : r + h, c : c + wd] = w.land_sigma0[r : r + h, c : c + wd] * BUILDING_GAIN
            present += 1
    open_sea = (ndimage.distance_transform_edt(~w.land) >= 15) & ndimage.binary_erosion(w.inside, iterations=15)
    slick_mask = np.zeros_like(w.land)
    slicks = _place(rng, open_sea, int(rng.integers(0, 3)), 40)
    for r, c in slicks:
        rr, cc = ellipse(r, c, rng.uniform(5, 10), rng.uniform(10, 18), shape=img.shape, rotation=rng.uniform(0, np.pi))
        slick_mask[rr, cc] = True
    slick_mask &= ~w.land
    img[slick_mask] *= SLICK_GAIN
    ship_ok = open_sea & ~ndimage.binary_dilation(slick_mask, iterations=12)
    ships = _place(rng, ship_ok, int(rng.integers(3, 11)), 20)
    for r, c in ships:
        length, width = int(rng.integers(2, 5)), int(rng.integers(1, 3))
        h, wd = (length, width) if rng.random() < 0.5 else (width, length)
        img[r : r + h, c : c + wd] = SEA_SIGMA0 * 10 ** (rng.uniform(1.8, 2.3))
    img = img * rng.gamma(LOOKS, 1 / LOOKS, img.shape)
    return img.astype(np.float64), {"ships": len(ships), "oilslicks": len(slicks), "buildings": present}


# -- detectors ----------------------------------------------------------------------------------------
def _masked_mean(img: np.ndarray, valid: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Window sums of ``img`` over ``valid`` pixels and the number of valid pixels per window."""
    from scipy import ndimage

    v = valid.astype(np.float64)
    s = ndimage.uniform_filter(img * v, size, mode="constant") * size**2
    n = ndimage.uniform_filter(v, size, mode="constant") * size**2
    return s, n


def cfar(
    img: np.ndarray, valid: np.ndarray, *, guard: int = 3, train: int = 6, pfa: float = 1e-7, looks: float = LOOKS
) -> np.ndarray:
    """Cell-averaging CFAR: pixels brighter than alpha x the mean of their training ring."""
    from scipy.stats import gamma

    outer, inner = 2 * (guard + train) + 1, 2 * guard + 1
    s_out, n_out = _masked_mean(img, valid, outer)
    s_in, n_in = _masked_mean(img, valid, inner)
    n_ring = n_out - n_in
    clutter = (s_out - s_in) / np.maximum(n_ring, 1.0)
    alpha = float(gamma.isf(pfa, looks, scale=1 / looks))
    return valid & (n_ring >= 0.5 * (outer**2 - inner**2)) & (img > alpha * clutter)


def dark_spots(
    img: np.ndarray, sea: np.ndarray, *, ratio: float = 0.5, window: int = 75, min_px: int = 40
) -> np.ndarray:
    from scipy import ndimage
    from skimage import morphology

    smooth = ndimage.uniform_filter(img, 5)
    s, n = _masked_mean(img, sea, window)
    dark = sea & (smooth < ratio * s / np.maximum(n, 1.0))
    dark = ndimage.binary_closing(ndimage.binary_opening(dark, morphology.disk(2)), morphology.disk(2))
    return _drop_small(ndimage.binary_fill_holes(dark) & sea, min_px)


def log_ratio(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    return 10 * np.log10(ndimage.uniform_filter(after, 3) / ndimage.uniform_filter(before, 3))


def changes(lr: np.ndarray, land: np.ndarray, sign: int, *, db: float = 6.0, min_px: int = 6) -> np.ndarray:
    from scipy import ndimage

    mask = land & (sign * lr >= db)
    return _drop_small(ndimage.binary_opening(mask, np.ones((3, 3), bool)), min_px)


def _drop_small(mask: np.ndarray, min_px: int) -> np.ndarray:
    """``mask`` without its 8-connected components smaller than ``min_px`` pixels."""
    from scipy import ndimage

    labels, _ = ndimage.label(mask, np.ones((3, 3), bool))
    sizes = np.bincount(labels.ravel())
    keep = sizes >= min_px
    keep[0] = False
    return keep[labels]


# -- vectorisation ------------------------------------------------------------------------------------
def _polygons(mask: np.ndarray, w: World) -> list[Any]:
    """One EPSG:4326 polygon per 8-connected component of ``mask``, clipped to the AOI, raster order."""
    import shapely
    from shapely.geometry.polygon import orient
    from skimage import measure

    minx, _, maxx, maxy = w.bounds
    dx, dy = (maxx - minx) / GRID, (maxy - w.bounds[1]) / GRID
    out = []
    labels = measure.label(mask, connectivity=2)
    for region in measure.regionprops(labels):
        rr, cc = region.coords[:, 0], region.coords[:, 1]
        geom = shapely.union_all(shapely.box(cc, rr, cc + 1, rr + 1)).simplify(0)
        if geom.geom_type != "Polygon":
            geom = geom.convex_hull
        geom = shapely.affinity.affine_transform(geom, [dx, 0, 0, -dy, minx, maxy]).intersection(w.aoi)
        parts = [g for g in getattr(geom, "geoms", [geom]) if g.geom_type == "Polygon" and not g.is_empty]
        if parts:
            out.append(orient(max(parts, key=lambda g: g.area), 1.0))
    return out


def _feature(fid: int, geom: Any, props: dict[str, Any]) -> dict[str, Any]:
    from pyproj import Geod

    area = abs(Geod(ellps="WGS84").geometry_area_perimeter(geom)[0])
    minx, _, maxx, _ = geom.bounds
    geom = antimeridian.wrap(geom) if minx < -180 or maxx > 180 else geom

    def rings(p: Any) -> list[list[list[float]]]:
        return [[[round(x, 7), round(y, 7)] for x, y in r.coords] for r in (p.exterior, *p.interiors)]

    if geom.geom_type == "MultiPolygon":
        geometry = {"type": "MultiPolygon", "coordinates": [rings(p) for p in geom.geoms]}
    else:
        geometry = {"type": "Polygon", "coordinates": rings(geom)}
    return {"type": "Feature", "id": fid, "geometry": geometry, "properties": {**props, "area_sqm": int(round(area))}}


def _length_m(geom: Any) -> int:
    from pyproj import Geod

    minx, miny, maxx, maxy = geom.bounds
    geod = Geod(ellps="WGS84")
    return int(round(max(geod.line_length([minx, maxx], [miny, miny]), geod.line_length([minx, minx], [miny, maxy]))))


# -- the job ------------------------------------------------------------------------------------------
def _continuous(aoi_wkt: str) -> str:
    """The AOI with continuous longitudes when it crosses the antimeridian (else as given)."""
    import shapely

    geom = shapely.from_wkt(aoi_wkt)
    if not antimeridian.crosses(geom):
        return aoi_wkt
    return shapely.to_wkt(antimeridian.unwrap(geom), rounding_precision=8, trim=True)


def analyze(kind: str, aoi_wkt: str, scenes: list[dict[str, str]]) -> dict[str, Any]:
    """The GeoJSON FeatureCollection for one SateAIs job (``scenes`` in date order, >= 1)."""
    _import_dependencies()
    aoi_wkt = _continuous(aoi_wkt)
    w = world(aoi_wkt)
    features: list[dict[str, Any]] = []
    planted: dict[str, int] = {}
    used = scenes
    if kind in ("ship", "oilslick"):
        img, planted = synthesize(aoi_wkt, scenes[0])
        sea = ~w.land & w.inside
        if kind == "ship":
            for i, g in enumerate(_polygons(cfar(img, sea), w), 1):
                features.append(_feature(i, g, {"class": "ship", "length_m": _length_m(g)}))
        else:
            for i, g in enumerate(_polygons(dark_spots(img, sea), w), 1):
                features.append(_feature(i, g, {"id": i, "class": "oilslick"}))
    elif kind in ("newbuilding", "disappearbuilding"):
        used = [scenes[0], scenes[-1]]
        (first, _), (last, _) = synthesize(aoi_wkt, used[0]), synthesize(aoi_wkt, used[1])
        d0, d1 = ((date.fromisoformat(s["date"]) - EPOCH).days for s in used)
        planted = {
            "new_buildings": sum(1 for *_, b, g in w.buildings if d0 < b <= d1 and g > d1),
            "disappeared_buildings": sum(1 for *_, b, g in w.buildings if b <= d0 < g <= d1),
        }
        sign, cls = (1, "new_building") if kind == "newbuilding" else (-1, "disappeared_building")
        mask = changes(log_ratio(first, last), w.land & w.inside, sign)
        for i, g in enumerate(_polygons(mask, w), 1):
            features.append(_feature(i, g, {"class": cls, "date_start": used[0]["date"], "date_end": used[1]["date"]}))
    else:  # timeseries
        if len(scenes) > MAX_TIMESERIES_SCENES:
            idx = np.linspace(0, len(scenes) - 1, MAX_TIMESERIES_SCENES).round().astype(int)
            used = [scenes[i] for i in idx]
        prev = None
        for i, s in enumerate(used, 1):
            img, _ = synthesize(aoi_wkt, s)
            changed = 0
            if prev is not None:
                lr = log_ratio(prev, img)
                changed = int((changes(lr, w.land & w.inside, 1) | changes(lr, w.land & w.inside, -1)).sum())
            prev = img
            f = _feature(
                i,
                w.aoi if w.aoi.geom_type == "Polygon" else max(w.aoi.geoms, key=lambda g: g.area),
                {
                    "class": "change",
                    "date": s["date"],
                    "scene_id": s["scene_id"],
                    "mean_backscatter_db": round(float(10 * np.log10(img[w.inside].mean())), 2),
                },
            )
            f["properties"]["area_sqm"] = int(round(changed * w.pixel_area_m2))
            features.append(f)
    return {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "EPSG:4326"}},
        "features": features,
        "sandbox": True,
        "sandbox_info": {
            "engine": "sandbox-reference",
            "algorithm": ALGORITHM[kind],
            "scenes": [s["scene_id"] for s in used],
            "planted": planted,
        },
    }
