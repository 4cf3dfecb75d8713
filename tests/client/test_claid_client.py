"""Claid client against the real sandbox: uploads, edits that really apply, /v1-beta1, exactly-once under faults,
429 handling at the documented limits, zero-request re-runs, expiry and preflight."""

from __future__ import annotations

import hashlib
import io
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import respx
from PIL import Image, ImageDraw

from tests.helpers import api, stats
from toolkit.client import runtime
from toolkit.client.model import Job, JobError, PreflightError, Status
from toolkit.client.providers.claid import ClaidAdapter, InvalidRequest
from toolkit.client.transport import ProviderConfig, Transport
from toolkit.sandbox import Sandbox
from toolkit.workspace import Workspace

FAST = {"api": [(60000, 60.0), (1000, 1.0)]}  # the documented 4 req/s makes every batch take n/1.3 s


def picture(seed: int = 0, size: tuple[int, int] = (160, 120), fmt: str = "JPEG") -> bytes:
    """A flat light background with a coloured disc (so background removal has a clear answer)."""
    w, h = size
    img = Image.new("RGB", size, (235, 235, 235))
    r = 4 + seed % 7
    ImageDraw.Draw(img).ellipse((w // 4 - r, h // 4, 3 * w // 4 + r, 3 * h // 4), fill=(150, 40 + seed, 30))
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def write_pictures(folder: Path, n: int, size: tuple[int, int] = (160, 120)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"p-{i:03d}.jpg").write_bytes(picture(i, size))
    return folder


def workspace(tmp_path: Path, sb: Sandbox, fast: bool = True, name: str = "ws") -> Workspace:
    ws = Workspace(tmp_path / name, sandbox=sb, quiet=True)
    if fast:
        sb.config.rate_limits["claid"] = FAST
        ws.claid.transport.config.rate_limits = []
    return ws


def tenant(sb: Sandbox) -> dict:
    return stats(sb)["providers"]["claid"]["tenants"][sb.tenant("claid").id]


def output(record: dict) -> tuple[dict, Image.Image]:
    """The provider's output_object and the cached output image, opened from the path the result names."""
    res = record["result"]
    path = Path(res["toolkit"]["output_path"])
    assert path.is_absolute() and hashlib.sha256(path.read_bytes()).hexdigest() == res["toolkit"]["output_digest"]
    return res["data"]["result"]["output_object"], Image.open(path)


def test_operation_sets_really_apply_to_uploaded_files(sandbox, tmp_path):
    images = write_pictures(tmp_path / "imgs", 2)
    ws = workspace(tmp_path, sandbox)
    cases = {
        "crop": ({"resizing": {"width": 100, "height": 100, "fit": "crop"}}, "png"),
        "bounds": (
            {"resizing": {"width": 80, "height": 80, "fit": "bounds"}},
            {"format": {"type": "webp", "quality": 80}},
        ),
        "bright": ({"adjustments": {"exposure": 60, "saturation": -100}}, "png"),
        "cutout": ({"background": {"remove": True}}, "png"),
        "padding": ({"padding": "25%", "background": {"color": "#ff0000"}}, "png"),
        "plain": ({}, "jpeg"),  # no operation: only an output format (operations={} alone is refused)
        "webp": ({"resizing": {"width": "50%"}}, "WEBP"),
    }
    batches = {k: ws.claid.edit(images, ops, out) for k, (ops, out) in cases.items()}  # all run at once
    got = {}
    for k, b in batches.items():
        b.wait(timeout=60)
        assert b.status_counts()["succeeded"] == 2, (k, [j.error_message for j in b.jobs])
        got[k] = [output(r) for r in b.records()]
    for k, pairs in got.items():
        for meta, img in pairs:
            assert (img.width, img.height) == (meta["width"], meta["height"]) and img.format == meta["format"], k
    sizes = {k: {img.size for _, img in pairs} for k, pairs in got.items()}
    formats = {k: {img.format for _, img in pairs} for k, pairs in got.items()}
    assert sizes == {
        "crop": {(100, 100)},
        "bounds": {(80, 60)},
        "bright": {(160, 120)},
        "cutout": {(160, 120)},
        "padding": {(160, 120)},
        "plain": {(160, 120)},
        "webp": {(80, 60)},
    }
    assert formats == {
        "crop": {"PNG"},
        "bounds": {"WEBP"},
        "bright": {"PNG"},
        "cutout": {"PNG"},
        "padding": {"PNG"},
        "plain": {"JPEG"},
        "webp": {"WEBP"},
    }
    plain = np.asarray(got["plain"][0][1].convert("RGB"), float)
    bright = np.asarray(got["bright"][0][1].convert("RGB"), float)
    assert bright.mean() > plain.mean() + 3 and bright.std(axis=-1).mean() < 2 < plain.std(axis=-1).mean()
    cut = got["cutout"][0][1]
    alpha = np.asarray(cut.getchannel("A"))
    assert cut.mode == "RGBA" and alpha[:4].max() == 0 and alpha[55:65, 75:85].min() == 255
    padded = np.asarray(got["padding"][0][1].convert("RGB"))
    assert tuple(padded[3, 3]) == (255, 0, 0) and tuple(padded[60, 80]) != (255, 0, 0)
    # the uploads are what the tasks read: one storage object per local file and batch, one task per job
    assert tenant(sandbox)["requests"]["POST /storage/upload"]["200"] == 2 * len(cases)
    assert tenant(sandbox)["jobs"]["created"] == 2 * len(cases)


def test_sandbox_issued_urls_and_storage_inputs_are_passed_as_they_are(sandbox, tmp_path):
    ws = workspace(tmp_path, sandbox)
    with api(sandbox, "claid") as c:
        up = c.post("/storage/upload", files={"file": ("a.png", picture(3, fmt="PNG"), "image/png")}).json()["data"]
    first = ws.claid.edit([up["url"], up["input"]], {"resizing": {"width": 40}}, "png").wait(timeout=30)
    assert first.status_counts()["succeeded"] == 2
    tmp_url = first.records()[0]["result"]["data"]["result"]["output_object"]["tmp_url"]
    # an output's tmp_url is a URL the sandbox issued too: chain it into a second edit; a foreign host fails
    second = ws.claid.edit([tmp_url, "https://example.com/photo.jpg"], {}, "webp").wait(timeout=30)
    ok, foreign = second.jobs
    assert ok.status == Status.SUCCEEDED and foreign.status == Status.FAILED
    assert foreign.http_status == 400 and foreign.error_code == "4000" and "never fetches" in foreign.error_message
    meta, img = output(second.records()[0])
    assert img.size == (40, 30) and img.format == "WEBP" == meta["format"]
    assert second.records()[0]["result"]["data"]["result"]["input_object"]["format"] == "PNG"
    assert tenant(sandbox)["requests"]["POST /storage/upload"] == {"200": 1}  # only ours: URLs are not uploaded


def live(tmp_path: Path, sb: Sandbox, prefix: str = "/claid/v1", name: str = "ws") -> Workspace:
    """A workspace that takes the sandbox for the real service (a key and a base URL, as a user sets them)."""
    sb.config.rate_limits["claid"] = FAST
    ws = Workspace(tmp_path / name, keys={"claid": sb.key("claid")}, base_urls={"claid": sb.url + prefix}, quiet=True)
    ws.claid.transport.config.rate_limits = []
    return ws


def test_local_files_with_a_real_key_go_through_the_upload_api(sandbox, tmp_path):
    ws = live(tmp_path, sandbox)
    images = write_pictures(tmp_path / "imgs", 3)
    b = ws.claid.edit(images, {"resizing": {"width": 64}}, "png").wait(timeout=30)
    assert b.status_counts()["succeeded"] == 3
    routes = tenant(sandbox)["requests"]
    assert routes == {"POST /image/edit/upload": {"200": 3}}  # no sandbox-only storage, no async task, no poll
    for j in ws.ledger.jobs(provider="claid"):  # the ledger rows: an id, the answer, the output in the cache
        assert j.status == Status.SUCCEEDED and j.job_id.startswith("upload-") and j.result_digest
        assert j.meta["api"] == "upload" and j.meta["create_sent"] and j.meta["create_posted"]
        assert j.urls["tmp_url"].startswith(sandbox.storage_url) and j.finished_at >= j.submitted_at
        assert j.meta["upload_result"]["output"]["width"] == 64
    df = b.images().sort_values("input")
    assert list(df["output_width"]) == [64] * 3 and list(df["output_format"]) == ["png"] * 3
    assert list(df["operations"]) == ["resizing"] * 3 and list(df["input_width"]) == [160] * 3
    assert all(Image.open(p).size == (64, 48) for p in df["output_path"])
    again = live(tmp_path, sandbox).claid.edit(images, {"resizing": {"width": 64}}, "png").wait(timeout=10)
    assert again.id == b.id and again.client.transport.requests == 0 and tenant(sandbox)["jobs"]["created"] == 3


def test_v1_beta1_base_url_uploads_files_and_polls_the_returned_result_url(sandbox, tmp_path):
    ws = live(tmp_path, sandbox, "/claid/v1-beta1")
    with api(sandbox, "claid") as c:
        up = c.post("/storage/upload", files={"file": ("a.png", picture(3, fmt="PNG"), "image/png")}).json()["data"]
    files = write_pictures(tmp_path / "imgs", 2)
    b = ws.claid.edit([*sorted(files.iterdir()), up["url"]], {"resizing": {"height": 60}}, "png").wait(timeout=30)
    assert b.status_counts()["succeeded"] == 3
    uploaded, url = b.jobs[:2], b.jobs[2]
    assert all(j.meta["api"] == "upload" for j in uploaded) and "api" not in url.meta
    assert url.urls["result_url"].startswith(sandbox.url + "/claid/v1-beta1/image/edit/async/")
    routes = tenant(sandbox)["requests"]
    assert routes["POST /image/edit/upload"] == {"200": 2} and routes["POST /image/edit/async"] == {"200": 1}
    assert {output_image(r).size for r in b.records()} == {(80, 60)}


def output_image(record: dict) -> Image.Image:
    """The cached output image of a result of either API (async task or upload answer)."""
    return Image.open(record["result"]["toolkit"]["output_path"])


def test_upload_api_resume_after_a_crash_never_pays_twice(make_sandbox, tmp_path):
    sb = make_sandbox(credits={"claid": 10})
    ws = live(tmp_path, sb)
    images = write_pictures(tmp_path / "imgs", 3)
    client = ws.claid
    b = client.submit(
        "edit", client._items(images), options={"operations": {}, "output": {"format": "png"}}, start=False
    )
    before_send, lost_answer, answered = b.jobs
    for job in b.jobs:  # what the ledger holds after a kill -9: a create started for every job...
        job.meta.update(create_sent=True, api="upload")
    lost_answer.meta["create_posted"] = True  # ...the request left, its answer never came back
    with api(sb, "claid") as c:  # ...the answer came back and was recorded, the download had not happened
        sent = c.post(
            "/image/edit/upload",
            files={
                "file": ("p", Path(answered.input).read_bytes(), "image/jpeg"),
                "data": (None, '{"operations": {}, "output": {"format": "png"}}', "application/json"),
            },
        )
    assert sent.status_code == 200, sent.text
    answered.meta.update(create_posted=True, upload_result=sent.json()["data"])
    answered.job_id, answered.urls = "upload-recorded", {"tmp_url": sent.json()["data"]["output"]["tmp_url"]}
    answered.status = Status.RUNNING
    for job in b.jobs:
        ws.ledger.save(job)
    again = live(tmp_path, sb).claid.edit(images, {}, "png").wait(timeout=30)
    done, uncertain, fetched = (next(j for j in again.jobs if j.key == k.key) for k in b.jobs)
    assert done.status == Status.SUCCEEDED and done.result_digest and done.job_id.startswith("upload-")
    assert uncertain.status == Status.FAILED and uncertain.error_code == "SUBMISSION_UNCERTAIN"
    assert fetched.status == Status.SUCCEEDED and fetched.job_id == "upload-recorded" and fetched.result_digest
    t = tenant(sb)
    assert t["requests"]["POST /image/edit/upload"]["200"] == 2  # the recorded one and the never-sent one
    assert t["jobs"]["created"] == 2 and t["credits_left"] == 8
    third = live(tmp_path, sb).claid.edit(images, {}, "png").wait(timeout=10)  # and once more: nothing at all
    assert third.client.transport.requests == 0 and tenant(sb)["credits_left"] == 8


def test_upload_api_refusals_fail_only_their_job(make_sandbox, tmp_path):
    sb = make_sandbox(credits={"claid": 1})
    ws = live(tmp_path, sb)
    b = ws.claid.edit(write_pictures(tmp_path / "imgs", 3), {}, "png").wait(timeout=30)
    assert b.status_counts()["succeeded"] == 1
    refused = [j for j in b.jobs if j.status == Status.FAILED]
    assert len(refused) == 2 and {j.http_status for j in refused} == {402}
    assert {j.error_code for j in refused} == {"3000"} and all(j.job_id is None for j in refused)
    sent = tenant(sb)["requests"]["POST /image/edit/upload"]  # a 402 halts the creates not yet in flight
    assert sent["200"] == 1 and 1 <= sent["402"] <= 2
    httpx.put(sb.url + "/__sandbox__/credits", json={"provider": "claid", "credits": None}).raise_for_status()
    again = live(tmp_path, sb).claid.edit(write_pictures(tmp_path / "imgs", 3), {}, "png").wait(timeout=30)
    assert again.status_counts()["succeeded"] == 3 and tenant(sb)["jobs"]["created"] == 3  # resumed, once each


def test_every_input_becomes_at_most_one_task_under_faults(make_sandbox, tmp_path):
    # fail=0.25: several inputs' tasks end in ERROR, so at least one does even when a drop takes the create of
    # another (which input a drop hits depends on request order, i.e. on timing; with 0.05 one in ~6 runs had none)
    sb = make_sandbox(faults={"claid": {"5xx": 0.1, "429": 0.05, "drop": 0.02, "fail": 0.25}}, seed=3)
    n = 20
    folder = write_pictures(tmp_path / "imgs", n)
    ws = workspace(tmp_path, sb)
    b = ws.claid.edit(folder, {"resizing": {"width": 64}}, "png").wait(timeout=120)
    counts = b.status_counts()
    assert counts["succeeded"] + counts["failed"] == n and counts["succeeded"] >= n * 0.5
    t = tenant(sb)
    created = [j for j in b.jobs if j.job_id]
    # exactly once: one task per input that got a task id, none for a create whose answer was lost
    assert set(t["jobs_per_input_digest"].values()) == {1} and t["jobs"]["created"] == len(created)
    digests = {"sha256:" + hashlib.sha256(Path(j.input).read_bytes()).hexdigest() for j in created}
    assert digests == set(t["jobs_per_input_digest"])
    for j in b._failed_jobs():
        if j.job_id:  # the task ran and ended in ERROR: Claid's errors[0].error is the message
            assert j.error_code == "ERROR" and "injected fault" in j.error_message
        else:  # the connection dropped under the create: not repeated, so never duplicated
            assert j.error_code == "CONNECTION_LOST" and "not repeated" in j.error_message
    assert any(j.error_code == "ERROR" for j in b._failed_jobs())
    faults = stats(sb)["providers"]["claid"]["faults"]
    assert faults.get("5xx", 0) > 0 and faults.get("429", 0) > 0 and faults.get("drop", 0) > 0
    for r in b.records():
        if r["status"] == "succeeded":
            assert output(r)[1].size == (64, 48)


def test_documented_rate_limits_give_few_429s(sandbox, tmp_path):
    """4 req/s and 120/min on both sides (the sandbox's defaults and the client's LIMITS): 16 images need
    ~50 rate-limited requests, which the client paces instead of bouncing off the limit."""
    n = 16
    ws = workspace(tmp_path, sandbox, fast=False)
    started = time.monotonic()
    b = ws.claid.edit(write_pictures(tmp_path / "imgs", n), {}, "png").wait(timeout=60)
    elapsed = time.monotonic() - started
    assert b.status_counts()["succeeded"] == n
    routes = tenant(sandbox)["requests"]
    received_429 = sum(codes.get("429", 0) for codes in routes.values())
    authorised = sum(sum(codes.values()) for codes in routes.values())
    print(f"{n} images: {authorised} API requests in {elapsed:.1f} s, {received_429} answered 429")
    assert received_429 == ws.claid.transport.rate_limited <= 3
    assert elapsed >= (authorised - 4) / 4 * 0.9  # paced at <= 4/s after the burst of 4


def test_ratelimit_reset_is_honoured_and_nested_429_envelope_parsed():
    """Claid's own 429 carries RateLimit-Reset (the sandbox always adds Retry-After too): respx provides it."""
    base = "https://claid.test/v1"
    cfg = ProviderConfig("claid", base, "k", rate_limits=[], max_attempts=3, rate_limit_budget=1.0)
    adapter = ClaidAdapter(Transport(cfg))
    job = Job(
        key="k1",
        provider="claid",
        operation="edit",
        input="x.jpg",
        batch_id="b",
        job_id="7",
        urls={"result_url": base + "/image/edit/async/7"},
    )
    limited = httpx.Response(
        429,
        headers={"RateLimit-Reset": "0.4"},
        json={
            "detail": {
                "error_code": "2001",
                "error_type": "general",
                "error_message": "Too Many Requests. Rate limit exceeded.",
            }
        },
    )
    done = httpx.Response(200, json={"data": {"id": 7, "status": "PROCESSING", "errors": [], "result": None}})
    with respx.mock(assert_all_called=True) as mock:
        route = mock.get(base + "/image/edit/async/7").mock(side_effect=[limited, done])
        started = time.monotonic()
        r = runtime.run(adapter.poll(job), timeout=10)
        assert time.monotonic() - started >= 0.4 and route.call_count == 2
        assert r.status == Status.RUNNING and r.provider_status == "PROCESSING"
        route.mock(
            side_effect=None, return_value=httpx.Response(429, headers={"RateLimit-Reset": "0"}, json=limited.json())
        )
        with pytest.raises(JobError) as e:
            runtime.run(adapter.poll(job), timeout=10)
    assert (e.value.http_status, e.value.code) == (429, "2001")
    assert e.value.message == "Too Many Requests. Rate limit exceeded."
    assert adapter.t.rate_limited == 4
    runtime.run(adapter.t.aclose())


def test_rerun_makes_no_request_and_force_makes_new_tasks(sandbox, tmp_path):
    images = write_pictures(tmp_path / "imgs", 3)
    ws = workspace(tmp_path, sandbox)
    first = ws.claid.edit(images, {"resizing": {"width": 32}}, "png").wait(timeout=30)
    assert first.status_counts()["succeeded"] == 3
    ws2 = workspace(tmp_path, sandbox)  # same folder, as after a kernel restart
    again = ws2.claid.edit(images, {"resizing": {"width": 32}}, "png").wait(timeout=10)
    assert ws2.claid.transport.requests == 0 and again.id == first.id and again.raw() == first.raw()
    assert all(Path(r["result"]["toolkit"]["output_path"]).is_file() for r in again.raw())
    other = ws2.claid.edit(images, {"resizing": {"width": 33}}, "png").wait(timeout=30)  # new options: new jobs
    forced = ws2.claid.edit(images, {"resizing": {"width": 32}}, "png", force=True).wait(timeout=30)
    assert other.id != first.id != forced.id and ws2.claid.transport.requests > 0
    assert tenant(sandbox)["jobs"]["created"] == 9


def test_result_expired_before_download_is_reported_expired(sandbox, tmp_path):
    ws = workspace(tmp_path, sandbox)
    images = write_pictures(tmp_path / "imgs", 2)
    b = ws.claid.edit(images, {}, "png").wait(timeout=30)
    lost = b.jobs[0]
    lost.result_digest = None  # as if the kernel died between DONE and the download...
    ws.ledger.save(lost, "result_digest")
    sandbox.ctx.store.update(lost.job_id, completed_at=time.time() - 90)  # ...and 24 h (x 0.001) went by
    again = workspace(tmp_path, sandbox, name="ws").claid.edit(images, {}, "png").wait(timeout=30)
    j = next(j for j in again.jobs if j.key == lost.key)
    assert j.status == Status.EXPIRED and j.http_status == 404 and j.error_code == "1004"
    assert again.status_counts() == {**again.status_counts(), "succeeded": 1, "expired": 1}


def test_resume_after_an_interrupted_upload_creates_but_a_lost_create_is_not_repeated(sandbox, tmp_path):
    ws = workspace(tmp_path, sandbox)
    images = write_pictures(tmp_path / "imgs", 2)
    client = ws.claid
    b = client.submit(
        "edit", client._items(images), options={"operations": {}, "output": {"format": "png"}}, start=False
    )
    upload_cut, create_cut = b.jobs
    for job in b.jobs:  # what the ledger holds after a kill -9 in the upload / right after the create left
        job.meta["create_sent"] = True
    create_cut.meta["create_posted"] = True
    for job in b.jobs:
        ws.ledger.save(job, "meta")
    again = workspace(tmp_path, sandbox).claid.edit(images, {}, "png").wait(timeout=30)
    done, uncertain = (next(j for j in again.jobs if j.key == k.key) for k in (upload_cut, create_cut))
    assert done.status == Status.SUCCEEDED and done.result_digest
    assert uncertain.status == Status.FAILED and uncertain.error_code == "SUBMISSION_UNCERTAIN"
    assert tenant(sandbox)["jobs"]["created"] == 1


def test_preflight_names_the_problem_and_sends_nothing(sandbox, tmp_path):
    ws = workspace(tmp_path, sandbox)
    folder = write_pictures(tmp_path / "imgs", 1)
    with pytest.raises(InvalidRequest) as e:
        ws.claid.edit(folder, {"resize": {"width": 10}})
    assert e.value.input == "operations.resize"
    assert "unknown operation 'resize'" in str(e.value) and "did you mean 'resizing'?" in str(e.value)
    assert "(valid: adjustments, background, generative, padding, privacy, resizing, restorations)" in str(e.value)
    with pytest.raises(
        ValueError,
        match=r"unknown key 'widht' in operations.resizing; did you mean 'width'\? "
        r"\(valid: fit, height, width\)",
    ):
        ws.claid.edit(folder, {"resizing": {"widht": 10}})
    with pytest.raises(InvalidRequest, match="did you mean 'restorations.upscale'"):
        ws.claid.edit(folder, {"upscale": "photo"})
    with pytest.raises(
        InvalidRequest,
        match=r"output.format='jpg' is not one of jpeg, png, webp, avif; "
        r"did you mean 'jpeg'",
    ):
        ws.claid.edit(folder, {}, {"format": "jpg"})
    with pytest.raises(InvalidRequest, match=r"output.format.type='tiff' is not one of"):
        ws.claid.edit(folder, {}, {"format": {"type": "tiff"}})
    with pytest.raises(InvalidRequest, match=r"operations.adjustments.exposure=250 is outside -100..100"):
        ws.claid.edit(folder, {"adjustments": {"exposure": 250}})
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "notes.jpg").write_text("this is not an image")
    (bad / "cv.pdf.png").write_bytes(b"%PDF-1.4 fake")
    with pytest.raises(PreflightError) as raised:  # every input refused: raised, each one in .rejected
        ws.claid.edit([bad, tmp_path / "missing.jpg", "file:///home/me/photo.jpg", "ftp://host/x.png"], {}, "png")
    b = raised.value
    reasons = {Path(err.input).name if "://" not in err.input else err.input: err.message for err in b.rejected}
    assert reasons == {
        "notes.jpg": "the content is not a recognised media file (magic bytes)",
        "cv.pdf.png": reasons["cv.pdf.png"],
        "missing.jpg": "no such file or folder",
        "file:///home/me/photo.jpg": "the URL scheme 'file' is not supported; Claid reads http://, https:// or "
        "storage://<storage>/<path> inputs; "
        "give the local path '/home/me/photo.jpg' instead",
        "ftp://host/x.png": reasons["ftp://host/x.png"],
    }
    assert "application/pdf" in reasons["cv.pdf.png"] and "'ftp' is not supported" in reasons["ftp://host/x.png"]
    assert all(isinstance(err, PreflightError) and "not sent to claid" in str(err) for err in b.rejected)
    assert ws.claid.transport.requests == 0 and ws.jobs().empty
    assert "claid" not in stats(sandbox)["providers"]


def test_bad_inputs_do_not_sink_the_batch(sandbox, tmp_path):
    folder = write_pictures(tmp_path / "imgs", 2)
    (folder / "really-a-png.jpg").write_bytes(picture(9, fmt="PNG"))
    (folder / "empty.jpg").write_bytes(b"")
    ws = workspace(tmp_path, sandbox)
    b = ws.claid.edit(folder, {"restorations": {"polish": True}, "privacy": {"blur_car_plate": True}}).wait(timeout=30)
    assert b.status_counts()["succeeded"] == 3 and [Path(e.input).name for e in b.rejected] == ["empty.jpg"]
    png = next(r for r in b.records() if r["input"].endswith("really-a-png.jpg"))
    assert png["meta"]["content_type"] == "image/png"
    assert png["result"]["data"]["result"]["input_object"]["format"] == "PNG"
    assert png["result"]["data"]["request"]["operations"] == {
        "restorations": {"polish": True},
        "privacy": {"blur_car_plate": True},
    }
