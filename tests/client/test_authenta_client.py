"""Authenta client against the real sandbox: 11 task types, both envelopes, reference slot, list/cancel/delete,
exactly-once under faults, lost creates found again, resume and upload expiry, preflight, zero-request re-runs."""

from __future__ import annotations

import io
import re
import time
import wave
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.helpers import api, scene_image, stats
from toolkit.client import runtime
from toolkit.client.model import PreflightError, Status
from toolkit.client.providers.authenta import AuthentaAdapter, unwrap
from toolkit.sandbox import Sandbox
from toolkit.workspace import Workspace


# -- media ------------------------------------------------------------------------------------------------
def noise(n: int = 4096, seed: int = 1) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def wav(gaps: bool = False, rate: int = 8000, secs: float = 0.5) -> bytes:
    t = np.arange(int(rate * secs)) / rate
    x = 0.5 * np.sin(2 * np.pi * 440 * t)
    if gaps:
        x[(t % 0.25) > 0.15] = 0
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((x * 32767).astype("<i2").tobytes())
    return buf.getvalue()


MEDIA = {
    "photo.jpg": lambda: scene_image(1, size=(160, 120)),
    "photo.png": lambda: scene_image(2, size=(160, 120), fmt="PNG"),
    "tone.wav": lambda: wav(),
    "speech.wav": lambda: wav(gaps=True),
    "clip.mp3": lambda: b"ID3\x03\x00\x00\x00\x00\x00\x0a" + bytes(10) + noise(),
    "voice.m4a": lambda: b"\x00\x00\x00\x18ftypM4A \x00\x00\x02\x00M4A isom" + noise(seed=4),
    "clip.mp4": lambda: b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + noise(seed=5),
    "clip.mov": lambda: b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  " + noise(seed=2),
    "clip.webm": lambda: b"\x1aE\xdf\xa3\x9fB\x86\x81\x01" + noise(seed=3),
    "doc.pdf": lambda: (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
        b"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >> endobj\n"
        b"trailer << /Root 1 0 R >>\n%%EOF\n"
    ),
}


