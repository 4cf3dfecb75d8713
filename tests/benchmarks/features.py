"""100,000 GeoJSON polygon features -> GeoDataFrame: toolkit.load.features vs geopandas.read_file(engine="pyogrio")."""

import gc, json, statistics, sys, tempfile, time, tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import numpy as np, geopandas as gpd
from toolkit.load import features
from toolkit.load._source import loads_lenient


def make(n=100_000, seed=0):
    rng = np.random.default_rng(seed)
    feats = []
    for i in range(n):
        x, y = rng.uniform(139, 140), rng.uniform(35, 36)
        k = int(rng.integers(4, 12))
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        r = rng.uniform(0.0005, 0.002)
        ring = [[round(x + r * np.cos(a), 7), round(y + r * np.sin(a), 7)] for a in ang]
        ring.append(ring[0])
        feats.append(
            {
                "type": "Feature",
                "id": i + 1,
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {
                    "class": "ship",
                    "area_sqm": float(rng.uniform(1e3, 1e5)),
                    "length_m": int(rng.integers(20, 400)),
                },
            }
        )
    return json.dumps({"type": "FeatureCollection", "features": feats}).encode()


data = make()
path = str(Path(tempfile.mkdtemp()) / "bench100k.geojson")
open(path, "wb").write(data)
steps = {
    "parse (json, lenient)": lambda: loads_lenient(data),
    "features(path)  [parse + frame]": lambda: features(path),
    "read_file(path, pyogrio)": lambda: gpd.read_file(path, engine="pyogrio"),
}
fc = loads_lenient(data)
steps["features(parsed dict)  [frame only]"] = lambda: features(
    [{"result": fc, "job_id": "j", "input": "a", "operation": "ship"}]
)
times = {k: [] for k in steps}
for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 3):
    for k, f in steps.items():
        gc.collect()
        t = time.perf_counter()
        f()
        times[k].append(time.perf_counter() - t)
for k, v in times.items():
    print(f"{k:40s} min {min(v):.2f} s  median {statistics.median(v):.2f} s")
for k in ("features(path)  [parse + frame]", "read_file(path, pyogrio)"):
    gc.collect()
    tracemalloc.start()
    steps[k]()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"{k:40s} peak traced memory {peak / 1e6:.0f} MB")
print(f"{len(data) / 1e6:.1f} MB of GeoJSON")

# the proposed _source.loads_lenient: orjson first, the lenient stdlib parser only for NaN/Infinity literals
import orjson, toolkit.load._source as src

_old = src.loads_lenient


def fast(text):
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return _old(text)


src.loads_lenient = fast
t2 = {"features(path) with orjson": [], "read_file(path, pyogrio)": []}
for _ in range(3):
    for k, f in (
        ("features(path) with orjson", lambda: features(path)),
        ("read_file(path, pyogrio)", steps["read_file(path, pyogrio)"]),
    ):
        gc.collect()
        t = time.perf_counter()
        f()
        t2[k].append(time.perf_counter() - t)
for k, v in t2.items():
    print(f"{k:40s} min {min(v):.2f} s  median {statistics.median(v):.2f} s")
