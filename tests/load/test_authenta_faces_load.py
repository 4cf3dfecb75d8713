"""toolkit.load.verdicts and toolkit.load.faces on real Authenta / face-enrollment sandbox output."""

from __future__ import annotations

import io
import json
import time
import wave
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.helpers import scene_image
from toolkit.load import faces, verdicts
from toolkit.load.authenta import CORE, embedding_matrix
from toolkit.sandbox import Sandbox, SandboxConfig
from toolkit.sandbox.engines.faces import synthetic_faces

PDF = b"%PDF-1.4\n1 0 obj<</Type /Page>>endobj\n%%EOF\n2 0 obj<</Type /Page>>endobj\n%%EOF\n"


def tone_wav(seconds: float = 1.0, rate: int = 8000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    x = (np.sin(2 * np.pi * 440 * t) * (t < seconds / 2) * 20000).astype(np.int16)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(rate)
        w.writeframes(x.tobytes())
    return buf.getvalue()


def authenta_jobs() -> list[tuple[int, dict[str, tuple[bytes, str]]]]:
    face = synthetic_faces(2, seed=1)
    return [
        (1, {"original": (scene_image(1), "image/jpeg")}),
        (5, {"original": (scene_image(2), "image/jpeg")}),
        (7, {"original": (face[0], "image/png")}),
        (9, {"original": (face[1], "image/jpeg")}),
        (8, {"original": (face[0], "image/png"), "reference": (face[1], "image/jpeg")}),
        (6, {"original": (PDF, "application/pdf")}),
        (10, {"original": (tone_wav(), "audio/wav")}),
        (2, {"original": (tone_wav(), "audio/wav")}),
        (1, {"original": (b"\xff\xd8\xff\xe0 not really a jpeg" * 8, "image/jpeg")}),  # fails in processing
    ]


def run_authenta(sb: Sandbox, jobs: list[tuple[int, dict]] | None = None) -> list[dict]:
    """Create -> PUT each slot to its signed URL -> finalize -> poll; each job's detail and artifact JSON."""
    out, ids = [], []
    with httpx.Client(
        base_url=sb.base_url("authenta"), timeout=10, headers={"Authorization": f"Bearer {sb.key('authenta')}"}
    ) as c:
        for tid, slots in authenta_jobs() if jobs is None else jobs:
            inputs = [
                {"contentType": ct, "fileName": f"{slot}-{tid}-{len(ids)}", "sizeBytes": len(b), "slotName": slot}
                for slot, (b, ct) in slots.items()
            ]
            job = c.post("/jobs", params={"taskTypeId": tid}, json={"inputs": inputs}).json()
            job_id = job.get("jobId") or job["job"]["id"]
            for slot in job["inputs"]:
                data, ct = slots[slot["slotName"]]
                assert httpx.put(slot["uploadUrl"], content=data, headers={"Content-Type": ct}).status_code == 200
            assert c.post(f"/jobs/{job_id}/finalize").status_code == 200
            ids.append(job_id)
        for job_id in ids:
            deadline = time.monotonic() + 30
            while True:
                d = c.get(f"/jobs/{job_id}").json()
                status = d.get("status") or d["job"]["status"]
                if status in ("completed", "failed"):
                    break
                assert time.monotonic() < deadline
                time.sleep(0.05)
            arts = d.get("artifacts") or d.get("job", {}).get("artifacts") or []
            artifact = httpx.get(arts[0]["downloadUrl"]).json() if arts else None  # signed: no Authorization
            out.append({"detail": d, "artifact": artifact})
    return out


@pytest.fixture(scope="module")
def authenta(tmp_path_factory) -> list[dict]:
    with Sandbox(SandboxConfig(port=0, data_dir=tmp_path_factory.mktemp("authenta"), time_scale=0.001)) as sb:
        return run_authenta(sb)


def test_verdicts_from_raw_job_details(authenta):
    details = [r["detail"] for r in authenta]
    v = verdicts(details)
    assert len(v) == len(details)
    assert v["task"].tolist() == [d["taskTypeSlug"] for d in details]
    assert v["job_id"].tolist() == [str(d["jobId"]) for d in details]
    assert v["input"].tolist() == [d["inputs"][0]["fileName"] for d in details]
    assert v["status"].tolist() == ["succeeded"] * 8 + ["failed"]
    assert str(v["task"].dtype) == "category" and str(v["status"].dtype) == "category"
    assert str(v["is_fake"].dtype) == "boolean" and str(v["fake_confidence"].dtype) == "Float64"
    assert str(v["finished_at"].dtype) == "datetime64[ns, UTC]"
    assert v["finished_at"].iloc[0] == pd.Timestamp(details[0]["completedAt"])
    by = {
        t: v[v["task"] == t].iloc[0]
        for t in (
            "ai-image-detection",
            "image-forgery-detection",
            "face-liveness-detection",
            "face-intelligence",
            "document-intelligence",
            "audio-splitter",
            "ai-audio-detection",
        )
    }
    res = {d["taskTypeSlug"]: d.get("result") for d in details[:-1]}
    for task in ("ai-image-detection", "image-forgery-detection", "ai-audio-detection"):
        assert by[task]["fake_confidence"] == pytest.approx(res[task]["fakeConfidencePercent"] / 100)
        assert bool(by[task]["is_fake"]) is res[task]["isFake"]
    assert bool(by["image-forgery-detection"]["is_forged"]) is res["image-forgery-detection"]["isForged"]
    assert by["face-liveness-detection"]["liveness_score"] == pytest.approx(
        res["face-liveness-detection"]["livenessScore"] / 100
    )
    assert pd.isna(by["face-liveness-detection"]["fake_confidence"])  # liveness has no fake verdict
    fi = res["face-intelligence"]
    assert by["face-intelligence"]["similarity"] == pytest.approx(fi["similarityScore"] / 100)
    assert bool(by["face-intelligence"]["is_similar"]) is fi["isSimilar"]
    assert by["face-intelligence"]["fake_confidence"] == pytest.approx(fi["deepFakeConfidencePercent"] / 100)
    assert by["face-intelligence"]["reference"] == details[4]["inputs"][1]["fileName"]
    doc = res["document-intelligence"]
    assert bool(by["document-intelligence"]["is_tampered"]) is doc["isTampered"]
    assert by["document-intelligence"]["page_count"] == doc["pageCount"] == 2
    assert by["document-intelligence"]["fake_confidence"] == pytest.approx(doc["tamperConfidencePercent"] / 100)
    split = res["audio-splitter"]
    assert by["audio-splitter"]["segments"] == split["segments"] and len(split["segments"]) >= 1
    assert by["audio-splitter"]["duration_s"] == pytest.approx(1.0)
    failed = v.iloc[-1]
    assert failed["status"] == "failed" and "could not be analysed" in failed["error_message"]
    assert pd.isna(failed["fake_confidence"]) and pd.isna(failed["is_fake"])
    assert v["fake_confidence"].dropna().between(0, 1).all()


def test_embedding_column_and_matrix(authenta):
    details = [r["detail"] for r in authenta]
    v = verdicts(details)
    m = embedding_matrix(v)
    raw = details[3]["result"]["embedding"]
    assert m.shape == (1, 512) and m.dtype == np.float32
    np.testing.assert_allclose(m[0], raw, rtol=1e-6)
    assert np.linalg.norm(m[0]) == pytest.approx(1.0, abs=1e-4)
    assert v["embedding"].notna().sum() == 1 and v[v["embedding"].notna()]["task"].iloc[0] == "face-embedding"


def test_batch_records_with_artifact_results_give_the_same_verdicts(authenta):
    details = [r["detail"] for r in authenta]
    now = time.time()
    recs = [
        {
            "job_id": str(d["jobId"]),
            "input": f"/media/{d['inputs'][0]['fileName']}.bin",
            "operation": d["taskTypeSlug"],
            "status": "succeeded" if r["artifact"] else "failed",
            "error_code": None if r["artifact"] else "PROCESSING_FAILED",
            "error_message": d.get("errorMessage"),
            "options": {"task_type_id": d["taskTypeId"]},
            "meta": {},
            "submitted_at": now - 5,
            "started_at": None,
            "finished_at": now,
            "result": r["artifact"],
        }
        for r, d in zip(authenta, details)
    ]
    a, b = verdicts(recs), verdicts(details)
    cols = ["task", "status", "is_fake", "fake_confidence", "is_live", "liveness_score", "similarity", "page_count"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    assert a["input"].str.startswith("/media/").all()
    assert a["error_code"].tolist()[-1] == "PROCESSING_FAILED" and str(a["error_code"].dtype) == "category"
    assert a["submitted_at"].iloc[0] == pd.Timestamp(now - 5, unit="s", tz="UTC")


def test_reference_page_shape_and_confidence_scales():
    # GET /jobs/{id} as the reference page documents it: {confidence, isAiGenerated}, confidence of the verdict
    doc = {
        "jobId": 469,
        "taskTypeId": 1,
        "taskTypeSlug": "ai-image-detection",
        "status": "completed",
        "completedAt": "2025-12-02T19:40:35.100Z",
        "result": {"confidence": 0.98, "isAiGenerated": True},
    }
    real = {**doc, "jobId": 470, "result": {"confidence": 0.9, "isAiGenerated": False}}
    percent = {**doc, "jobId": 471, "result": {"confidence": 97.0, "isAiGenerated": True}}
    newer = {**doc, "jobId": 472, "result": {"isFake": False, "confidencePercent": 80.0}}
    sdk = {
        "job": {"id": "3140", "status": "PROCESSED", "taskTypeId": "1"},
        "result": {"isFake": True, "fakeConfidencePercent": 64.5},
    }
    v = verdicts([doc, real, percent, newer, sdk])
    assert v["fake_confidence"].tolist() == pytest.approx([0.98, 0.1, 0.97, 0.2, 0.645])
    assert v["is_fake"].tolist() == [True, False, True, False, True]
    assert v["job_id"].tolist() == ["469", "470", "471", "472", "3140"]
    assert v["task"].tolist() == ["ai-image-detection"] * 5
    assert v["status"].tolist() == ["succeeded"] * 5
    assert v["finished_at"].iloc[0] == pd.Timestamp("2025-12-02T19:40:35.100Z")


def test_wrapped_envelope_from_the_sandbox(tmp_path):
    config = SandboxConfig(port=0, data_dir=tmp_path / "sb", time_scale=0.001, authenta_envelope="wrapped")
    with Sandbox(config) as sb:
        with httpx.Client(
            base_url=sb.base_url("authenta"), timeout=10, headers={"Authorization": f"Bearer {sb.key('authenta')}"}
        ) as c:
            data = scene_image(5)
            slot = {"contentType": "image/jpeg", "fileName": "frame", "sizeBytes": len(data), "slotName": "original"}
            job = c.post("/jobs", params={"taskTypeId": 1}, json={"inputs": [slot]}).json()
            assert "jobId" not in job and job["job"]["status"] == "initiated"
            httpx.put(job["inputs"][0]["uploadUrl"], content=data, headers={"Content-Type": "image/jpeg"})
            c.post(f"/jobs/{job['job']['id']}/finalize")
            deadline = time.monotonic() + 20
            while (d := c.get(f"/jobs/{job['job']['id']}").json())["job"]["status"] != "completed":
                assert time.monotonic() < deadline
                time.sleep(0.05)
    v = verdicts([d])
    assert v["job_id"].tolist() == [job["job"]["id"]] and v["status"].tolist() == ["succeeded"]
    assert v["task"].tolist() == ["ai-image-detection"]
    assert v["fake_confidence"].iloc[0] == pytest.approx(d["job"]["result"]["fakeConfidencePercent"] / 100)


def test_columns_follow_the_tasks_present(authenta, tmp_path):
    details = [r["detail"] for r in authenta]
    image_only = [d for d in details if d["taskTypeSlug"] == "ai-image-detection"]
    assert list(verdicts(image_only).columns) == CORE
    assert list(verdicts(image_only + [details[3]]).columns) == CORE + ["embedding"]
    assert list(verdicts([]).columns) == CORE and len(verdicts([])) == 0
    for i, d in enumerate(details):
        (tmp_path / f"job-{i:02d}.json").write_text(json.dumps(d))
    from_files = verdicts(tmp_path)
    expected = verdicts(details)
    same = [c for c in expected.columns if c not in ("embedding", "input")]
    pd.testing.assert_frame_equal(from_files[same], expected[same])


# -- faces --------------------------------------------------------------------------------------------
def submit_faces(sb: Sandbox, collection: str, pictures: list[bytes], ids: list[str]) -> dict:
    files = [("images", (f"p{i}.jpg", b, "application/octet-stream")) for i, b in enumerate(pictures)]
    with httpx.Client(base_url=sb.base_url("faces"), timeout=10, headers={"X-API-Key": sb.key("faces")}) as c:
        r = c.post(f"/collections/{collection}/faces/batch-async", files=files, data={"external_ids[]": ids})
        assert r.status_code == 202, r.text
        return r.json()["data"]


def poll_faces(sb: Sandbox, job_id: str, until_done: bool = True) -> dict:
    org = sb.tenant("faces").org
    with httpx.Client(base_url=sb.base_url("faces"), timeout=10, headers={"X-API-Key": sb.key("faces")}) as c:
        deadline = time.monotonic() + 30
        while True:
            body = c.get(f"/organizations/{org}/batch/{job_id}").json()
            if not until_done or body["data"]["status"] in ("done", "failed"):
                return body
            assert time.monotonic() < deadline
            time.sleep(0.05)


PICTURES = synthetic_faces(4, seed=2) + [scene_image(3), b"not an image", scene_image(4, size=(80, 60))]
CODES = [None] * 4 + ["FACE_NOT_DETECTED", "INVALID_IMAGE", "FACE_QUALITY_TOO_LOW"]


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("faces")
    out = {}
    with Sandbox(SandboxConfig(port=0, data_dir=root / "fast", time_scale=0.001)) as sb:
        t = sb.tenant("faces")
        done = submit_faces(sb, t.collection, PICTURES, [f"emp-{i:03d}" for i in range(7)])
        bad = submit_faces(sb, "no-such-collection", PICTURES[:2], ["x-1", "x-2"])
        out["done"], out["bad"] = poll_faces(sb, done["job_id"]), poll_faces(sb, bad["job_id"])
    with Sandbox(SandboxConfig(port=0, data_dir=root / "slow", time_scale=10)) as sb:
        job = submit_faces(sb, sb.tenant("faces").collection, PICTURES[:3], ["p-0", "p-1", "p-2"])
        out["pending"] = poll_faces(sb, job["job_id"], until_done=False)
    return out


def test_faces_rows_from_raw_poll_bodies(enrolled):
    assert enrolled["pending"]["data"]["status"] in ("queued", "processing")
    f = faces([enrolled["done"], enrolled["bad"], enrolled["pending"]])
    assert len(f) == 7 + 2 + 3
    done = f.iloc[:7]
    results = enrolled["done"]["data"]["results"]
    assert done["external_id"].tolist() == [f"emp-{i:03d}" for i in range(7)]
    assert done["face_id"].tolist()[:4] == [r["face_id"] for r in results[:4]]
    assert done["face_id"].iloc[:4].str.startswith("face_").all() and done["face_id"].iloc[4:].isna().all()
    assert done["success"].tolist() == [True] * 4 + [False] * 3
    assert [None if pd.isna(c) else c for c in done["error_code"]] == CODES
    assert (done["job_status"] == "succeeded").all()
    assert (done["collection_id"] == enrolled["done"]["data"]["collection_id"]).all()
    bad = f.iloc[7:9]
    assert bad["success"].tolist() == [False, False]
    assert (bad["error_code"] == "COLLECTION_NOT_FOUND").all() and (bad["job_status"] == "failed").all()
    assert bad["error_message"].str.contains("no-such-collection").all()
    pending = f.iloc[9:]
    assert pending["success"].isna().all() and pending["error_code"].isna().all()
    assert pending["job_index"].tolist() == [0, 1, 2]
    assert set(pending["job_status"]) <= {"queued", "running"}
    assert str(f["success"].dtype) == "boolean" and str(f["error_code"].dtype) == "category"
    assert str(f["index"].dtype) == "Int64" and str(f["job_status"].dtype) == "category"


def test_faces_rows_follow_the_roster_records(enrolled):
    roster = [
        {"index": 100 + i, "external_id": f"emp-{i:03d}", "file": f"/staff/p{i}.jpg", "sha256": "x"} for i in range(7)
    ]
    body = json.loads(json.dumps(enrolled["done"]))
    body["data"]["results"] = body["data"]["results"][::-1]  # order must not matter: rows pair by index
    recs = [
        {
            "job_id": body["data"]["job_id"],
            "input": "staff rows 100-106",
            "status": "succeeded",
            "error_code": None,
            "error_message": None,
            "options": {"collection": "sandbox-collection"},
            "meta": {"rows": roster},
            "result": body,
        },
        {
            "job_id": "job-2",
            "input": "staff rows 107-108",
            "status": "failed",
            "error_code": "COLLECTION_NOT_FOUND",
            "error_message": "Collection x not found for this API key.",
            "options": {"collection": "x"},
            "meta": {
                "rows": [
                    {"index": 107, "external_id": "x-1", "file": "/staff/x1.jpg"},
                    {"index": 108, "external_id": "x-2", "file": "/staff/x2.jpg"},
                ]
            },
            "result": None,
        },
        {
            "job_id": "job-3",
            "input": "staff rows 109-109",
            "status": "running",
            "error_code": None,
            "error_message": None,
            "options": {"collection": "sandbox-collection"},
            "meta": {"rows": [{"index": 109, "external_id": "late", "file": "/staff/late.jpg"}]},
            "result": None,
        },
    ]
    f = faces(recs)
    assert f["index"].tolist() == list(range(100, 110))
    assert f["file"].tolist()[:2] == ["/staff/p0.jpg", "/staff/p1.jpg"]
    assert f["success"].tolist()[:7] == [True] * 4 + [False] * 3
    assert [None if pd.isna(c) else c for c in f["error_code"].iloc[:7]] == CODES
    assert f["face_id"].iloc[0] == enrolled["done"]["data"]["results"][0]["face_id"]
    assert f["job_id"].tolist() == [body["data"]["job_id"]] * 7 + ["job-2"] * 2 + ["job-3"]
    assert f["success"].iloc[7:9].tolist() == [False, False]
    assert (f["error_code"].iloc[7:9] == "COLLECTION_NOT_FOUND").all()
    assert f["collection_id"].iloc[7] == "x"
    assert pd.isna(f["success"].iloc[9]) and f["job_status"].iloc[9] == "running"
    # a job whose in-job index disagrees with the roster order is paired by external id instead
    swapped = json.loads(json.dumps(enrolled["done"]))
    swapped["data"]["results"][0]["external_id"], swapped["data"]["results"][4]["external_id"] = "emp-004", "emp-000"
    g = faces([{**recs[0], "result": swapped}])
    assert g["success"].iloc[0] == False and g["success"].iloc[4] == True  # noqa: E712


def test_faces_from_result_files(enrolled, tmp_path: Path):
    for name in ("done", "bad"):
        (tmp_path / f"{name}.json").write_text(json.dumps(enrolled[name]))
    f = faces(str(tmp_path / "*.json"))
    assert len(f) == 2 + 7  # bad.json sorts first
    assert f["error_code"].iloc[0] == "COLLECTION_NOT_FOUND" and f["success"].iloc[2:6].all()


def test_batch_loaders_through_the_clients(make_sandbox, tmp_path):
    from toolkit import load
    from toolkit.workspace import Workspace

    sb = make_sandbox()
    ws = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    media = tmp_path / "media"
    media.mkdir()
    for i in range(2):
        (media / f"frame-{i}.jpg").write_bytes(scene_image(20 + i))
    batch = ws.authenta.run("ai-image-detection", media).wait(timeout=60)
    v = batch.verdicts()
    assert sorted(v["input"]) == sorted(str(p) for p in media.iterdir())
    assert (v["status"] == "succeeded").all() and (v["task"] == "ai-image-detection").all()
    assert v["job_id"].tolist() == [j.job_id for j in batch.jobs]
    details = {r["job_id"]: r["result"] for r in batch.raw()}
    for _, row in v.iterrows():
        assert row["fake_confidence"] == pytest.approx(details[row["job_id"]]["result"]["fakeConfidencePercent"] / 100)
    pd.testing.assert_frame_equal(load.results(batch), v)

    roster = tmp_path / "roster.csv"
    pictures = PICTURES[:3] + [scene_image(5)]
    for i, data in enumerate(pictures):
        (tmp_path / f"p{i}.jpg").write_bytes(data)
    roster.write_text("external_id,image\n" + "".join(f"e{i},p{i}.jpg\n" for i in range(len(pictures))))
    fb = ws.faces.enroll(roster, collection=sb.tenant("faces").collection).wait(timeout=60)
    f = fb.results()
    assert f["external_id"].tolist() == ["e0", "e1", "e2", "e3"] and f["index"].tolist() == [0, 1, 2, 3]
    assert f["file"].str.endswith(("p0.jpg", "p1.jpg", "p2.jpg", "p3.jpg")).all()
    assert f["success"].tolist() == [True, True, True, False] and f["error_code"].iloc[3] == "FACE_NOT_DETECTED"
    assert (f["job_id"] == fb.jobs[0].job_id).all()


def test_parquet_round_trips_keep_dtypes(authenta, enrolled, tmp_path):
    details = [r["detail"] for r in authenta]
    recs = [
        {
            "job_id": str(d["jobId"]),
            "input": d["inputs"][0]["fileName"],
            "status": d["status"],
            "error_code": "PROCESSING_FAILED" if d["status"] == "failed" else None,
            "result": d,
        }
        for d in details
    ]
    v = verdicts(recs)
    v.to_parquet(tmp_path / "v.parquet")
    back = pd.read_parquet(tmp_path / "v.parquet")
    flat = [c for c in v.columns if c not in ("embedding", "segments")]
    pd.testing.assert_frame_equal(back[flat], v[flat])
    np.testing.assert_array_equal(embedding_matrix(back), embedding_matrix(v))
    assert back["segments"].iloc[6][0]["label"] == v["segments"].iloc[6][0]["label"] == "voice"
    f = faces([enrolled["done"], enrolled["bad"]])
    f.to_parquet(tmp_path / "f.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "f.parquet"), f)
