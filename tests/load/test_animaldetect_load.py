"""Animal Detect loaders over results produced by the real sandbox: the two tables, MegaDetector JSON out and
back, Camtrap DP, exports, and the speed against ``pandas.json_normalize``."""

from __future__ import annotations

import io
import json
import random
import re
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from tests.helpers import scene_image
from toolkit import load
from toolkit.load._capture import camera_from_path, time_from_name
from toolkit.load.export import RawResults, to_csv, to_parquet
from toolkit.sandbox import Sandbox, SandboxConfig
from toolkit.workspace import Workspace

BOX_COLUMNS = ["file", "label", "score", "x", "y", "w", "h", "class", "order", "family", "genus", "species"]


def exif_jpeg(seed: int, when: str, model: str, serial: str) -> bytes:
    img = Image.open(io.BytesIO(scene_image(seed, size=(320, 240), objects=2)))
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Bushnell", model
    sub = exif.get_ifd(0x8769)
    sub[0x9003], sub[0xA431] = when, serial
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes())
    return buf.getvalue()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One clean batch (boxes, a blank image, EXIF, a camera folder, a rejected file) and one all-failing batch."""
    root = tmp_path_factory.mktemp("ad")
    imgs = root / "imgs"
    (imgs / "cam07").mkdir(parents=True)
    for i in range(4):
        name = f"CAM0{i % 2 + 1}_2026061{i + 1}_0{i}1522.jpg"
        (imgs / name).write_bytes(scene_image(i, size=(320, 240), objects=2 + i % 2))
    (imgs / "CAM01_20260615_120000_blank.jpg").write_bytes(scene_image(40, size=(320, 240), objects=0))
    (imgs / "cam07" / "IMG_0001.JPG").write_bytes(exif_jpeg(5, "2026:06:20 22:05:09", "Trophy Cam HD", "SN-4411"))
    (imgs / "notes.jpg").write_text("not an image")
    bad = root / "bad"
    bad.mkdir()
    (bad / "CAM09_20260601_000000.jpg").write_bytes(scene_image(7, size=(320, 240)))
    with (
        Sandbox(SandboxConfig(port=0, data_dir=root / "sb", time_scale=0.001)) as sb,
        Sandbox(
            SandboxConfig(
                port=0, data_dir=root / "sbf", time_scale=0.001, faults={"animaldetect": {"fail": 1.0}}, seed=1
            )
        ) as failing,
    ):
        ws = Workspace(root / "ws", sandbox=sb, quiet=True)
        batch = ws.animaldetect.detect(imgs, top_candidate=True).wait(timeout=60)
        failed = Workspace(root / "wsf", sandbox=failing, quiet=True).animaldetect.detect(bad).wait(timeout=60)
        yield {"root": root, "ws": ws, "batch": batch, "failed": failed, "imgs": imgs}


def test_images_table_keeps_blank_failed_and_rejected_apart(run):
    batch, failed = run["batch"], run["failed"]
    assert batch.status_counts()["succeeded"] == 6 and failed.status_counts()["failed"] == 1
    t = load.images_table([batch, failed])
    assert len(t) == 8  # one row per image of both batches: 7 submitted + 1 rejected before sending
    by_name = {Path(f).name: row for f, row in zip(t["file"], t.to_dict("records"))}
    blank = by_name["CAM01_20260615_120000_blank.jpg"]
    assert blank["status"] == "succeeded" and blank["processed"] and blank["n_boxes"] == 0
    bad = by_name["CAM09_20260601_000000.jpg"]
    assert bad["status"] == "failed" and not bad["processed"] and pd.isna(bad["n_boxes"])
    assert re.match(r"^\w+: .+", bad["failure"]) and pd.isna(blank["failure"])
    raw = {r["job_id"]: r["result"] for r in batch.raw()}
    for row in t[t.status == "succeeded"].itertuples():
        assert row.n_boxes == len(raw[row.job_id]["annotations"])
        assert (row.width, row.height) == (320, 240)
    # capture time and camera: from EXIF for the tagged file, else from the file / folder name
    exif = by_name["IMG_0001.JPG"]
    assert exif["captured_at"] == pd.Timestamp("2026-06-20 22:05:09") and exif["camera"] == "CAM07"
    assert exif["camera_model"] == "Bushnell Trophy Cam HD"
    assert by_name["CAM02_20260612_011522.jpg"]["captured_at"] == pd.Timestamp("2026-06-12 01:15:22")
    assert by_name["CAM02_20260612_011522.jpg"]["camera"] == "CAM02" and bad["camera"] == "CAM09"
    assert str(t["status"].dtype) == "category" and str(t["camera"].dtype) == "category"
    assert str(t["n_boxes"].dtype) == "Int64" and str(t["submitted_at"].dtype) == "datetime64[ns, UTC]"
    # a batch's preflight rejections are rows too: "not processed", with the reason
    rejected = t[t.status == "rejected"]
    assert list(rejected["file"].map(lambda f: Path(f).name)) == ["notes.jpg"]
    assert "magic bytes" in rejected["failure"].iloc[0] and pd.isna(rejected["n_boxes"].iloc[0])


def test_detections_one_row_per_box_with_values_from_the_raw_json(run):
    batch = run["batch"]
    df = load.detections(batch, threshold=0.9)
    raw = {r["job_id"]: r["result"] for r in batch.raw()}
    anns = [(jid, a) for jid, res in raw.items() for a in res["annotations"]]
    assert len(df) == len(anns) >= 8
    got = {(r["job_id"], r["annotation_id"]): r for r in df.to_dict("records")}
    for jid, a in anns:
        r = got[(jid, a["id"])]
        assert [r["x"], r["y"], r["w"], r["h"]] == a["bbox"] and r["score"] == a["score"] and r["label"] == a["label"]
        assert r["x_px"] == pytest.approx(a["bbox"][0] * 320) and r["h_px"] == pytest.approx(a["bbox"][3] * 240)
        for rank in ("class", "order", "family", "genus", "species"):
            assert (r[rank] if not pd.isna(r[rank]) else "") == a["taxonomy"][rank]
    assert "kingdom" not in df.columns  # only the ranks the results have
    assert set(df["model_id"]) == {"sandbox-reference"} and set(df["model_version"]) == {"sandbox-reference-1"}
    blank = [j.job_id for j in batch.jobs if "blank" in j.input]
    assert blank and not df["job_id"].isin(blank).any()  # no boxes: not here, but in images_table
    # the threshold is a view, not a loss
    assert df["above"].sum() == sum(a["score"] >= 0.9 for _, a in anns) and len(df[~df.above]) >= 0
    assert load.detections(batch)["above"].all() and len(load.detections(batch)) == len(df)
    assert batch.detections()["score"].tolist() == df["score"].tolist()  # the Batch method is the same loader
    for col in ("label", "job_id", "file", "camera", "class"):
        assert str(df[col].dtype) == "category", col
    assert df["score"].dtype == "float64" and str(df["annotation_id"].dtype) == "Int64"
    assert str(df["captured_at"].dtype) == "datetime64[ns]"
    # raw JSON stays reachable, shared (not copied) through filters
    assert isinstance(df.attrs["raw"], RawResults) and df.attrs["raw"] == raw
    assert df[df.above].attrs["raw"] is df.attrs["raw"]


def test_json_normalize_trap_is_avoided(run):
    batch = run["batch"]
    results = [r["result"] for r in batch.raw()]
    normalized = pd.json_normalize(results, record_path="annotations", meta=["job_id"])
    blank = next(j.job_id for j in batch.jobs if "blank" in j.input)
    assert blank not in set(normalized["job_id"])  # json_normalize silently loses the empty image
    table = load.images_table(results)  # the same raw dicts
    assert table.set_index("job_id").loc[blank, "n_boxes"] == 0
    assert len(load.detections(results)) == len(normalized)


def test_raw_dicts_files_and_status_bodies_load_alike(run, tmp_path):
    batch = run["batch"]
    for r in batch.raw():
        (tmp_path / f"{r['job_id']}.json").write_text(json.dumps(r["result"]))
    from_files = load.detections(str(tmp_path / "*.json"))
    from_batch = load.detections(batch)
    a, b = (
        d.assign(j=d["job_id"].astype(str)).sort_values(["j", "annotation_id"]).reset_index(drop=True)
        for d in (from_batch, from_files)
    )
    for col in ["label", "score", "x", "y", "w", "h", "x_px", "species", "model_id"]:
        assert list(a[col].astype(object)) == list(b[col].astype(object)), col
    # a failed job's status body (what the result URL returns) is "not processed", never "no boxes"
    body = {"job_id": "j-failed", "status": "failed", "error": {"code": "INVALID_IMAGE", "message": "not decodable"}}
    t = load.images_table([body, batch.raw()[0]["result"]])
    row = t.set_index("job_id").loc["j-failed"]
    assert row["status"] == "failed" and row["failure"] == "INVALID_IMAGE: not decodable" and pd.isna(row["n_boxes"])
    assert len(load.detections([body])) == 0 and list(load.detections([body]).columns)[:5] == [
        "job_id",
        "file",
        "annotation_id",
        "label",
        "score",
    ]


def validate_md(md: dict) -> None:
    """The checks of MegaDetector's validate_batch_results.py (format 1.3+)."""
    assert float(md["info"]["format_version"]) >= 1.3
    for k, v in md["detection_categories"].items():
        assert isinstance(k, str) and int(k) >= 0 and isinstance(v, str)
    for k, v in md.get("classification_categories", {}).items():
        assert isinstance(k, str) and int(k) >= 0 and isinstance(v, str)
    for im in md["images"]:
        assert "file" in im
        if im.get("failure") is not None:
            assert isinstance(im["failure"], str) and im["detections"] is None
            continue
        assert isinstance(im["detections"], list)
        for d in im["detections"]:
            assert isinstance(d["conf"], float) and d["category"] in md["detection_categories"]
            assert len(d["bbox"]) == 4 and all(0 <= v <= 1 for v in d["bbox"])
            confs = [c[1] for c in d.get("classifications", [])]
            assert confs == sorted(confs, reverse=True)
            for c in d.get("classifications", []):
                assert isinstance(c[0], str) and int(c[0]) >= 0 and c[0] in md["classification_categories"]


