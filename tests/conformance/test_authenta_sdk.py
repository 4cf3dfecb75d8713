"""The official Authenta SDK (authentasdk 0.2.9, module ``authenta``) against the sandbox: upload_file, process
for image, audio and video tasks, get_result through the signed artifact URL, list_media, delete_media, the raw
cancel, and the SDK's drifts from the seed contract as known-drift tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import requests
from authenta import AuthentaClient, AuthenticationError, InsufficientCreditsError, ValidationError

from tests.helpers import stats
from toolkit.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]
MEDIA = ROOT / "data" / "media"
FAST = 0.001  # faceswap ~0.18 s; upload URLs live 3.6 s
POLL = {"interval": 0.05, "timeout": 30.0}


@pytest.fixture
def sb(make_sandbox) -> Sandbox:
    return make_sandbox(time_scale=FAST)


def sdk(sb: Sandbox, key: str | None = None) -> AuthentaClient:
    """The SDK's base URL is the host: it appends ``/api/v1/jobs`` itself."""
    return AuthentaClient(base_url=sb.base_url("authenta").removesuffix("/api/v1"), api_key=key or sb.key("authenta"))


def authenta_stats(sb: Sandbox) -> dict:
    return stats(sb)["providers"]["authenta"]


def test_process_image_audio_and_video_tasks_and_get_their_results(sb, tmp_path):
    client = sdk(sb)
    cases = {  # SDK model type -> (file, the task slug the sandbox runs)
        "AC-1": ("astronaut.jpg", "ai-image-detection"),
        "FD-1": ("rocket_spliced.jpg", "image-forgery-detection"),
        "AF-1": ("voice_note.wav", "ai-audio-detection"),  # sent as audio/x-wav: an accepted alias
        "VF-1": ("rocket_pan.mp4", "ai-video-detection"),
        "DF-1": ("portrait_clip.webm", "faceswap-detection"),
    }
    for model, (name, slug) in cases.items():
        media = client.process(str(MEDIA / name), model, **POLL)
        assert media["status"] == "completed" and media["taskTypeSlug"] == slug, (model, media)
        assert media["taskTypeId"] == int(client.get_task_id(model))
        assert media["inputs"][0]["fileName"] == name.split(".")[0]  # the SDK sends the stem
        result = client.get_result(media)  # the pre-signed artifact URL, fetched without a key
        assert result == media["result"] and result, model
    assert authenta_stats(sb)["auth_on_signed_urls"] == 0
    uploads = authenta_stats(sb)["tenants"]["-"]["requests"]
    assert uploads["PUT /jobs/{job_id}/{slot}"] == {"200": len(cases)}  # each upload URL used once
    assert uploads["GET /jobs/{job_id}/artifacts/result"] == {"200": len(cases)}


def test_face_intelligence_with_a_reference_and_the_face_vector(sb, tmp_path):
    client = sdk(sb)
    media = client.process(
        str(MEDIA / "portrait.jpg"),
        "FI-1",
        reference_path=str(MEDIA / "face_reference.jpg"),
        livenessCheck=True,
        faceSimilarityCheck=True,
        **POLL,
    )
    assert media["status"] == "completed" and [s["slotName"] for s in media["inputs"]] == ["original", "reference"]
    result = client.get_result(media)
    assert {"isLiveness", "isSimilar", "similarityScore"} <= set(result), result
    vector = client.extract_face_vector(str(MEDIA / "portrait.jpg"), **POLL)
    assert len(vector["embedding"]) == 512
    assert authenta_stats(sb)["auth_on_signed_urls"] == 0


def test_upload_file_then_get_list_and_delete(sb):
    client = sdk(sb)
    meta = client.upload_file(str(MEDIA / "chelsea.png"), "AC-1")  # create, PUT, finalize
    job_id = meta["job"]["id"]
    assert meta["inputs"][0]["uploadUrl"].startswith(sb.storage_url + "/storage/authenta/")  # another origin
    assert meta["jobId"] == int(job_id) and meta["status"] == "waiting_for_finalize"  # the create answer
    done = client.wait_for_media(job_id, **POLL)
    assert done["status"] == "completed" and client.get_media(job_id)["jobId"] == int(job_id)
    second = client.upload_file(str(MEDIA / "rocket.jpg"), "FD-1")["job"]["id"]
    listed = client.list_media(page=1, limit=1)
    assert listed["pagination"] == {"page": 1, "limit": 1, "total": 2, "pages": 2}
    assert [j["jobId"] for j in listed["data"]] == [int(second)]  # newest first
    assert {j["jobId"] for j in client.list_media()["data"]} == {int(job_id), int(second)}
    client.wait_for_media(second, **POLL)
    assert client.delete_media(job_id) is None  # 204
    with pytest.raises(ValidationError) as e:
        client.get_media(job_id)
    assert e.value.status_code == 404 and e.value.code == "JOB_NOT_FOUND"
    assert [j["jobId"] for j in client.list_media()["data"]] == [int(second)]