def write(folder: Path, *names: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        (folder / n).write_bytes(MEDIA[n]())
    return folder


def images(folder: Path, n: int, start: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + n):
        (folder / f"img-{i:03d}.jpg").write_bytes(scene_image(i, size=(96, 72)))
    return folder


def tenant(sb: Sandbox) -> dict:
    return stats(sb)["providers"]["authenta"]["tenants"][sb.tenant("authenta").id]


def ws_for(sb: Sandbox, path: Path) -> Workspace:
    return Workspace(path, sandbox=sb, quiet=True)


# -- every task type --------------------------------------------------------------------------------------
TASK_MEDIA = {
    "ai-image-detection": ["photo.jpg", "photo.png"],
    "ai-audio-detection": ["tone.wav", "clip.mp3", "voice.m4a"],
    "ai-video-detection": ["clip.mp4", "clip.mov"],
    "faceswap-detection": ["clip.webm", "clip.mov"],
    "image-forgery-detection": ["photo.jpg"],
    "document-intelligence": ["doc.pdf", "photo.png"],
    "face-liveness-detection": ["photo.jpg"],
    "face-intelligence": ["photo.jpg", "clip.mp4"],
    "face-embedding": ["photo.png"],
    "audio-splitter": ["speech.wav"],
    "ekyc-deepfake": ["clip.webm"],
}


def test_every_task_type_end_to_end(sandbox, tmp_path):
    ws = ws_for(sandbox, tmp_path / "ws")
    batches = {}
    for task, names in TASK_MEDIA.items():
        folder = write(tmp_path / task, *names)
        batches[task] = ws.authenta.run(task, sorted(folder.iterdir()))
    for task, b in batches.items():
        b.wait(timeout=30)
        assert b.status_counts()["succeeded"] == len(TASK_MEDIA[task]), (task, b.to_frame())
        for r in b.raw():
            doc = r["result"]
            assert doc["taskTypeSlug"] == task and doc["status"] == "completed" and doc["result"]["sandbox"]
            assert all("downloadUrl" not in a for a in doc["artifacts"])  # no signed URL in the cache
        assert not any(k.startswith("upload:") for j in b.jobs for k in j.urls)  # closed URLs are not kept
    res = {t: [r["result"]["result"] for r in b.raw()] for t, b in batches.items()}
    assert all(
        isinstance(r["isFake"], bool) and 0 <= r["fakeConfidencePercent"] <= 100
        for r in res["ai-image-detection"] + res["ai-audio-detection"] + res["ai-video-detection"]
    )
    assert len(res["face-embedding"][0]["embedding"]) == 512
    assert res["audio-splitter"][0]["segments"] and res["audio-splitter"][0]["method"] == "rms-energy"
    assert {r["pageCount"] for r in res["document-intelligence"]} == {1}
    assert all(r["isDeepFake"] is not None for r in res["ekyc-deepfake"] + res["faceswap-detection"])
    assert {"isLive", "livenessScore"} <= set(res["face-liveness-detection"][0])
    v = batches["ai-image-detection"].verdicts()  # the cached documents are what the loader reads
    assert v["is_fake"].notna().all() and v["fake_confidence"].between(0, 1).all()
    # what was sent: the sniffed type, the unique upload name, the task id
    listed = ws.authenta.list_jobs()
    assert len(listed) == sum(map(len, TASK_MEDIA.values())) and set(listed["status"]) == {"succeeded"}
    png = listed[listed["input"].str.endswith("document-intelligence/photo.png")].iloc[0]
    assert png["task_type_id"] == 6 and re.fullmatch(r"photo\.[0-9a-f]{12}\.png", png["file_name"])
    assert str(listed["created_at"].dt.tz) == "UTC"


@pytest.mark.parametrize("mode", ["flat", "wrapped", "both"])
def test_both_envelopes(make_sandbox, tmp_path, mode):
    sb = make_sandbox(authenta_envelope=mode)
    with api(sb, "authenta") as c:  # the mode really changes the shape
        body = c.post(
            "/jobs?taskTypeId=9",
            json={
                "inputs": [{"contentType": "image/jpeg", "fileName": "x.jpg", "sizeBytes": 10, "slotName": "original"}]
            },
        ).json()
    assert ("jobId" in body) == (mode != "wrapped") and ("job" in body) == (mode != "flat")
    assert unwrap(body)["jobId"] and unwrap(body)["status"] in ("waiting_for_finalize", "initiated")
    ws = ws_for(sb, tmp_path / "ws")
    b = ws.authenta.run("face-embedding", images(tmp_path / "imgs", 3)).wait(timeout=30)
    assert b.status_counts()["succeeded"] == 3 and all(j.job_id.isdigit() for j in b.jobs)
    assert all(len(r["result"]["result"]["embedding"]) == 512 for r in b.raw())
    assert {j.provider_status for j in b.jobs} == {"completed"}
    assert len(ws.authenta.list_jobs(status="succeeded")) == 3


def test_face_intelligence_reference_slot(sandbox, tmp_path):
    ws = ws_for(sandbox, tmp_path / "ws")
    face = write(tmp_path / "in", "photo.jpg") / "photo.jpg"
    other = tmp_path / "other.png"
    other.write_bytes(scene_image(9, size=(160, 120), fmt="PNG"))
    same = ws.authenta.run(8, face, reference=face, parameters={"isSimilarityCheck": True}).wait(timeout=30)
    diff = ws.authenta.run(8, face, reference=other, parameters={"isSimilarityCheck": True}).wait(timeout=30)
    (rs,), (rd,) = [r["result"]["result"] for r in same.raw()], [r["result"]["result"] for r in diff.raw()]
    assert rs["isSimilar"] is True and rs["similarityScore"] > 99
    assert rd["similarityScore"] < rs["similarityScore"]
    assert same.verdicts()["similarity"].iloc[0] > 0.99 and same.verdicts()["reference"].iloc[0] == str(face)
    assert same.jobs[0].key != diff.jobs[0].key  # the reference's bytes are part of the key
    slots = {s["slotName"]: s["fileName"] for s in same.raw()[0]["result"]["inputs"]}
    assert set(slots) == {"original", "reference"} and slots["reference"].endswith(".jpg")
    off = ws.authenta.run("face-intelligence", face, parameters={"isLivenessCheck": False}).wait(timeout=30)
    assert off.raw()[0]["result"]["result"]["isLiveness"] is None
    before = ws.authenta.transport.requests
    with pytest.raises(ValueError, match="needs a reference"):
        ws.authenta.run(8, face, parameters={"isSimilarityCheck": True})
    with pytest.raises(ValueError, match="face-intelligence"):
        ws.authenta.run("ai-image-detection", face, reference=face)
    with pytest.raises(PreflightError, match="reference slot accepts images"):
        ws.authenta.run(8, face, reference=write(tmp_path / "v", "clip.mp4") / "clip.mp4")
    with pytest.raises(ValueError, match="unknown Authenta task 'deepfake'"):
        ws.authenta.run("deepfake", face)
    assert ws.authenta.transport.requests == before
    assert tenant(sandbox)["jobs"]["created"] == 3


def until(cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_cancel_delete_and_list_pagination(make_sandbox, tmp_path):
    # every request answers after 0.3 s, so jobs sit in draft (uploading) long enough to be cancelled
    sb = make_sandbox(
        runtimes={"authenta": 400}, runtime_spread=0.05, faults={"authenta": {"slow": 1.0}}, slow_seconds=0.3
    )  # and each job processes for ~0.4 s (the task timeout is 600 s)
    ws = ws_for(sb, tmp_path / "ws")
    b = ws.authenta.run("face-embedding", images(tmp_path / "imgs", 4))
    until(lambda: all(j.job_id for j in b.jobs))
    cancelled = b.cancel()
    assert httpx.put(sb.url + "/__sandbox__/faults", json={"spec": ""}).status_code == 200
    assert cancelled >= 1
    b.wait(timeout=30)
    counts = b.status_counts()
    assert counts["cancelled"] == cancelled and counts["succeeded"] == 4 - cancelled, b.to_frame()
    assert tenant(sb)["jobs"]["by_state"].get("cancelled") == cancelled
    busy = ws.authenta.run("face-embedding", images(tmp_path / "more", 1, start=10))
    job = busy.jobs[0]
    with api(sb, "authenta") as c:
        until(lambda: job.job_id and unwrap(c.get(f"/jobs/{job.job_id}").json())["status"] == "processing")
    assert runtime.run(ws.authenta.adapter.cancel(job)) is False  # 409: processing
    assert "processing" in job.meta["cancel_refused"]
    assert runtime.run(ws.authenta.adapter.delete(job)) is False  # not while processing (409)
    busy.wait(timeout=30)
    assert busy.status_counts()["succeeded"] == 1
    sent = ws.authenta.transport.requests
    listed = ws.authenta.list_jobs(limit=2)
    assert ws.authenta.transport.requests - sent == 3  # 5 jobs, pages of 2
    assert sorted(listed["job_id"]) == sorted(j.job_id for j in [*b.jobs, job]) and listed["input"].notna().all()
    assert (listed["status"] == "cancelled").sum() == cancelled
    assert len(ws.authenta.list_jobs(status=Status.CANCELLED)) == cancelled
    with pytest.raises(ValueError, match="limit=500"):
        ws.authenta.list_jobs(limit=500)
    assert b.delete() + busy.delete() == 5
    assert ws.authenta.list_jobs().empty and tenant(sb)["jobs"]["created"] == 0
    assert all(j.meta["deleted"] for j in ws.ledger.jobs(provider="authenta"))


def test_exactly_once_under_faults(make_sandbox, tmp_path):
    sb = make_sandbox(faults={"authenta": {"5xx": 0.1, "429": 0.05, "drop": 0.03, "fail": 0.05}}, seed=3)
    folder = images(tmp_path / "media", 24)
    write(folder, "tone.wav", "speech.wav", "clip.mp4", "clip.webm")
    ws = ws_for(sb, tmp_path / "ws")
    b = ws.authenta.screen(folder).wait(timeout=120)
    counts = b.status_counts()
    assert len(b) == 28 and counts["succeeded"] + counts["failed"] == 28, b.to_frame()
    assert counts["failed"] >= 1 and all(j.error_code and j.error_message for j in b._failed_jobs())
    assert {j.operation for j in b.jobs} == {
        "ai-image-detection",
        "ai-audio-detection",
        "ai-video-detection",
        "faceswap-detection",
    }
    t = tenant(sb)
    assert t["jobs"]["created"] == 28
    assert len(t["jobs_per_input_digest"]) == 28 and set(t["jobs_per_input_digest"].values()) == {1}
    assert len(b.raw()) == counts["succeeded"]
    faults = stats(sb)["providers"]["authenta"]["faults"]
    assert faults.get("5xx", 0) and faults.get("429", 0) and faults.get("drop", 0), faults


def test_rerun_makes_no_request_and_screen_shares_jobs_with_run(sandbox, tmp_path):
    folder = write(tmp_path / "media", "photo.jpg", "photo.png", "tone.wav", "clip.mov", "doc.pdf")
    ws = ws_for(sandbox, tmp_path / "ws")
    first = ws.authenta.screen(f"{folder}/*").wait(timeout=30)  # a folder would skip the PDF by its suffix
    assert first.status_counts()["succeeded"] == 4 and len(first.rejected) == 1
    assert "use run() with a task" in first.rejected[0].message
    ws2 = ws_for(sandbox, tmp_path / "ws")  # as after a kernel restart
    again = ws2.authenta.screen(f"{folder}/*").wait(timeout=10)
    direct = ws2.authenta.run("ai-image-detection", [folder / "photo.jpg", folder / "photo.png"]).wait(timeout=10)
    assert ws2.authenta.transport.requests == 0
    assert again.id == first.id and again.raw() == first.raw()
    assert {j.key for j in direct.jobs} <= {j.key for j in first.jobs}
    forced = ws2.authenta.run("ai-image-detection", folder / "photo.jpg", force=True).wait(timeout=30)
    assert forced.status_counts()["succeeded"] == 1 and tenant(sandbox)["jobs"]["created"] == 5


def test_screen_retry_failed_keeps_each_task(make_sandbox, tmp_path):
    sb = make_sandbox(faults={"authenta": {"fail": 1.0}})
    folder = write(tmp_path / "media", "photo.jpg", "tone.wav", "clip.webm")
    ws = ws_for(sb, tmp_path / "ws")
    b = ws.authenta.screen(folder).wait(timeout=30)
    assert b.status_counts()["failed"] == 3
    httpx.put(sb.url + "/__sandbox__/faults", json={"spec": ""})
    retry = b.retry_failed().wait(timeout=30)
    assert retry.status_counts()["succeeded"] == 3 and retry.id != b.id
    assert sorted(j.operation for j in retry.jobs) == ["ai-audio-detection", "ai-image-detection", "faceswap-detection"]
    sent = ws.authenta.transport.requests
    assert b.retry_failed().id == retry.id and ws.authenta.transport.requests == sent  # re-run: re-attached
    assert tenant(sb)["jobs"]["created"] == 6


def test_client_timeout_fails_a_job_processing_too_long(make_sandbox, tmp_path, monkeypatch):
    from toolkit.client.providers import authenta

    monkeypatch.setattr(authenta, "CLIENT_TIMEOUT_FLOOR", 0.2)  # so the scaled 600 s + 60 s (0.66 s) applies
    sb = make_sandbox(runtimes={"authenta": 100_000}, runtime_spread=0.01)  # ~100 s of processing
    ws = ws_for(sb, tmp_path / "ws")
    b = ws.authenta.run("face-embedding", images(tmp_path / "imgs", 1)).wait(timeout=10)
    j = b.jobs[0]
    assert j.status == Status.FAILED and j.error_code == "CLIENT_TIMEOUT" and j.provider_status == "processing"
    assert 0.66 <= j.finished_at - j.started_at < 5


# -- interruptions --------------------------------------------------------------------------------------
def pending(ws: Workspace, task: int, path: Path):
    """The ledger row a run would write, without sending anything (as if killed right after)."""
    return ws.authenta.run(task, path, start=False).jobs[0]


def server_job(c: httpx.Client, job, data: bytes, *, upload: bool = True, finalize: bool = True) -> dict:
    name = AuthentaAdapter.upload_name(job)
    body = c.post(
        "/jobs",
        params={"taskTypeId": 9},
        json={
            "inputs": [{"contentType": "image/jpeg", "fileName": name, "sizeBytes": len(data), "slotName": "original"}]
        },
    ).json()
    created = unwrap(body)
    if upload:
        put = httpx.put(created["inputs"][0]["uploadUrl"], content=data, headers={"Content-Type": "image/jpeg"})
        assert put.status_code == 200
    if finalize:
        assert c.post(f"/jobs/{created['jobId']}/finalize").status_code == 200
    return created


@pytest.mark.parametrize("state", ["finalized", "uploaded", "draft", "absent"])
def test_lost_create_is_found_not_repeated(sandbox, tmp_path, state):
    path = tmp_path / "face.jpg"
    path.write_bytes(scene_image(3, size=(96, 72)))
    ws = ws_for(sandbox, tmp_path / "ws")
    job = pending(ws, 9, path)
    job.meta["create_sent"] = True  # the create went out; its answer (the job id) was lost
    ws.ledger.save(job, "meta")
    with api(sandbox, "authenta") as c:
        target = (
            None
            if state == "absent"
            else server_job(c, job, path.read_bytes(), upload=state != "draft", finalize=state == "finalized")
        )
        for _ in range(105):  # newer unrelated jobs push it to page 2 of the list
            c.post(
                "/jobs",
                params={"taskTypeId": 9},
                json={
                    "inputs": [
                        {"contentType": "image/jpeg", "fileName": "other.jpg", "sizeBytes": 9, "slotName": "original"}
                    ]
                },
            )
    b = ws_for(sandbox, tmp_path / "ws").authenta.run(9, path).wait(timeout=30)
    j = b.jobs[0]
    t = tenant(sandbox)
    assert j.status == Status.SUCCEEDED and len(b.raw()[0]["result"]["result"]["embedding"]) == 512
    assert t["jobs"]["created"] == 106 and list(t["jobs_per_input_digest"].values()) == [1]
    if state == "absent":  # the list since the ledger row proves it was never created: created now, once
        assert not j.meta.get("adopted") and t["requests"]["GET /jobs"]["200"] == 2
    elif state == "draft":  # adopted, but its upload URL was lost with the answer: replaced by a fresh job
        assert j.meta["discarded"] == [target["jobId"]] and j.job_id != target["jobId"]
    else:
        assert j.job_id == target["jobId"] and j.meta["adopted"]


class LoseCreateAnswers(httpx.AsyncBaseTransport):
    """Passes requests to the sandbox, but the first POST /jobs loses its answer: after the server processed
    it (``processed``) or before it got there. The sandbox's own ``drop`` fault only does the latter."""

    def __init__(self, processed: bool) -> None:
        self.inner, self.processed, self.armed = httpx.AsyncHTTPTransport(), processed, True

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.armed and request.method == "POST" and request.url.path.endswith("/jobs"):
            self.armed = False
            if self.processed:
                answer = await self.inner.handle_async_request(request)
                await answer.aread()
                await answer.aclose()
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class ArtifactOnly(httpx.AsyncBaseTransport):
    """Passes requests to the sandbox but drops the inline ``result`` from job details, as SDK-era answers
    that only offer ``artifacts[kind=result].downloadUrl`` (the sandbox always sends both)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        answer = await self.inner.handle_async_request(request)
        if request.method != "GET" or not re.search(r"/jobs/\d+$", request.url.path):
            return answer
        await answer.aread()
        body = answer.json()
        (body.get("job") if isinstance(body.get("job"), dict) else body).pop("result", None)
        return httpx.Response(answer.status_code, json=body)


def test_result_downloaded_from_artifact_without_auth(make_sandbox, tmp_path):
    sb = make_sandbox(authenta_envelope="wrapped")
    ws = ws_for(sb, tmp_path / "ws")
    t = ws.authenta.transport
    t._setup()
    t._client = httpx.AsyncClient(transport=ArtifactOnly(), follow_redirects=False)
    b = ws.authenta.run("ai-image-detection", images(tmp_path / "imgs", 2)).wait(timeout=30)
    assert b.status_counts()["succeeded"] == 2
    assert all(isinstance(r["result"]["result"]["isFake"], bool) for r in b.raw())
    st = stats(sb)["providers"]["authenta"]
    assert st["auth_on_signed_urls"] == 0
    assert st["tenants"]["-"]["requests"]["GET /jobs/{job_id}/artifacts/result"] == {"200": 2}


@pytest.mark.parametrize("processed", [True, False])
def test_create_answer_lost_in_flight_is_looked_up_then_adopted_or_sent_again(sandbox, tmp_path, processed):
    path = tmp_path / "face.jpg"
    path.write_bytes(scene_image(6, size=(96, 72)))
    ws = ws_for(sandbox, tmp_path / "ws")
    t = ws.authenta.transport
    t._setup()  # then swap in a client whose connection loses one answer
    t._client = httpx.AsyncClient(transport=LoseCreateAnswers(processed), follow_redirects=False)
    b = ws.authenta.run(9, path).wait(timeout=30)
    j = b.jobs[0]
    assert j.status == Status.SUCCEEDED
    # found, but as a draft whose upload URLs were lost with the answer: deleted and created afresh
    assert j.meta.get("discarded", []) == (["1"] if processed else []) and j.job_id == str(1 + processed)
    st = tenant(sandbox)
    assert st["jobs"]["created"] == 1 and st["requests"]["POST /jobs"] == {"200": 1 + processed}
    assert st["requests"]["GET /jobs"]["200"] == (1 if processed else 2)  # absent: two lists in a row


@pytest.mark.parametrize("lapse", [False, True])
def test_resume_after_create_uploads_or_recreates_when_url_expired(make_sandbox, tmp_path, lapse):
    sb = make_sandbox(time_scale=0.00005)  # the 1 h upload window becomes ~0.2-1.2 s
    path = tmp_path / "face.jpg"
    path.write_bytes(scene_image(4, size=(96, 72)))
    ws = ws_for(sb, tmp_path / "ws")
    job = pending(ws, 9, path)
    with api(sb, "authenta") as c:  # created and recorded, then killed before the PUT
        created = server_job(c, job, path.read_bytes(), upload=False, finalize=False)
    job.job_id, job.urls = created["jobId"], {"upload:original": created["inputs"][0]["uploadUrl"]}
    job.meta["create_sent"] = True
    ws.ledger.save(job, "job_id", "urls", "meta")
    if lapse:
        time.sleep(1.3)
    b = ws_for(sb, tmp_path / "ws").authenta.run(9, path).wait(timeout=30)
    j = b.jobs[0]
    assert j.status == Status.SUCCEEDED and tenant(sb)["jobs"]["created"] == 1
    assert (j.job_id != created["jobId"]) is lapse
    assert j.meta.get("discarded", []) == ([created["jobId"]] if lapse else [])


def test_upload_refused_twice_marks_expired(sandbox, tmp_path):
    import respx

    path = tmp_path / "face.jpg"
    path.write_bytes(scene_image(5, size=(96, 72)))
    ws = ws_for(sandbox, tmp_path / "ws")
    with respx.mock(assert_all_called=False) as mock:  # the sandbox cannot refuse a fresh URL on demand
        mock.put(url__regex=r".*/storage/authenta/.*").respond(
            403, json={"code": "FORBIDDEN", "statusCode": 403, "message": "Request has expired"}
        )
        mock.route().pass_through()
        b = ws.authenta.run(9, path).wait(timeout=30)
    j = b.jobs[0]
    assert j.status == Status.EXPIRED and j.error_code == "UPLOAD_EXPIRED" and len(j.meta["discarded"]) == 1
    assert tenant(sandbox)["jobs"]["created"] == 0  # both drafts were deleted, nothing left to bill or clutter


def test_preflight_names_each_bad_input_and_sends_nothing(sandbox, tmp_path):
    bad = write(tmp_path / "bad", "clip.mp4", "tone.wav")
    (bad / "empty.jpg").write_bytes(b"")
    (bad / "text.jpg").write_text("this is not an image")
    Image.new("RGB", (8, 8)).save(bad / "anim.png", "GIF")
    ws = ws_for(sandbox, tmp_path / "ws")
    with pytest.raises(PreflightError) as raised:  # every input refused: raised, each one in .rejected
        ws.authenta.run("ai-image-detection", [*sorted(bad.iterdir()), tmp_path / "missing.jpg"])
    b = raised.value
    reasons = {Path(e.input).name: e.message for e in b.rejected}
    assert reasons == {
        "clip.mp4": "the content is video/mp4 (a video); ai-image-detection (task 1) accepts images "
        "(image/jpeg, image/png)",
        "tone.wav": "the content is audio/wav (audio); ai-image-detection (task 1) accepts images "
        "(image/jpeg, image/png)",
        "empty.jpg": "the file is empty",
        "text.jpg": "the content is not a recognised media file (magic bytes)",
        "anim.png": reasons["anim.png"],
        "missing.jpg": "no such file or folder",
    }
    assert reasons["anim.png"].startswith("the content is image/gif")
    assert all("not sent to authenta" in str(e) for e in b.rejected)
    with pytest.raises(PreflightError) as nothing:
        ws.authenta.run("document-intelligence", bad / "tone.wav")
    assert "accepts images and PDF documents" in nothing.value.rejected[0].message
    assert ws.authenta.transport.requests == 0 and ws.jobs().empty
    assert "authenta" not in stats(sandbox)["providers"]
    # a folder: only video suffixes are sent, the others are skipped and counted (a notice, not a warning)
    video = ws.authenta.run("ai-video-detection", bad, start=False)
    assert [Path(j.input).name for j in video.jobs] == ["clip.mp4"] and video.rejected == []
    assert sorted(Path(s).name for s in video.skipped) == ["anim.png", "empty.jpg", "text.jpg", "tone.wav"]