def test_megadetector_round_trip(run, tmp_path):
    batch, failed = run["batch"], run["failed"]
    md = load.to_megadetector([batch, failed], tmp_path / "md.json")
    validate_md(json.loads((tmp_path / "md.json").read_text()))
    assert md["info"]["format_version"] == "1.5" and md["detection_categories"] == {
        "1": "animal",
        "2": "person",
        "3": "vehicle",
    }
    files = {im["file"]: im for im in md["images"]}
    assert len(files) == 7 and all(not f.startswith("/") for f in files)  # relative to the common folder
    assert files["imgs/CAM01_20260615_120000_blank.jpg"]["detections"] == []
    assert files["bad/CAM09_20260601_000000.jpg"]["failure"].startswith("PROCESSING_FAILED")
    humans = [d for im in md["images"] for d in im["detections"] or [] if d["category"] == "2"]
    names = md["classification_categories"]
    assert all(names[d["classifications"][0][0]] == "human" for d in humans)
    back = load.from_megadetector(tmp_path / "md.json")
    orig = load.detections(batch)
    key = ["file", "x", "y"]
    a = orig[BOX_COLUMNS].astype(object).sort_values(key).reset_index(drop=True)
    b = back[BOX_COLUMNS].astype(object).sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    assert list(back["image_width"]) == [320] * len(back)
    images = back.attrs["images"].set_index("file")
    assert images.loc[str(run["imgs"] / "CAM01_20260615_120000_blank.jpg"), "n_boxes"] == 0
    assert pd.isna(images.loc[str(run["root"] / "bad" / "CAM09_20260601_000000.jpg"), "n_boxes"])


