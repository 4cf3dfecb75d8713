"""Authenta Jobs API contract over real HTTP: the documented flow, every task type and every error case."""

from __future__ import annotations

import io
import math
import time
import wave

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.helpers import api, stats
from toolkit.sandbox import Tenant

TERMINAL = {"completed", "failed", "cancelled"}


# -- media made in the test -------------------------------------------------------------------------
def photo(seed: int = 0, noise: float = 6.0, fmt: str = "JPEG", flip: bool = False, pasted: bool = False) -> bytes:
    """A camera-like gradient with sensor noise; ``pasted`` adds a noise-free rectangle (an edit)."""
    rng = np.random.default_rng(seed)
    base = np.linspace(60, 180, 320)[None, :, None] * np.ones((240, 1, 3)) + rng.normal(0, noise, (240, 320, 3))
    img = Image.fromarray(base.clip(0, 255).astype("uint8"))
    if flip:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if pasted:
        img.paste(Image.new("RGB", (90, 80), (200, 120, 90)), (120, 80))
    buf = io.BytesIO()
    img.save(buf, fmt, **({"quality": 92} if fmt == "JPEG" else {}))
    return buf.getvalue()


def wav(noise: float = 0.0, gaps: bool = False, rate: int = 8000, secs: float = 0.5) -> bytes:
    t = np.arange(int(rate * secs)) / rate
    x = 0.5 * np.sin(2 * np.pi * 440 * t)
    if gaps:
        x[(t % 0.25) > 0.15] = 0
    x = x + np.random.default_rng(0).normal(0, noise, t.size)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((x.clip(-1, 1) * 32767).astype("<i2").tobytes())
    return buf.getvalue()


def noise_bytes(n: int = 4096, seed: int = 1) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x0a" + bytes(10) + noise_bytes()
M4A = b"\x00\x00\x00\x18ftypM4A \x00\x00\x02\x00M4A isom" + noise_bytes()
MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + noise_bytes()
MOV = b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  " + noise_bytes(seed=2)
WEBM = b"\x1aE\xdf\xa3\x9fB\x86\x81\x01" + noise_bytes(seed=3)
PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
    b"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >> endobj\n"
    b"trailer << /Root 1 0 R >>\n%%EOF\n"
)


# -- client steps --------------------------------------------------------------------------------------
def jid(body: dict) -> str:
    return str(body["jobId"] if "jobId" in body else body["job"]["id"])


def status_of(body: dict) -> str:
    return body["status"] if "status" in body else body["job"]["status"]


def slot(data: bytes, ct: str, name: str = "original") -> dict:
    return {"contentType": ct, "fileName": f"{name}.bin", "sizeBytes": len(data), "slotName": name}


def create(c: httpx.Client, task: int, files: dict[str, tuple[bytes, str]], **body) -> httpx.Response:
    inputs = [slot(data, ct, name) for name, (data, ct) in files.items()]
    return c.post("/jobs", params={"taskTypeId": task}, json={"inputs": inputs, **body})


def upload(job: dict, files: dict[str, tuple[bytes, str]]) -> None:
    for s in job["inputs"]:
        data, ct = files[s["slotName"]]
        r = httpx.put(s["uploadUrl"], content=data, headers={"Content-Type": ct})
        assert r.status_code == 200, r.text


