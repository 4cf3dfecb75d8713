"""Claid images loader over task JSON from the real sandbox (raw HTTP), and the ledger jobs loader."""

from __future__ import annotations

import hashlib
import io
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
from PIL import Image, ImageDraw

from tests.helpers import api, scene_image
from toolkit import load
from toolkit.client.model import Job, Status
from toolkit.workspace import Workspace

FAST = {"api": [(6000, 60.0), (500, 1.0)]}  # the documented 4 req/s would throttle a tight polling loop


def product(size: tuple[int, int], color: tuple[int, int, int]) -> bytes:
    img = Image.new("RGB", size, (240, 240, 240))
    w, h = size
    ImageDraw.Draw(img).ellipse((w // 4, h // 4, 3 * w // 4, 3 * h // 4), fill=color)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def claid_tasks(sb, folder: Path) -> list[dict]:
    """Three edits over raw HTTP, as the Claid client will store them: records with the poll JSON plus the
    ``toolkit`` block (downloaded output digest and path). The third one fails (padding leaves no room)."""
    sb.config.rate_limits["claid"] = FAST
    specs = [
        ((160, 120), {"resizing": {"width": 400, "height": 300, "fit": "bounds"}}, {"format": "png"}),
        ((200, 200), {"resizing": {"width": 64, "height": 64, "fit": "crop"}}, {"format": "jpeg"}),
        ((160, 120), {"padding": "200px"}, {"format": "png"}),
    ]
    out = []
    with api(sb, "claid") as c:
        for i, (size, ops, output) in enumerate(specs):
            src = folder / f"product-{i}.png"
            src.write_bytes(product(size, (40 * i, 90, 160)))
            up = c.post("/storage/upload", files={"file": (src.name, src.read_bytes(), "image/png")}).json()["data"]
            task = c.post("/image/edit/async", json={"input": up["input"], "operations": ops, "output": output})
            assert task.status_code == 200, task.text
            url = task.json()["data"]["result_url"]
            deadline = time.monotonic() + 20
            while (body := c.get(url).json())["data"]["status"] not in ("DONE", "ERROR"):
                assert time.monotonic() < deadline
                time.sleep(0.02)
            if body["data"]["status"] == "DONE":
                data = httpx.get(body["data"]["result"]["output_object"]["tmp_url"]).content
                digest = hashlib.sha256(data).hexdigest()
                path = folder / "cache" / digest
                path.parent.mkdir(exist_ok=True)
                path.write_bytes(data)
                body["toolkit"] = {"output_digest": digest, "output_path": str(path)}
            status = "succeeded" if body["data"]["status"] == "DONE" else "failed"
            out.append({"job_id": str(body["data"]["id"]), "input": str(src), "status": status, "result": body})
    return out


@pytest.fixture
def tasks(sandbox, tmp_path):
    return claid_tasks(sandbox, tmp_path)


def test_claid_images_from_real_task_json(tasks):
    df = load.images(tasks)
    assert list(df["status"]) == ["succeeded", "succeeded", "failed"]
    for row in df.iloc[:2].itertuples():
        with Image.open(row.output_path) as out, Image.open(row.input) as src:
            assert (row.output_width, row.output_height) == out.size  # what the file on disk really is
            assert (row.input_width, row.input_height) == src.size
            assert row.output_format == out.format.lower()
        assert row.output_megapixels == pytest.approx(row.output_width * row.output_height / 1e6, rel=0.01)
        assert len(row.output_digest) == 64 and row.tmp_url.startswith("http")
    assert (df.loc[0, "output_width"], df.loc[0, "output_height"]) == (400, 300) and df.loc[0, "scale"] == 2.5
    assert (df.loc[1, "output_width"], df.loc[1, "output_height"]) == (64, 64) and df.loc[1, "output_format"] == "jpeg"
    assert df.loc[0, "operations"] == "resizing" and df.loc[2, "operations"] == "padding"
    failed = df.loc[2]
    assert "padding" in failed["error"] and pd.isna(failed["output_path"]) and pd.isna(failed["output_width"])
    assert failed["input_width"] == 160  # the input object is known even for a failed task
    assert str(df["output_width"].dtype) == "Int64" and str(df["output_format"].dtype) == "category"
    assert str(df["created_at"].dtype) == "datetime64[ns, UTC]" and df["created_at"].notna().all()
    assert set(df.attrs["raw"]) == {t["job_id"] for t in tasks}


def test_claid_images_from_bare_poll_json_and_files(tasks, tmp_path):
    import json

    bare = [{"data": t["result"]["data"]} for t in tasks]  # as the API returns it, nothing downloaded
    df = load.images(bare)
    assert list(df["job_id"]) == [t["job_id"] for t in tasks] and df["output_path"].isna().all()
    assert list(df["status"]) == ["succeeded", "succeeded", "failed"]
    assert df["input"].iloc[0].startswith("storage://sandbox/")  # the request's input, when no local path
    for i, t in enumerate(tasks):
        (tmp_path / f"task-{i}.json").write_text(json.dumps(t["result"]))
    from_files = load.images(str(tmp_path / "task-*.json"))
    assert list(from_files["output_path"].iloc[:2]) == [t["result"]["toolkit"]["output_path"] for t in tasks[:2]]
    assert list(from_files["output_width"].iloc[:2]) == [400, 64]


def test_jobs_from_workspace_ledger_batch_and_frames(sandbox, tmp_path):
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i in range(4):
        (imgs / f"cam-{i}.jpg").write_bytes(scene_image(i, size=(160, 120)))
    ws = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    batch = ws.animaldetect.detect(imgs).wait(timeout=60)
    frames = [
        load.jobs(ws),
        load.jobs(ws.ledger),
        load.jobs(batch),
        load.jobs([batch]),
        load.jobs(ws.jobs()),
        load.jobs(load.jobs(ws)),
    ]
    cols = ["provider", "batch", "job_id", "status", "created_at", "started_at", "finished_at", "total_s", "cached"]
    for f in frames[1:]:
        pd.testing.assert_frame_equal(
            f[cols].sort_values("job_id", key=lambda s: s.astype(str)).reset_index(drop=True),
            frames[0][cols].sort_values("job_id", key=lambda s: s.astype(str)).reset_index(drop=True),
            check_categorical=False,
        )
    df = frames[0]
    assert len(df) == 4 and set(df["status"]) == {"succeeded"} and df["cached"].all()
    assert set(df["batch"]) == {batch.id} and set(df["provider"]) == {"animaldetect"}
    for c in ("created_at", "submitted_at", "started_at", "finished_at"):
        assert str(df[c].dtype) == "datetime64[ns, UTC]"
    for c in ("provider", "status", "batch"):
        assert str(df[c].dtype) == "category"
    assert (df["total_s"] > 0).all() and (df["created_at"] <= df["submitted_at"]).all()
    split = df.dropna(subset=["started_at"])  # a job whose polls never saw it running has no split
    assert ((split["queue_s"] + split["run_s"] - split["total_s"]).abs() < 1e-6).all()
    # batch.to_frame() is this same table (plus batch_id): it reads back unchanged
    tf = load.jobs(batch.to_frame())
    pd.testing.assert_frame_equal(tf, load.jobs(batch))
    assert (tf["total_s"] > 0).all()


def test_jobs_durations_are_exact_and_unknown_stays_na():
    t0 = 1_780_000_000.0
    jobs = [
        Job(
            "k1",
            "sateais",
            "ship",
            "harbour",
            "b-1",
            status=Status.SUCCEEDED,
            job_id="a",
            created_at=t0,
            submitted_at=t0 + 1,
            started_at=t0 + 60,
            finished_at=t0 + 960,
            result_digest="d",
        ),
        Job(
            "k2",
            "sateais",
            "ship",
            "bay",
            "b-1",
            status=Status.FAILED,
            job_id="b",
            created_at=t0 + 2,
            submitted_at=t0 + 3,
            finished_at=t0 + 30,
            error_code="INVALID_SCENE",
            error_message="not GRD",
        ),
        Job("k3", "sateais", "ship", "cove", "b-1", status=Status.QUEUED, job_id="c", created_at=t0 + 4),
    ]
    df = load.jobs(jobs)
    assert list(df["queue_s"].fillna(-1)) == [60.0, -1, -1] and list(df["run_s"].fillna(-1)) == [900.0, -1, -1]
    assert list(df["total_s"].fillna(-1)) == [960.0, 28.0, -1]
    assert df.loc[0, "created_at"] == pd.Timestamp(t0, unit="s", tz="UTC")
    assert list(df["status"]) == ["succeeded", "failed", "queued"] and df.loc[1, "error_code"] == "INVALID_SCENE"
    assert list(df["cached"]) == [True, False, False]
    with pytest.raises(TypeError, match="Workspace, Ledger, Batch"):
        load.jobs(42)