def test_from_megadetector_reads_a_plain_megadetector_file(tmp_path):
    md = {
        "info": {"format_version": "1.4", "detector": "md_v5a.0.0.pt"},
        "detection_categories": {"1": "animal", "2": "person", "3": "vehicle"},
        "images": [
            {
                "file": "cam03/IMG_0002.JPG",
                "detections": [
                    {"category": "1", "conf": 0.91, "bbox": [0.1, 0.2, 0.3, 0.4]},
                    {"category": "2", "conf": 0.4, "bbox": [0.5, 0.5, 0.1, 0.2]},
                ],
            },
            {"file": "cam03/IMG_0003.JPG", "detections": []},
            {"file": "cam04/broken.jpg", "failure": "Failure image access", "detections": None},
        ],
    }
    df = load.from_megadetector(md, root="/data/traps")
    assert list(df["label"]) == ["animal", "person"] and list(df["score"]) == [0.91, 0.4]
    assert set(df["file"]) == {"/data/traps/cam03/IMG_0002.JPG"} and set(df["camera"]) == {"CAM03"}
    assert set(df["model_id"]) == {"md_v5a.0.0.pt"} and df["x_px"].isna().all()
    assert list(df.attrs["images"]["failure"].fillna("")) == ["", "", "Failure image access"]