def wait(c: httpx.Client, job_id: str, until: set[str] = TERMINAL, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = c.get(f"/jobs/{job_id}").json()
        if status_of(body) in until:
            return body
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not reach {until}")


def start(c: httpx.Client, task: int, files: dict[str, tuple[bytes, str]], **body) -> str:
    r = create(c, task, files, **body)
    assert r.status_code == 200, r.text
    upload(r.json(), files)
    fin = c.post(f"/jobs/{jid(r.json())}/finalize")
    assert fin.status_code == 200, fin.text
    return jid(r.json())


def run(c: httpx.Client, task: int, files: dict[str, tuple[bytes, str]], **body) -> dict:
    return wait(c, start(c, task, files, **body))


def assert_error(r: httpx.Response, status: int, code: str, fragment: str = "") -> None:
    assert r.status_code == status, r.text
    assert r.json()["code"] == code and r.json()["statusCode"] == status
    assert fragment in r.json()["message"]


# -- tests -----------------------------------------------------------------------------------------------
def test_documented_flow_with_artifact_download(sandbox):
    image = photo(1)
    with api(sandbox, "authenta") as c:
        r = c.post(
            "/jobs?taskTypeId=1",
            json={
                "inputs": [
                    {"contentType": "image/jpeg", "fileName": "real", "sizeBytes": len(image), "slotName": "original"}
                ]
            },
        )
        assert r.status_code == 200
        job = r.json()
        assert isinstance(job["jobId"], int) and job["job"] == {"id": str(job["jobId"]), "status": job["status"]}
        assert job["status"] == "waiting_for_finalize" and job["taskTypeId"] == 1 and job["createdAt"]
        [inp] = job["inputs"]
        assert inp["slotName"] == "original" and inp["sizeBytes"] == len(image) and "sig=" in inp["uploadUrl"]
        assert f"/jobs/{job['jobId']}/original" in inp["uploadUrl"]
        assert httpx.put(inp["uploadUrl"], content=image, headers={"Content-Type": "image/jpeg"}).status_code == 200
        fin = c.post(f"/jobs/{job['jobId']}/finalize")
        assert fin.status_code == 200
        assert fin.json()["status"] == "queued" and fin.json()["queuedAt"] and fin.json()["message"]
        assert fin.json()["jobId"] == job["jobId"] and fin.json()["taskTypeId"] == 1
        done = wait(c, str(job["jobId"]))
    assert done["status"] == "completed" and done["taskTypeSlug"] == "ai-image-detection" and done["completedAt"]
    res = done["result"]
    assert res["sandbox"] is True and res["isFake"] is False
    assert res["fakeConfidencePercent"] + res["realConfidencePercent"] == pytest.approx(100)
    assert res["confidencePercent"] == max(res["fakeConfidencePercent"], res["realConfidencePercent"])
    [art] = done["artifacts"]
    assert art["kind"] == "result"
    download = httpx.get(art["downloadUrl"])  # pre-signed: no Authorization
    assert download.status_code == 200 and download.json() == res
    assert httpx.get(art["downloadUrl"].replace("sig=", "sig=0")).status_code == 403
    assert stats(sandbox)["providers"]["authenta"]["auth_on_signed_urls"] == 0


def test_task_type_is_typed_as_its_document_says(sandbox):
    """An int or its decimal string, in the query or the body (issue #23): no null, bool, blank or signed text."""
    inputs = [slot(photo(), "image/jpeg")]
    with api(sandbox, "authenta") as c:
        for bad in (None, True, " 1", "+1", "1_0", "", "\u0661"):
            r = c.post("/jobs?taskTypeId=1", json={"inputs": inputs, "taskTypeId": bad})
            assert r.status_code == 400 and "taskTypeId" in r.json()["message"], (bad, r.text)
        assert_error(c.post("/jobs?taskTypeId=", json={"inputs": inputs, "taskTypeId": 1}), 400, "INVALID_TASK_TYPE")
        r = c.post("/jobs", json={"inputs": inputs, "taskTypeId": "01"})
        assert r.status_code == 200 and r.json()["taskTypeId"] == 1


def test_task_type_in_body_as_string_and_mismatch(sandbox):
    inputs = [slot(photo(), "image/jpeg")]
    with api(sandbox, "authenta") as c:
        r = c.post("/jobs", json={"inputs": inputs, "taskTypeId": "5", "parameters": {"version": "v1"}})
        assert r.status_code == 200 and r.json()["taskTypeId"] == 5
        assert c.post("/jobs?taskTypeId=5", json={"inputs": inputs, "taskTypeId": 5}).status_code == 200
        assert_error(
            c.post("/jobs?taskTypeId=1", json={"inputs": inputs, "taskTypeId": "5"}), 400, "INVALID_TASK_TYPE", "differ"
        )
        assert_error(c.post("/jobs?taskTypeId=99", json={"inputs": inputs}), 400, "INVALID_TASK_TYPE", "99")
        assert_error(c.post("/jobs", json={"inputs": inputs, "taskTypeId": "abc"}), 400, "INVALID_TASK_TYPE")
        assert_error(c.post("/jobs", json={"inputs": inputs}), 400, "INVALID_TASK_TYPE", "required")
        assert_error(c.post("/jobs?taskTypeId=1", json={"inputs": []}), 400, "VALIDATION_ERROR")
        assert_error(
            c.post("/jobs?taskTypeId=1", json={"inputs": [slot(photo(), "image/jpeg", "selfie")]}),
            400,
            "VALIDATION_ERROR",
            "selfie",
        )


def test_every_task_type_end_to_end(sandbox):
    jpeg, png = (photo(3), "image/jpeg"), (photo(3, fmt="PNG"), "image/png")
    cases = {
        1: {"original": png},
        2: {"original": (MP3, "audio/mpeg")},
        3: {"original": (MP4, "video/mp4")},
        4: {"original": (MOV, "video/quicktime")},
        5: {"original": jpeg},
        6: {"original": (PDF, "application/pdf")},
        7: {"original": jpeg},
        8: {"original": jpeg, "reference": (photo(4), "image/jpeg")},
        9: {"original": png},
        10: {"original": (wav(gaps=True), "audio/wav")},
        11: {"original": (WEBM, "video/webm")},
    }
    slugs = {
        1: "ai-image-detection",
        2: "ai-audio-detection",
        3: "ai-video-detection",
        4: "faceswap-detection",
        5: "image-forgery-detection",
        6: "document-intelligence",
        7: "face-liveness-detection",
        8: "face-intelligence",
        9: "face-embedding",
        10: "audio-splitter",
        11: "ekyc-deepfake",
    }
    with api(sandbox, "authenta") as c:
        ids = {task: start(c, task, files) for task, files in cases.items()}
        done = {task: wait(c, job_id) for task, job_id in ids.items()}
    for task, body in done.items():
        assert body["status"] == "completed", body
        assert body["taskTypeSlug"] == slugs[task] and body["result"]["sandbox"] is True
    r = {task: body["result"] for task, body in done.items()}
    assert r[1]["isFake"] is False and r[5]["isForged"] is False and r[7]["isLive"] is True
    assert r[2]["isFake"] is False and r[3]["isFake"] is False  # near-random compressed payloads
    assert "isDeepFake" in r[4] and "isDeepFake" in r[11]
    assert r[6]["pageCount"] == 1 and r[6]["isTampered"] is False
    assert r[8]["isSimilar"] is True and r[8]["similarityScore"] > 90 and r[8]["isLiveness"] is True
    assert len(r[9]["embedding"]) == 512 and math.isclose(sum(x * x for x in r[9]["embedding"]), 1, abs_tol=1e-3)
    assert [(s["startSeconds"], s["endSeconds"]) for s in r[10]["segments"]] == [(0.0, 0.16), (0.24, 0.4)]


def test_audio_wav_and_m4a_and_pdf_signals(sandbox):
    with api(sandbox, "authenta") as c:
        synthetic = run(c, 2, {"original": (wav(), "audio/wav")})["result"]
        recorded = run(c, 2, {"original": (wav(noise=0.2), "audio/wav")})["result"]
        m4a = run(c, 2, {"original": (M4A, "audio/x-m4a")})
        edited = PDF + b"4 0 obj << /S /JavaScript /JS (app.alert(1)) >> endobj\n%%EOF\n"
        pdf = run(c, 6, {"original": (edited, "application/pdf")})["result"]
    assert synthetic["isFake"] is True and recorded["isFake"] is False
    assert m4a["status"] == "completed" and m4a["inputs"][0]["contentType"] == "audio/x-m4a"
    assert pdf["isTampered"] is True and pdf["analysisDetails"]["incrementalUpdates"] == 1


def test_face_intelligence_reference_slot_and_parameters(sandbox):
    ref_same, ref_other = (photo(7), "image/jpeg"), (photo(7, flip=True), "image/jpeg")
    with api(sandbox, "authenta") as c:
        same = run(
            c, 8, {"original": (photo(6), "image/jpeg"), "reference": ref_same}, parameters={"isSimilarityCheck": True}
        )["result"]
        other = run(
            c,
            8,
            {"original": (photo(6), "image/jpeg"), "reference": ref_other},
            parameters={"isLivenessCheck": False, "isFaceswapCheck": True},
        )["result"]
        video = run(c, 8, {"original": (MP4, "video/mp4")})["result"]
        assert_error(
            create(c, 8, {"original": (photo(), "image/jpeg")}, parameters={"isSimilarityCheck": True}),
            400,
            "VALIDATION_ERROR",
            "reference",
        )
        assert_error(
            create(c, 8, {"original": (photo(), "image/jpeg"), "reference": (MP4, "video/mp4")}),
            400,
            "UNSUPPORTED_MEDIA_TYPE",
            "reference",
        )
        assert_error(
            create(c, 1, {"original": (photo(), "image/jpeg"), "reference": (photo(), "image/jpeg")}),
            400,
            "VALIDATION_ERROR",
            "reference",
        )
    assert same["isSimilar"] is True and same["similarityScore"] > 90
    assert other["isSimilar"] is False and other["similarityScore"] < 50
    assert other["isLiveness"] is None and other["isDeepFake"] is False
    assert video["isSimilar"] is None and video["isDeepFake"] is False


def test_unsupported_media_type_declared_and_by_magic_bytes(sandbox):
    with api(sandbox, "authenta") as c:
        assert_error(create(c, 1, {"original": (b"hello", "text/plain")}), 400, "UNSUPPORTED_MEDIA_TYPE")
        assert_error(create(c, 2, {"original": (photo(), "image/jpeg")}), 400, "UNSUPPORTED_MEDIA_TYPE")
        assert_error(create(c, 3, {"original": (WEBM, "video/webm")}), 400, "UNSUPPORTED_MEDIA_TYPE")
        for data in (b"just some text, not a picture", photo(fmt="PNG")):
            files = {"original": (data, "image/jpeg")}
            job = create(c, 1, files).json()
            upload(job, files)
            assert_error(c.post(f"/jobs/{jid(job)}/finalize"), 400, "UNSUPPORTED_MEDIA_TYPE", "declared image/jpeg")
            assert c.get(f"/jobs/{jid(job)}").json()["status"] == "waiting_for_finalize"


def test_upload_url_single_use_type_and_size(sandbox):
    image = photo()
    with api(sandbox, "authenta") as c:
        job = create(c, 1, {"original": (image, "image/jpeg")}).json()
    url = job["inputs"][0]["uploadUrl"]
    assert_error(httpx.put(url, content=image, headers={"Content-Type": "image/png"}), 403, "FORBIDDEN", "Content-Type")
    assert_error(
        httpx.put(url, content=image + b"x", headers={"Content-Type": "image/jpeg"}), 403, "FORBIDDEN", "declared"
    )
    assert_error(
        httpx.put(url.replace("sig=", "sig=0"), content=image, headers={"Content-Type": "image/jpeg"}), 403, "FORBIDDEN"
    )
    assert httpx.put(url, content=image, headers={"Content-Type": "image/jpeg"}).status_code == 200
    assert_error(httpx.put(url, content=image, headers={"Content-Type": "image/jpeg"}), 403, "FORBIDDEN", "single")


def test_upload_url_expiry(make_sandbox):
    sb = make_sandbox(time_scale=0.00005)  # the 1 h upload window becomes 0.18 s
    image = photo()
    with api(sb, "authenta") as c:
        job = create(c, 1, {"original": (image, "image/jpeg")}).json()
        time.sleep(1.3)  # expiry is rounded up to the next whole second
        r = httpx.put(job["inputs"][0]["uploadUrl"], content=image, headers={"Content-Type": "image/jpeg"})
        assert_error(r, 403, "FORBIDDEN", "expired")
        assert_error(c.post(f"/jobs/{jid(job)}/finalize"), 400, "UPLOAD_INCOMPLETE")


def test_finalize_before_upload_and_twice(sandbox):
    files = {"original": (photo(), "image/jpeg"), "reference": (photo(1), "image/jpeg")}
    with api(sandbox, "authenta") as c:
        job = create(c, 8, files).json()
        assert_error(c.post(f"/jobs/{jid(job)}/finalize"), 400, "UPLOAD_INCOMPLETE", "original")
        httpx.put(job["inputs"][0]["uploadUrl"], content=files["original"][0], headers={"Content-Type": "image/jpeg"})
        assert_error(c.post(f"/jobs/{jid(job)}/finalize"), 400, "UPLOAD_INCOMPLETE", "reference")
        upload({"inputs": job["inputs"][1:]}, files)
        assert c.post(f"/jobs/{jid(job)}/finalize").status_code == 200
        assert_error(c.post(f"/jobs/{jid(job)}/finalize"), 400, "INVALID_JOB_STATE", "already finalized")
        assert_error(c.post("/jobs/99999/finalize"), 400, "JOB_NOT_FOUND", "Job not found or already finalized")
        r = httpx.put(
            job["inputs"][0]["uploadUrl"], content=files["original"][0], headers={"Content-Type": "image/jpeg"}
        )
        assert r.status_code == 403  # uploads close with finalize


def test_list_pagination_and_status_filter(sandbox):
    with api(sandbox, "authenta") as c:
        drafts = [jid(create(c, 9, {"original": (photo(), "image/jpeg")}).json()) for _ in range(3)]
        finished = [run(c, 9, {"original": (photo(i), "image/jpeg")})["jobId"] for i in range(2)]
        first = c.get("/jobs", params={"limit": 2}).json()
        assert first["pagination"] == {"page": 1, "limit": 2, "total": 5, "pages": 3}
        assert [j["jobId"] for j in first["data"]] == finished[::-1]  # newest first
        last = c.get("/jobs", params={"limit": 2, "page": 3}).json()
        assert [str(j["jobId"]) for j in last["data"]] == drafts[:1]
        assert c.get("/jobs").json()["pagination"]["limit"] == 10
        waiting = c.get("/jobs", params={"status": "waiting_for_finalize"}).json()
        assert sorted(str(j["jobId"]) for j in waiting["data"]) == sorted(drafts)
        completed = c.get("/jobs", params={"status": "completed"}).json()
        assert completed["pagination"]["total"] == 2 and all(j["result"] for j in completed["data"])
        assert completed["data"][0]["artifacts"][0]["downloadUrl"]
        assert_error(c.get("/jobs", params={"limit": 101}), 400, "VALIDATION_ERROR", "limit")
        assert_error(c.get("/jobs", params={"status": "done"}), 400, "VALIDATION_ERROR", "status")


def test_cancel_states(make_sandbox):
    sb = make_sandbox(runtimes={"authenta": 2000})  # about 2 s of processing at time_scale 0.001
    with api(sb, "authenta") as c:
        draft = jid(create(c, 1, {"original": (photo(), "image/jpeg")}).json())
        r = c.post(f"/jobs/{draft}/cancel")
        assert r.status_code == 200
        assert r.json()["status"] == "cancelled" and r.json()["taskTypeId"] == 1 and r.json()["message"]
        assert c.get(f"/jobs/{draft}").json()["status"] == "cancelled"
        assert_error(c.post(f"/jobs/{draft}/cancel"), 422, "INVALID_JOB_STATE", "cancelled")
        assert_error(c.post(f"/jobs/{draft}/finalize"), 400, "INVALID_JOB_STATE")
        busy = wait(c, start(c, 1, {"original": (photo(), "image/jpeg")}), until={"processing"})
        assert_error(c.post(f"/jobs/{jid(busy)}/cancel"), 409, "INVALID_JOB_STATE", "processing")
        assert_error(c.delete(f"/jobs/{jid(busy)}"), 409, "INVALID_JOB_STATE", "processing")
    sb2 = make_sandbox()
    with api(sb2, "authenta") as c:
        done = run(c, 1, {"original": (photo(), "image/jpeg")})
        assert_error(c.post(f"/jobs/{done['jobId']}/cancel"), 409, "INVALID_JOB_STATE", "completed")
    sb3 = make_sandbox(faults={"authenta": {"fail": 1.0}})
    with api(sb3, "authenta") as c:
        failed = run(c, 1, {"original": (photo(), "image/jpeg")})
        assert failed["status"] == "failed" and failed["errorMessage"] and "result" not in failed
        assert_error(c.post(f"/jobs/{failed['jobId']}/cancel"), 422, "INVALID_JOB_STATE", "failed")


def test_delete_then_404(sandbox):
    with api(sandbox, "authenta") as c:
        done = run(c, 7, {"original": (photo(), "image/jpeg")})
        url = done["artifacts"][0]["downloadUrl"]
        assert c.delete(f"/jobs/{done['jobId']}").status_code == 204
        assert_error(
            c.get(f"/jobs/{done['jobId']}"), 404, "JOB_NOT_FOUND", f"Job with ID {done['jobId']} does not exist"
        )
        assert_error(c.delete(f"/jobs/{done['jobId']}"), 404, "JOB_NOT_FOUND")
        assert httpx.get(url).status_code == 404
        draft = jid(create(c, 7, {"original": (photo(), "image/jpeg")}).json())
        assert c.delete(f"/jobs/{draft}").status_code == 204
        assert c.get("/jobs").json()["pagination"]["total"] == 0


def test_auth_and_tenant_isolation(make_sandbox):
    sb = make_sandbox(tenants=[Tenant("authenta", "api_apikey_a"), Tenant("authenta", "api_apikey_b")])
    files = {"original": (photo(), "image/jpeg")}
    with httpx.Client(base_url=sb.base_url("authenta")) as anon:
        assert_error(create(anon, 1, files), 401, "INVALID_API_KEY")
        anon.headers["Authorization"] = "Bearer api_apikey_wrong"
        assert_error(create(anon, 1, files), 401, "INVALID_API_KEY")
        assert_error(anon.get("/jobs/1"), 401, "INVALID_API_KEY")
    with api(sb, "authenta", key="api_apikey_a") as a, api(sb, "authenta", key="api_apikey_b") as b:
        job_id = start(a, 1, files)
        assert_error(b.get(f"/jobs/{job_id}"), 404, "JOB_NOT_FOUND", f"Job with ID {job_id} does not exist")
        assert_error(b.post(f"/jobs/{job_id}/cancel"), 404, "JOB_NOT_FOUND")
        assert_error(b.delete(f"/jobs/{job_id}"), 404, "JOB_NOT_FOUND")
        assert_error(b.post(f"/jobs/{job_id}/finalize"), 400, "JOB_NOT_FOUND")
        assert b.get("/jobs").json()["pagination"]["total"] == 0
        assert wait(a, job_id)["status"] == "completed"


@pytest.mark.parametrize("mode", ["both", "flat", "wrapped"])
def test_envelope_modes(make_sandbox, mode):
    sb = make_sandbox(authenta_envelope=mode)
    files = {"original": (photo(), "image/jpeg")}
    with api(sb, "authenta") as c:
        created = create(c, 1, files).json()
        upload(created, files)
        job_id = jid(created)
        final = c.post(f"/jobs/{job_id}/finalize").json()
        done = wait(c, job_id)
        other = jid(create(c, 1, files).json())
        cancelled = c.post(f"/jobs/{other}/cancel").json()
    bodies = (created, final, done, cancelled)
    if mode == "flat":
        assert all("job" not in b and isinstance(b["jobId"], int) for b in bodies)
    elif mode == "both":
        assert all(b["job"] == {"id": str(b["jobId"]), "status": b["status"]} for b in bodies)
    else:
        assert all("jobId" not in b and "status" not in b and isinstance(b["job"]["id"], str) for b in bodies)
        assert created["job"]["status"] == "initiated" and created["inputs"][0]["uploadUrl"]
        assert final["job"]["status"] == "queued" and done["job"]["result"]["sandbox"] is True
    assert [status_of(b) for b in (final, done, cancelled)] == ["queued", "completed", "cancelled"]


def test_image_engine_tells_pasted_from_untouched(sandbox):
    with api(sandbox, "authenta") as c:
        untouched = run(c, 5, {"original": (photo(11), "image/jpeg")})["result"]
        pasted = run(c, 5, {"original": (photo(11, pasted=True), "image/jpeg")})["result"]
        pasted_png = run(c, 5, {"original": (photo(12, fmt="PNG", pasted=True), "image/png")})["result"]
        again = run(c, 5, {"original": (photo(11, pasted=True), "image/jpeg")})["result"]
        smooth = run(c, 1, {"original": (photo(11, noise=0), "image/jpeg")})["result"]
        blurry = run(c, 7, {"original": (photo(11, noise=0), "image/jpeg")})["result"]
    assert untouched["isForged"] is False and untouched["fakeConfidencePercent"] < 20
    assert pasted["isForged"] is True and pasted["fakeConfidencePercent"] > 80 and pasted_png["isForged"] is True
    assert again == pasted  # deterministic
    assert smooth["isFake"] is True and blurry["isLive"] is False


def test_retention_then_404(make_sandbox):
    sb = make_sandbox(time_scale=0.00005)  # 30 days -> 130 s
    with api(sb, "authenta") as c:
        done = run(c, 9, {"original": (photo(), "image/jpeg")})
        url = done["artifacts"][0]["downloadUrl"]
        assert httpx.get(url).status_code == 200
        sb.ctx.store.update(str(done["jobId"]), completed_at=time.time() - 200)
        assert httpx.get(url).status_code == 404
        assert_error(c.get(f"/jobs/{done['jobId']}"), 404, "JOB_NOT_FOUND")
        assert c.get("/jobs").json()["pagination"]["total"] == 0


def test_failed_jobs_report_error_message(make_sandbox):
    sb = make_sandbox(runtimes={"authenta": 400}, runtime_spread=0)  # 400 s > the 300 s timeout of task 1
    with api(sb, "authenta") as c:
        broken = run(c, 9, {"original": (b"\xff\xd8\xff\xe0 truncated jpeg", "image/jpeg")})
        slow = run(c, 1, {"original": (photo(), "image/jpeg")})
        ok = run(c, 2, {"original": (MP3, "audio/mpeg")})  # 400 s < the 600 s timeout of task 2
    assert broken["status"] == "failed" and "could not be analysed" in broken["errorMessage"]
    assert "result" not in broken and "artifacts" not in broken
    assert slow["status"] == "failed" and "300 s timeout" in slow["errorMessage"]
    assert ok["status"] == "completed"
