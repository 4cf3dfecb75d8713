"""engine="dask": lazy frames over the workspace's columnar dataset, aggregated on a 2-worker LocalCluster,
equal to the pandas result."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import dask.dataframe as dd
import pandas as pd
import pytest
from distributed import Client, LocalCluster

from toolkit import load
from toolkit.load import store
from toolkit.sandbox import Sandbox, SandboxConfig
from toolkit.workspace import Workspace

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.fixture(scope="module")
def season(tmp_path_factory) -> Any:
    """Two settled Animal Detect batches (two parts of the dataset) in one workspace."""
    root = tmp_path_factory.mktemp("dask")
    images = sorted((DATA / "camera_traps").glob("*.jpg"))
    for i, half in enumerate((images[::2], images[1::2])):
        (root / f"week{i}").mkdir()
        for p in half:
            shutil.copy(p, root / f"week{i}" / p.name)
    with Sandbox(SandboxConfig(port=0, data_dir=root / "sb", time_scale=0.001)) as sb:
        ws = Workspace(root / "ws", sandbox=sb, quiet=True)
        batches = [ws.animaldetect.detect(root / f"week{i}").wait(timeout=120) for i in range(2)]
        for b in batches:
            load.detections(b)  # one part per batch
        yield ws, batches


def test_counts_per_label_and_camera_on_a_local_cluster(season):
    ws, batches = season
    expected = load.detections(ws).groupby(["label", "camera"], observed=True).size()
    assert expected.sum() > 0
    with (
        warnings.catch_warnings(),
        LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        Client(cluster),
    ):
        warnings.simplefilter("ignore", ResourceWarning)
        ddf = load.detections(ws, engine="dask")
        assert isinstance(ddf, dd.DataFrame)
        assert ddf.npartitions >= 1 and {"label", "camera", "job_key", "provider", "operation"} <= set(ddf.columns)
        counts = ddf.groupby(["label", "camera"], observed=True).size().compute()
    pd.testing.assert_series_equal(
        counts.sort_index().astype("int64"),
        expected.sort_index().astype("int64"),
        check_names=False,
        check_index_type=False,
        check_categorical=False,
    )
    # a copy of the dataset folder alone reads the same (what a cluster on shared storage sees)
    copy = Path(str(ws.path) + "-copy")
    shutil.copytree(store.dataset_path(ws, "detections"), copy / "detections")
    lazy = load.detections(copy, engine="dask")
    assert len(lazy) == expected.sum()


def test_a_batch_gives_its_own_rows_and_features_are_dask_geopandas(season, tmp_path):
    ws, batches = season
    lazy = load.detections(batches[0], engine="dask", threshold=0.5).compute()
    eager = load.detections(batches[0], threshold=0.5)
    assert len(lazy) == len(eager) and int(lazy["above"].sum()) == int(eager["above"].sum())
    assert sorted(lazy["job_id"].astype(str)) == sorted(eager["job_id"].astype(str))
    with pytest.raises(FileNotFoundError, match="columnar"):
        load.features(tmp_path, engine="dask")


def test_verdicts_faces_and_features_lazily(tmp_path):
    import dask_geopandas

    with Sandbox(SandboxConfig(port=0, data_dir=tmp_path / "sb", time_scale=0.001)) as sb:
        ws = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
        aoi = "POLYGON((139.7 35.4, 139.9 35.4, 139.9 35.6, 139.7 35.6, 139.7 35.4))"
        ws.sateais.ship(aoi=aoi, date="2024-06-01").wait(timeout=60)
        v = ws.authenta.run("ai-image-detection", DATA / "media" / "rocket.jpg").wait(timeout=60)
    g = load.features(ws, engine="dask")
    assert isinstance(g, dask_geopandas.GeoDataFrame)
    eager = load.features(ws)
    got = g.compute()
    assert len(got) == len(eager) > 0 and got.crs == eager.crs
    assert sorted(got["feature_id"]) == sorted(eager["feature_id"])
    lazy_v = load.verdicts(v, engine="dask").compute()
    assert lazy_v["job_id"].astype(str).tolist() == load.verdicts(v)["job_id"].astype(str).tolist()
