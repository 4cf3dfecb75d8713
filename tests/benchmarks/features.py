"""SateAIs polygons -> GeoDataFrame, at two sizes (default 10k and 100k features, 1,000 per job):

- ``geopandas.read_file(engine="pyogrio")`` on one GeoJSON file of the same features (the baseline);
- ``load.features(path)`` on that file (parse + frame, the JSON path);
- ``load.features(ws)`` on a settled workspace holding the same features as job results: cold (the GeoParquet
  store built from the cache) and warm (read from the store; best of 3).

Prints one line per size and a JSON summary (``--out``); ratios are against the same-run baseline."""

import gc, json, os, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import numpy as np, geopandas as gpd
from tests.benchmarks.columnar import main, settled_workspace
from toolkit import Workspace
from toolkit.load import features

PER_JOB = 1000


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
    return feats


def timed(fn, repeat=1):
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def run(n: int, root: Path) -> dict:
    feats = make(n)
    path = root / f"ships{n}.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    jobs = [
        (f"aoi-{i // PER_JOB}", {"type": "FeatureCollection", "features": feats[i : i + PER_JOB]})
        for i in range(0, n, PER_JOB)
    ]
    ws_path = root / f"ws{n}"
    settled_workspace(ws_path, "sateais", "ship", jobs)
    ws = Workspace(ws_path, quiet=True)
    t_read, g = timed(lambda: gpd.read_file(path, engine="pyogrio"), repeat=3)
    assert len(g) == n
    t_json, g = timed(lambda: features(str(path)), repeat=3)
    t_cold, g = timed(lambda: features(ws))
    assert len(g) == n
    t_warm, g = timed(lambda: features(ws), repeat=3)
    assert len(g) == n
    row = {
        "features": n,
        "jobs": len(jobs),
        "read_file_s": round(t_read, 3),
        "features_path_s": round(t_json, 3),
        "cold_s": round(t_cold, 3),
        "warm_s": round(t_warm, 3),
        "warm_vs_read_file": round(t_warm / t_read, 2),
        "cold_vs_read_file": round(t_cold / t_read, 2),
        "path_vs_read_file": round(t_json / t_read, 2),
        "loadavg": [round(x, 2) for x in os.getloadavg()],  # 1, 5 and 15 min, at the end of the run
    }
    print(json.dumps(row), flush=True)
    return row


if __name__ == "__main__":
    main(run, "features", "features per run")
