"""The workspace's columnar dataset reads in DuckDB as it is (hive partitions, GeoParquet), with the same counts
as the pandas loaders."""

from __future__ import annotations

import warnings
from pathlib import Path

import duckdb
import pandas as pd

from toolkit import load
from toolkit.load import store
from toolkit.sandbox import Sandbox, SandboxConfig
from toolkit.workspace import Workspace

DATA = Path(__file__).resolve().parents[2] / "data"


def test_detections_and_features_in_sql(tmp_path):
    with Sandbox(SandboxConfig(port=0, data_dir=tmp_path / "sb", time_scale=0.001)) as sb, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # data/camera_traps holds a labels.csv preflight skips
        ws = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
        ws.animaldetect.detect(DATA / "camera_traps").wait(timeout=120)
        aoi = "POLYGON((139.7 35.4, 139.9 35.4, 139.9 35.6, 139.7 35.6, 139.7 35.4))"
        ws.sateais.ship(aoi=aoi, date="2024-06-01").wait(timeout=60)
    boxes = load.detections(ws)
    ships = load.features(ws)
    root = store.dataset_path(ws, "detections")
    got = duckdb.sql(
        f"""SELECT label, camera, provider, count(*) AS n
            FROM read_parquet('{root}/**/*.parquet', hive_partitioning = true)
            GROUP BY ALL ORDER BY label, camera"""
    ).df()
    expected = boxes.groupby(["label", "camera"], observed=True).size().reset_index(name="n")
    expected = expected.astype({"label": str, "camera": str}).sort_values(["label", "camera"]).reset_index(drop=True)
    assert (got["provider"] == "animaldetect").all() and got["n"].sum() == len(boxes) > 0
    pd.testing.assert_frame_equal(
        got[["label", "camera", "n"]].astype({"label": str, "camera": str, "n": "int64"}),
        expected.astype({"label": str, "camera": str, "n": "int64"}),
    )
    feats = store.dataset_path(ws, "features")
    (row,) = duckdb.sql(
        f"SELECT count(*), sum(area_sqm), min(operation) FROM read_parquet('{feats}/**/*.parquet', hive_partitioning = 1)"
    ).fetchall()
    assert row[0] == len(ships) > 0 and abs(row[1] - ships["area_sqm"].sum()) < 1e-6
    assert row[2] == "ship"
