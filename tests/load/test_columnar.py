"""The columnar store: loaders reading it give exactly the frames they build from the raw JSON, on real sandbox
results of every provider; the store is rebuilt from the cache when a part is lost or stale."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from geopandas.testing import assert_geodataframe_equal

from toolkit import load
from toolkit.load import store
from toolkit.sandbox import Sandbox, SandboxConfig
from toolkit.workspace import Workspace

DATA = Path(__file__).resolve().parents[2] / "data"
SEA_AOI = "POLYGON((139.7 35.4, 139.9 35.4, 139.9 35.6, 139.7 35.6, 139.7 35.4))"


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Any:
    """One workspace with settled batches of all four providers whose loaders read the store."""
    root = tmp_path_factory.mktemp("columnar")
    traps = root / "traps"
    shutil.copytree(DATA / "camera_traps", traps)
    (traps / "notes.jpg").write_text("not an image")  # rejected before sending
    with Sandbox(SandboxConfig(port=0, data_dir=root / "sb", time_scale=0.001)) as sb, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the data folders hold inputs preflight rejects on purpose
        w = Workspace(root / "ws", sandbox=sb, quiet=True)
        w.batches_ = {  # type: ignore[attr-defined]
            "detections": [w.animaldetect.detect(traps, threshold=0.3).wait(timeout=120)],
            "features": [
                w.sateais.ship(aoi=SEA_AOI, date="2024-06-01").wait(timeout=60),
                w.sateais.oilslick(aoi=DATA / "aoi" / "coastline.geojson", date="2024-05-31").wait(timeout=60),
                w.sateais.newbuilding(DATA / "aoi" / "town.geojson", "2024-01-01", "2024-06-01").wait(timeout=60),
            ],
            "verdicts": [w.authenta.screen(DATA / "media").wait(timeout=120)],
            "faces": [
                w.faces.enroll(DATA / "faces" / "roster.csv", collection=sb.tenant("faces").collection).wait(
                    timeout=120
                )
            ],
        }
        yield w


LOADERS = {"detections": load.detections, "features": load.features, "verdicts": load.verdicts, "faces": load.faces}


def assert_same(a: Any, b: Any) -> None:
    """Equal frames: values, dtypes, column order and the categories of every categorical in their order."""
    if hasattr(a, "geometry"):
        assert_geodataframe_equal(a, b, check_less_precise=False)
        assert a.attrs.get("aoi") == b.attrs.get("aoi")
    else:
        pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == list(b.columns)
    for c in a.columns:
        if isinstance(a[c].dtype, pd.CategoricalDtype):
            assert list(a[c].cat.categories) == list(b[c].cat.categories), c
            assert a[c].cat.categories.dtype == b[c].cat.categories.dtype, c


def from_json(table: str, sources: list[Any]) -> Any:
    records = [r for b in sources for r in b.records()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", load.InvalidGeometryWarning)
        return LOADERS[table](records)


@pytest.mark.parametrize("table", list(LOADERS))
def test_store_frames_equal_json_frames(ws, table):
    batches = ws.batches_[table]
    parts = store.Store(ws.path, table).data
    for b in batches:
        assert b.done and len(b.jobs) > 0
        expected = from_json(table, [b])
        assert len(expected) > 0
        cold = LOADERS[table](b)  # builds this batch's rows from the cache and appends a part
        warm = LOADERS[table](b)  # reads the part
        assert_same(cold, expected)
        assert_same(warm, expected)
    assert any(parts.glob("provider=*/operation=*/part-*.parquet"))
    # the whole workspace, ordered as the ledger lists the jobs
    jobs = ws.ledger.jobs(provider=store.TABLES[table])
    by_key = {r["key"]: r for b in batches for r in b.records()}
    expected = LOADERS[table]([by_key[j.key] for j in jobs])
    assert_same(LOADERS[table](ws), expected)


def test_detections_store_keeps_threshold_raw_and_categories(ws):
    (b,) = ws.batches_["detections"]
    df = load.detections(b, threshold=0.6)
    ref = load.detections(b.records(), threshold=0.6)
    assert_same(df, ref)
    assert df.attrs["threshold"] == 0.6 and df["above"].sum() == (ref["score"] >= 0.6).sum()
    assert dict(df.attrs["raw"]) == dict(ref.attrs["raw"]) and len(df.attrs["raw"]) > 0
    # job_id categories cover every image of the batch, boxes or not (as the JSON loader's do)
    assert set(df["job_id"].cat.categories) == {j.job_id for j in b.jobs if j.job_id}


def test_store_rebuilds_a_lost_part_and_stale_rows(ws):
    (b,) = ws.batches_["detections"]
    expected = load.detections(b.records())
    st = store.Store(ws.path, "detections")
    load.detections(b)
    for part in st.data.glob("provider=*/operation=*/part-*.parquet"):
        part.unlink()  # a part lost: its jobs are built again from the cache
    assert st.manifest().empty
    assert_same(load.detections(b), expected)
    assert len(st.manifest()) >= len(b.jobs)
    # a job whose fingerprint changed (here: its finish time moved) is built again; the newest part wins
    job = b.jobs[0]
    old = job.finished_at
    job.finished_at = (old or 0) + 1
    try:
        assert_same(load.detections(b), load.detections(b.records()))
        man = st.manifest()
        assert man.loc[job.key, "fp"] == store.fingerprint(job)
    finally:
        job.finished_at = old
    # compaction leaves one part per partition and no superseded rows
    assert st.compact(min_parts=2) >= 1
    parts = list(st.data.glob("provider=*/operation=*/part-*.parquet"))
    assert len(parts) == 1
    held = pd.read_parquet(parts[0])
    assert held[store.KEY].nunique() == len(st.manifest()) or set(held[store.KEY]) <= set(st.manifest().index)
    assert_same(load.detections(b), load.detections(b.records()))


def test_raw_results_and_file_sources_still_load_from_json(ws):
    (b,) = ws.batches_["verdicts"]
    raw = [r["result"] for r in b.raw()]
    assert len(load.verdicts(raw)) == len(raw)  # dicts never touch the store
    with pytest.raises(ValueError, match="engine"):
        load.verdicts(b, engine="spark")