CAMTRAP_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$")


def test_camtrap_dp_package(run, tmp_path):
    batch = run["batch"]
    path = load.to_camtrap_dp(batch, tmp_path / "dp", tz="Europe/Berlin", latitude=52.1, longitude=13.4)
    pkg = json.loads(path.read_text())
    assert [r["name"] for r in pkg["resources"]] == ["deployments", "media", "observations"]
    assert pkg["profile"].endswith("/camtrap-dp-profile.json") and pkg["spatial"]["type"] == "Polygon"
    deps = pd.read_csv(tmp_path / "dp" / "deployments.csv", dtype=str, keep_default_na=False)
    media = pd.read_csv(tmp_path / "dp" / "media.csv", dtype=str, keep_default_na=False)
    obs = pd.read_csv(tmp_path / "dp" / "observations.csv", dtype=str, keep_default_na=False)
    assert list(obs.columns[:8]) == [
        "observationID",
        "deploymentID",
        "mediaID",
        "eventID",
        "eventStart",
        "eventEnd",
        "observationLevel",
        "observationType",
    ]
    for col in (
        "scientificName",
        "count",
        "bboxX",
        "bboxY",
        "bboxWidth",
        "bboxHeight",
        "classificationMethod",
        "classifiedBy",
        "classificationProbability",
    ):
        assert col in obs.columns
    table = load.images_table(batch)
    assert len(media) == 6 and set(media["mediaID"]) == set(table["job_id"].dropna())
    n_boxes = int(table["n_boxes"].sum())
    assert (obs["observationType"] != "blank").sum() == n_boxes and (obs["observationType"] == "blank").sum() == 1
    assert set(obs["mediaID"]) <= set(media["mediaID"]) and set(obs["deploymentID"]) <= set(deps["deploymentID"])
    assert set(deps["deploymentID"]) == {"CAM01", "CAM02", "CAM07"} and obs["observationID"].is_unique
    assert all(CAMTRAP_TS.match(v) for v in [*media["timestamp"], *obs["eventStart"], *deps["deploymentStart"]])
    assert media.set_index("fileName").loc["IMG_0001.JPG", "timestamp"] == "2026-06-20T22:05:09+02:00"
    humans = obs[obs["observationTags"] == "label:human"]
    assert len(humans) and set(humans["observationType"]) == {"human"}
    assert set(humans["scientificName"]) == {"Homo sapiens"}
    animals = obs[obs["observationType"] == "animal"]
    assert all(" " not in s or s.split()[0].istitle() for s in animals["scientificName"])
    boxes = animals[["bboxX", "bboxY", "bboxWidth", "bboxHeight"]].astype(float)
    assert ((boxes >= 0) & (boxes <= 1)).all().all() and (animals["classificationMethod"] == "machine").all()
    assert set(deps["latitude"]) == {"52.1"} and set(deps["timestampIssues"]) == {"false"}