def test_the_raw_cancel_with_the_sdks_headers(sb):
    """The SDK has no cancel; the documented ``POST /jobs/{id}/cancel`` with its own headers."""
    client = sdk(sb)
    path = MEDIA / "astronaut.jpg"
    draft = client.create_media("astronaut", "image/jpeg", path.stat().st_size, "AC-1")  # not uploaded yet
    url = f"{client.base_url}/api/v1/jobs/{draft['job']['id']}/cancel"
    r = requests.post(url, headers=client._headers(), timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "cancelled" and r.json()["job"]["status"] == "cancelled"
    assert client.get_media(draft["job"]["id"])["status"] == "cancelled"
    again = requests.post(url, headers=client._headers(), timeout=10)
    assert again.status_code == 422 and again.json()["code"] == "INVALID_JOB_STATE"
    done = client.process(str(path), "AC-1", **POLL)
    late = requests.post(f"{client.base_url}/api/v1/jobs/{done['jobId']}/cancel", headers=client._headers(), timeout=10)
    assert late.status_code == 409 and late.json()["code"] == "INVALID_JOB_STATE"  # completed: too late


# -- known drifts: the SDK differs from the seed contract; the sandbox keeps the seeds -----------------------
def test_drift_task_13_pdf_is_refused_as_the_seeds_list_task_types_1_to_11(sb, tmp_path):
    pdf = tmp_path / "statement.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")
    with pytest.raises(ValidationError) as e:
        sdk(sb).upload_file(str(pdf), "PDF-1")  # the SDK maps PDF-1 to taskTypeId "13"
    assert e.value.status_code == 400 and e.value.code == "INVALID_TASK_TYPE" and "13" in str(e.value)
    assert authenta_stats(sb)["tenants"][sb.tenant("authenta").id]["jobs"]["created"] == 0


def test_drift_page_size_is_not_the_documented_limit(sb):
    """The SDK's docstring offers ``pageSize``; the seeds document ``limit`` (<= 100, default 10)."""
    client = sdk(sb)
    for name in ("astronaut.jpg", "rocket.jpg"):
        client.upload_file(str(MEDIA / name), "AC-1")
    by_page_size = client.list_media(page=1, pageSize=1)
    assert by_page_size["pagination"]["limit"] == 10 and len(by_page_size["data"]) == 2  # pageSize is ignored
    assert client.list_media(page=1, limit=1)["pagination"]["limit"] == 1


def test_drift_error_codes_the_sdk_maps_are_not_the_documented_ones(make_sandbox):
    """The SDK maps ``IAM001``/``U007`` to its auth and credit errors; the seeds document ``INVALID_API_KEY``
    and ``INSUFFICIENT_BALANCE``, which the SDK raises as a plain ValidationError (status and code kept)."""
    sb = make_sandbox(time_scale=FAST, credits={"authenta": 0})
    with pytest.raises(ValidationError) as e:
        sdk(sb, key="api_apikey_wrong").list_media()
    assert not isinstance(e.value, AuthenticationError)
    assert e.value.status_code == 401 and e.value.code == "INVALID_API_KEY"
    with pytest.raises(ValidationError) as e:
        sdk(sb).upload_file(str(MEDIA / "astronaut.jpg"), "AC-1")
    assert not isinstance(e.value, InsufficientCreditsError)
    assert e.value.status_code == 402 and e.value.code == "INSUFFICIENT_BALANCE"


@pytest.mark.parametrize("mode", ["flat", "wrapped"])
def test_drift_the_sdk_needs_both_envelopes_at_once(make_sandbox, tmp_path, mode):
    """The SDK reads ``job.id`` of the create (newer guide) but the flat ``status`` of a job (reference page):
    only the sandbox's default ``both`` envelope serves it; each strict mode breaks one of its reads."""
    sb = make_sandbox(time_scale=FAST, authenta_envelope=mode)
    image = tmp_path / "a.jpg"
    shutil.copy(MEDIA / "astronaut.jpg", image)
    client = sdk(sb)
    if mode == "flat":
        with pytest.raises(KeyError, match="job"):
            client.upload_file(str(image), "AC-1")
    else:
        job_id = client.upload_file(str(image), "AC-1")["job"]["id"]
        with pytest.raises(KeyError, match="status"):
            client.wait_for_media(job_id, **POLL)
