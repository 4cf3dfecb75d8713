"""1,000,000 Animal Detect annotations -> DataFrame: toolkit.load.detections vs pandas.json_normalize (same input,
same run); time and peak traced memory of each."""

import gc, random, sys, time, tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import pandas as pd
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


def ours(r):
    return detections(r, read_files=False)


def theirs(r):
    return pd.json_normalize(
        r, record_path="annotations", meta=["job_id", ["info", "model_id"], ["info", "model_version"]]
    )


results = make()
print("annotations:", sum(len(r["annotations"]) for r in results))
timings = {}
for name, fn in (("toolkit.load.detections", ours), ("pandas.json_normalize", theirs)):
    gc.collect()
    t = time.perf_counter()
    df = fn(results)
    timings[name] = time.perf_counter() - t
    print(f"{name:26s} {timings[name]:7.2f} s  rows={len(df)}  frame={df.memory_usage(deep=True).sum() / 1e6:.0f} MB")
    del df
print(f"speed-up: {timings['pandas.json_normalize'] / timings['toolkit.load.detections']:.1f}x")
for name, fn in (("toolkit.load.detections", ours), ("pandas.json_normalize", theirs)):
    gc.collect()
    tracemalloc.start()
    df = fn(results)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"{name:26s} peak traced memory above the input: {peak / 1e6:.0f} MB")
    del df