def test_exports_keep_dtypes_and_drop_raw(run, tmp_path):
    df = load.detections(run["batch"])
    p = to_parquet(df, tmp_path / "d.parquet")
    back = pd.read_parquet(p)
    assert back.attrs == {} and str(back["label"].dtype) == "category" and len(back) == len(df)
    assert list(back["score"]) == list(df["score"])
    df.to_parquet(tmp_path / "plain.parquet")  # pandas' own writer also works (raw JSON in the metadata)
    assert pd.read_parquet(tmp_path / "plain.parquet").attrs["raw"] == df.attrs["raw"]
    t = load.images_table(run["batch"])
    c = pd.read_csv(to_csv(t, tmp_path / "t.csv"))
    assert len(c) == len(t) and c["submitted_at"].isna().sum() == 1  # the rejected file was never submitted
    assert c["submitted_at"].dropna().str.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$").all()
    assert (pd.to_datetime(c["submitted_at"]) - t["submitted_at"]).abs().max() < pd.Timedelta("1ms")


@pytest.mark.parametrize(
    "name, expected",
    [
        ("CAM03_20260614_031522.jpg", datetime(2026, 6, 14, 3, 15, 22)),
        ("2026-06-14 03-15-22.JPG", datetime(2026, 6, 14, 3, 15, 22)),
        ("RCNX0001_20261399_120000.jpg", None),  # month 13: not a date
        ("IMG_0001.JPG", None),
    ],
)
def test_time_from_name(name, expected):
    assert time_from_name(name) == expected


@pytest.mark.parametrize(
    "path, expected",
    [
        ("/x/CAM03_20260614_031522.jpg", "CAM03"),
        ("/site-a/cam-12/IMG_0001.JPG", "CAM12"),
        ("/site/Camera_7b/DSC01.jpg", "CAM7B"),
        ("/site/CT04/x.jpg", "CT04"),
        ("/scam/images/IMG_1.jpg", None),
    ],
)
def test_camera_from_path(path, expected):
    assert camera_from_path(path) == expected


def test_capture_reads_exif_rotation_serial_and_falls_back_to_the_name(tmp_path):
    from toolkit.load._capture import capture

    img = Image.new("RGB", (300, 200), (90, 90, 90))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90°: the detector sees 200 x 300
    exif.get_ifd(0x8769)[0xA431] = "SN-77"
    (tmp_path / "IMG_0042.JPG").write_bytes(_jpeg(img, exif))
    c = capture(str(tmp_path / "IMG_0042.JPG"))
    assert (c.width, c.height, c.camera, c.captured_at) == (200, 300, "SN-77", None)
    named = tmp_path / "CAM05_20260701_235959.jpg"
    named.write_bytes(_jpeg(img, Image.Exif()))
    c = capture(str(named))
    assert (c.width, c.camera, c.captured_at) == (300, "CAM05", datetime(2026, 7, 1, 23, 59, 59))
    gone = capture(str(tmp_path / "cam02" / "missing_20260101_000000.jpg"))  # not on disk: the name still speaks
    assert (gone.width, gone.camera, gone.captured_at) == (None, "CAM02", datetime(2026, 1, 1))


def _jpeg(img: Image.Image, exif: Image.Exif) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes())
    return buf.getvalue()


def test_faster_than_json_normalize():
    random.seed(3)
    labels = ["red fox", "roe deer", "wild boar", "human"]
    results = [
        {
            "job_id": f"j{i}",
            "annotations": [
                {
                    "id": k,
                    "bbox": [random.random() / 2, random.random() / 2, 0.1, 0.2],
                    "score": random.random(),
                    "label": (lab := labels[k % 4]),
                    "taxonomy": {"id": lab, "class": "mammalia", "order": "", "family": "", "genus": "", "species": ""},
                }
                for k in range(10 if i % 5 else 0)
            ],
            "info": {"model_id": "m", "model_version": "v"},
            "metadata": {"image_width": 640, "image_height": 480},
        }
        for i in range(5000)
    ]
    t0 = time.perf_counter()
    ours = load.detections(results, read_files=False)
    t1 = time.perf_counter()
    theirs = pd.json_normalize(results, record_path="annotations", meta=["job_id", ["info", "model_id"]])
    t2 = time.perf_counter()
    assert len(ours) == len(theirs) == 40_000
    assert (t2 - t1) / (t1 - t0) >= 3, f"detections {t1 - t0:.2f}s vs json_normalize {t2 - t1:.2f}s"
