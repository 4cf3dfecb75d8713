"""Animal Detect annotations -> DataFrame, at two sizes (default 10k and 100k results of 10 boxes):

- ``pandas.json_normalize`` on the parsed results (the baseline), and ``load.detections`` on the same dicts;
- ``load.detections(ws)`` on a settled workspace holding the same results: cold (the columnar store is built
  from the result cache: read, verify, parse, flatten, write) and warm (read from the store; best of 3).

Prints one line per step and a JSON summary (``--out`` writes it); ratios are against the same-run baseline."""

import gc, json, os, random, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import pandas as pd
from tests.benchmarks.columnar import main, settled_workspace
from toolkit import Workspace
from toolkit.load import detections

LABELS = ["red fox", "roe deer", "wild boar", "bird", "human", "vehicle", "mammal"]


def make(n_images=100_000, per=10, seed=1):
    rnd = random.Random(seed)
    out = []
    for i in range(n_images):
        anns = [
            {
                "id": k,
                "bbox": [round(rnd.random() / 2, 4), round(rnd.random() / 2, 4), 0.1, 0.2],
                "score": round(rnd.random(), 3),
                "label": (lab := rnd.choice(LABELS)),
                "taxonomy": {
                    "id": "t:" + lab,
                    "class": "mammalia",
                    "order": "carnivora",
                    "family": "canidae",
                    "genus": "vulpes",
                    "species": "vulpes",
                },
            }
            for k in range(per)
        ]
        out.append(
            {
                "id": f"job-{i}",
                "job_id": f"job-{i}",
                "annotations": anns,
                "info": {"model_id": "m", "model_version": "v", "threshold_applied": 0.2},
                "metadata": {"image_width": 640, "image_height": 480},
            }
        )
    return out


def raw_records(results, root):
    """What a new user hands over: job records with the result inline, taxonomy ranks but no taxon ids, the
    images on another machine (``root`` does not exist here)."""
    out = []
    for i, r in enumerate(results):
        res = dict(
            r,
            annotations=[
                dict(a, taxonomy={k: v for k, v in a["taxonomy"].items() if k != "id"}) for a in r["annotations"]
            ],
        )
        out.append({"job_id": r["job_id"], "input": f"{root}/CAM0{i % 4}/IMG_{i:06d}.jpg", "result": res})
    return out


def json_normalize(r):
    return pd.json_normalize(
        r, record_path="annotations", meta=["job_id", ["info", "model_id"], ["info", "model_version"]]
    )


def timed(fn, repeat=1):
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def run(n_images: int, root: Path) -> dict:
    results = make(n_images)
    boxes = sum(len(r["annotations"]) for r in results)
    ws_path = root / f"ws{n_images}"
    settled_workspace(
        ws_path, "animaldetect", "detect", [(f"CAM0{i % 4}/IMG_{i:06d}.jpg", r) for i, r in enumerate(results)]
    )
    ws = Workspace(ws_path, quiet=True)
    t_norm, df = timed(lambda: json_normalize(results))
    del df
    blobs = [json.dumps(r).encode() for r in results]  # the cold load's baseline parses too
    t_parse_norm, df = timed(lambda: json_normalize([json.loads(b) for b in blobs]))
    del df
    blobs = []
    t_dicts, df = timed(lambda: detections(results, read_files=False))
    del df
    raw = raw_records(results, root / "not-here")
    t_raw_norm, df = timed(
        lambda: pd.json_normalize(raw, record_path=["result", "annotations"], meta=["job_id", "input"])
    )
    del df
    t_raw, df = timed(lambda: detections(raw))
    assert len(df) == boxes
    del df
    raw = []  # (freed before the workspace loads)
    load_before = os.getloadavg()
    t_cold, df = timed(lambda: detections(ws))
    assert len(df) == boxes
    del df
    t_warm, df = timed(lambda: detections(ws), repeat=3)
    assert len(df) == boxes
    row = {
        "results": n_images,
        "boxes": boxes,
        "json_normalize_s": round(t_norm, 3),
        "from_dicts_s": round(t_dicts, 3),
        "cold_s": round(t_cold, 3),
        "warm_s": round(t_warm, 3),
        "warm_vs_json_normalize": round(t_norm / t_warm, 1),
        "cold_vs_json_normalize": round(t_norm / t_cold, 2),
        "parse_json_normalize_s": round(t_parse_norm, 3),
        "cold_vs_parse_json_normalize": round(t_parse_norm / t_cold, 2),
        "warm_vs_from_dicts": round(t_dicts / t_warm, 1),
        "raw_json_normalize_s": round(t_raw_norm, 3),
        "raw_s": round(t_raw, 3),
        "raw_vs_json_normalize": round(t_raw_norm / t_raw, 2),
        "loadavg": [round(x, 2) for x in load_before],  # 1, 5 and 15 min, before the workspace loads
    }
    print(json.dumps(row), flush=True)
    return row


if __name__ == "__main__":
    main(run, "detections", "results (of 10 boxes each) per run")
