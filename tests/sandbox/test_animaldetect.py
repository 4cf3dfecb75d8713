"""Animal Detect contract over real HTTP: the documented async flow and every error case."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.helpers import api, scene_image, stats

CREATE = {
    "operation": "detect",
    "filename": "camera-a-0001.jpg",
    "content_type": "image/jpeg",
    "client_reference_id": "camera-a-2026-06-19-0001",
    "options": {"threshold": 0.2, "classify": True},
}


def run_job(c: httpx.Client, image: bytes, body: dict | None = None, headers: dict | None = None) -> dict:
    job = c.post("/jobs", json=body or CREATE, headers=headers or {}).json()
    put = httpx.put(job["upload"]["url"], content=image, headers=job["upload"]["headers"])
    assert put.status_code == 200, put.text
    assert c.post(job["submit_url"]).status_code == 202
    return job


def wait_result(c: httpx.Client, job: dict, timeout: float = 10) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = c.get(job["result_url"])
        if r.status_code != 202:
            return r
        time.sleep(0.02)
    raise AssertionError("job did not finish")


def test_documented_flow(sandbox):
    with api(sandbox, "animaldetect") as c:
        r = c.post("/jobs", json=CREATE, headers={"Idempotency-Key": "img-1"})
        assert r.status_code == 201
        job = r.json()
        assert job["status"] == "created" and job["client_reference_id"] == CREATE["client_reference_id"]
        assert job["upload"]["method"] == "PUT" and "sig=" in job["upload"]["url"]
        assert job["status_url"].endswith(f"/v1/jobs/{job['job_id']}")
        put = httpx.put(job["upload"]["url"], content=scene_image(1), headers={"Content-Type": "image/jpeg"})
        assert put.status_code == 200
        sub = c.post(job["submit_url"])
        assert sub.status_code == 202 and sub.json()["status"] in ("queued", "processing", "succeeded")
        res = wait_result(c, job)
        assert res.status_code == 200
        body = res.json()
        assert body["id"] == body["job_id"] == job["job_id"]
        assert body["info"]["model_id"] == "sandbox-reference"
        assert len(body["annotations"]) >= 1
        for a in body["annotations"]:
            x, y, w, h = a["bbox"]
            assert 0 <= x <= 1 and 0 <= y <= 1 and 0 < w <= 1 and 0 < h <= 1
            assert a["score"] >= 0.2 and set(a["taxonomy"]) >= {"class", "order", "family", "genus", "species"}
        status = c.get(job["status_url"]).json()
        assert status["status"] == "succeeded" and status["completed_at"]


def test_engine_finds_the_drawn_objects_and_nothing_on_a_flat_image(sandbox):
    with api(sandbox, "animaldetect") as c:
        two = wait_result(c, run_job(c, scene_image(3, objects=2))).json()
        none = wait_result(c, run_job(c, scene_image(3, objects=0))).json()
    assert len(two["annotations"]) == 2
    assert none["annotations"] == []


def test_options_threshold_classify_metadata(sandbox):
    img = scene_image(5)
    with api(sandbox, "animaldetect") as c:
        body = {**CREATE, "options": {"threshold": 0.99, "classify": False, "metadata": True}}
        strict = wait_result(c, run_job(c, img, body)).json()
        body = {**CREATE, "options": {"threshold": 0.01, "classify": False, "metadata": True, "top_candidate": True}}
        loose = wait_result(c, run_job(c, img, body)).json()
    assert len(strict["annotations"]) < len(loose["annotations"])
    assert {a["label"] for a in loose["annotations"]} <= {"animal", "human", "vehicle"}
    assert loose["metadata"] == {"image_width": 640, "image_height": 480, "file_size": len(img)}
    assert all("top_candidates" in a for a in loose["annotations"])
    assert strict["info"]["threshold_applied"] == 0.99


def test_auth_and_tenant_isolation(make_sandbox):
    sb = make_sandbox(
        tenants=[
            __import__("toolkit.sandbox", fromlist=["Tenant"]).Tenant("animaldetect", "sk_a"),
            __import__("toolkit.sandbox", fromlist=["Tenant"]).Tenant("animaldetect", "sk_b"),
        ]
    )
    with httpx.Client(base_url=sb.base_url("animaldetect")) as anon:
        r = anon.post("/jobs", json=CREATE)
        assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"
        r = anon.post("/jobs", json=CREATE, headers={"Authorization": "Bearer sk_wrong"})
        assert r.status_code == 401
    with api(sb, "animaldetect", key="sk_a") as a, api(sb, "animaldetect", key="sk_b") as b:
        job = run_job(a, scene_image(1))
        for url in (job["status_url"], job["result_url"]):
            r = b.get(url)
            assert r.status_code == 404 and r.json()["error"]["code"] == "JOB_NOT_FOUND"
        assert b.post(job["submit_url"]).status_code == 404
        assert wait_result(a, job).status_code == 200


@pytest.mark.parametrize(
    "body,fragment",
    [
        ({**CREATE, "operation": "classify"}, "operation"),
        ({**CREATE, "content_type": "text/plain"}, "content_type"),
        ({**CREATE, "options": {"threshold": 1.5}}, "threshold"),
        ({k: v for k, v in CREATE.items() if k != "filename"}, "filename"),
        # typed as documented, no coercion (issue #23): its OpenAPI document refuses these
        ({**CREATE, "options": {"top_candidate": 0}}, "options.top_candidate"),
        ({**CREATE, "options": {"classify": "yes"}}, "options.classify"),
        ({**CREATE, "options": {"metadata": "off"}}, "options.metadata"),
        ({**CREATE, "options": {"threshold": "0.5"}}, "options.threshold"),
        ({**CREATE, "filename": 7}, "filename"),
    ],
)
def test_bad_bodies_are_400_validation_errors(sandbox, body, fragment):
    with api(sandbox, "animaldetect") as c:
        r = c.post("/jobs", json=body)
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "VALIDATION_ERROR" and fragment in r.json()["error"]["message"]
        r = c.post("/jobs", content=b"{not json", headers={"Content-Type": "application/json"})
        assert r.status_code == 400


def test_signed_url_tamper_mismatch_expiry_and_size(make_sandbox):
    sb = make_sandbox(time_scale=0.001)  # upload URLs live 3.6 s
    with api(sb, "animaldetect") as c:
        job = c.post("/jobs", json=CREATE).json()
        url = job["upload"]["url"]
        tampered = url.replace("sig=", "sig=0")
        assert httpx.put(tampered, content=b"\xff\xd8\xff", headers={"Content-Type": "image/jpeg"}).status_code == 403
        other_job = url.replace(job["job_id"], c.post("/jobs", json=CREATE).json()["job_id"])
        assert httpx.put(other_job, content=b"\xff\xd8\xff", headers={"Content-Type": "image/jpeg"}).status_code == 403
        assert httpx.put(url, content=b"\xff\xd8\xff", headers={"Content-Type": "image/png"}).status_code == 403
        big = b"\xff\xd8\xff" + bytes(10 * 1024 * 1024)
        assert httpx.put(url, content=big, headers={"Content-Type": "image/jpeg"}).status_code == 413
        r = c.post(job["submit_url"])
        assert r.status_code == 409 and r.json()["error"]["code"] == "UPLOAD_MISSING"
        time.sleep(4.8)  # 3.6 s validity, rounded up to the next whole second by the signer
        r = httpx.put(url, content=scene_image(1), headers={"Content-Type": "image/jpeg"})
        assert r.status_code == 403 and "expired" in r.json()["error"]["message"]
    assert stats(sb)["providers"]["animaldetect"]["auth_on_signed_urls"] == 0


def test_idempotency_replay_and_conflict(sandbox):
    with api(sandbox, "animaldetect") as c:
        first = c.post("/jobs", json=CREATE, headers={"Idempotency-Key": "k-1"})
        again = c.post("/jobs", json=CREATE, headers={"Idempotency-Key": "k-1"})
        assert first.status_code == 201 and again.status_code == 200
        assert again.json()["job_id"] == first.json()["job_id"]
        other = c.post("/jobs", json={**CREATE, "filename": "b.jpg"}, headers={"Idempotency-Key": "k-1"})
        assert other.status_code == 409 and other.json()["error"]["code"] == "IDEMPOTENCY_CONFLICT"
    tenant = stats(sandbox)["providers"]["animaldetect"]["tenants"][sandbox.tenant("animaldetect").id]
    assert tenant["jobs_per_idempotency_key"] == {"k-1": 1} and tenant["jobs"]["created"] == 1


def test_rate_limit_429_with_retry_after(make_sandbox):
    sb = make_sandbox()
    sb.config.rate_limits["animaldetect"]["inference"] = [(3, 60.0)]
    with api(sb, "animaldetect") as c:
        codes = [c.post("/jobs", json=CREATE) for _ in range(4)]
    assert [r.status_code for r in codes] == [201, 201, 201, 429]
    assert codes[-1].json()["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(codes[-1].headers["Retry-After"]) <= 20


def test_legacy_api_prefix_and_result_expiry(make_sandbox):
    sb = make_sandbox(time_scale=0.00005)  # 30 days -> 130 s; upload URL 0.18 s
    legacy = sb.url + "/animaldetect/api/v1"
    with httpx.Client(base_url=legacy, headers={"Authorization": f"Bearer {sb.key('animaldetect')}"}) as c:
        job = c.post("/jobs", json=CREATE).json()
        assert job["submit_url"].startswith(legacy)
        httpx.put(job["upload"]["url"], content=scene_image(2), headers={"Content-Type": "image/jpeg"})
        c.post(job["submit_url"])
        assert wait_result(c, job).status_code == 200
        sb.ctx.store.update(job["job_id"], completed_at=time.time() - 200)  # past the scaled 30 days
        assert c.get(job["result_url"]).status_code == 404
        assert c.get(job["status_url"]).json()["error"]["code"] == "JOB_NOT_FOUND"


def test_failed_job_reports_error(make_sandbox):
    sb = make_sandbox(faults={"animaldetect": {"fail": 1.0}})
    with api(sb, "animaldetect") as c:
        r = wait_result(c, run_job(c, scene_image(1)))
    assert r.status_code == 200 and r.json()["status"] == "failed" and r.json()["error"]["code"]


def test_not_an_image_fails_the_job(sandbox):
    with api(sandbox, "animaldetect") as c:
        r = wait_result(c, run_job(c, b"\xff\xd8\xff not really a jpeg"))
    assert r.json()["status"] == "failed" and r.json()["error"]["code"] == "INVALID_IMAGE"
