"""Credits in the sandbox (``--credits PROVIDER=N``): one credit per job created, then 402 in the provider's own
envelope, no job and no used-up idempotency key; a top-up at run time (``PUT /__sandbox__/credits``) lets the
very same request through. Everything over real HTTP on loopback."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import jsonschema
import pytest

from tests.helpers import api, scene_image, stats
from toolkit.sandbox import Sandbox, SandboxConfig
from toolkit.sandbox.config import DEFAULT_COLLECTION, PROVIDERS, ConfigError, Tenant

JPEG = scene_image(2, size=(160, 120))
AOI = "POLYGON((0 0, 0.05 0, 0.05 0.05, 0 0.05, 0 0))"
#: provider -> (HTTP status of a created job, the 402 body's code, its message)
EXPECTED = {
    "animaldetect": (201, "CREDIT_LIMIT_EXCEEDED", "Credit limit exceeded: this API key has no credits left."),
    "sateais": (202, "INSUFFICIENT_CREDITS", "Insufficient credits: this API key has no credits left."),
    "authenta": (200, "INSUFFICIENT_BALANCE", "Insufficient balance: this API key has no credits left."),
    "claid": (200, "3000", "No API calls left."),
    "faces": (202, "INSUFFICIENT_CREDITS", "Insufficient credits: this API key has no credits left."),
}
#: provider -> (METHOD, path of the job-creating operation in the OpenAPI document)
CREATE_OPS = {
    "animaldetect": [("post", "/animaldetect/v1/jobs")],
    "sateais": [("post", "/sateais/api/v1/analyze/{type}"), ("post", "/sateais/api/v1/detect/{type}")],
    "authenta": [("post", "/authenta/api/v1/jobs")],
    "claid": [("post", "/claid/v1/image/edit/async")],
    "faces": [("post", "/faces/api/v1/collections/{collection_id}/faces/batch-async")],
}


def creator(provider: str, c: httpx.Client) -> Callable[[int], httpx.Response]:
    """``create(i)``: the provider's job-creating request for the i-th distinct input."""
    if provider == "animaldetect":
        return lambda i: c.post(
            "/jobs", json={"operation": "detect", "filename": f"cam-{i}.jpg", "content_type": "image/jpeg"}
        )
    if provider == "sateais":
        return lambda i: c.post(
            "/analyze/ship", json={"satellite_id": "sentinel-1", "polygon": AOI, "date": f"2024-06-0{i + 1}"}
        )
    if provider == "authenta":
        return lambda i: c.post(
            "/jobs",
            params={"taskTypeId": 1},
            json={
                "inputs": [
                    {
                        "contentType": "image/jpeg",
                        "fileName": f"a-{i}.jpg",
                        "sizeBytes": len(JPEG),
                        "slotName": "original",
                    }
                ]
            },
        )
    if provider == "claid":
        r = c.post("/storage/upload", files={"file": ("in.jpg", JPEG, "image/jpeg")})  # storage: not a job, free
        assert r.status_code == 200, r.text
        source = r.json()["data"]["input"]
        return lambda i: c.post("/image/edit/async", json={"input": source, "operations": {}})
    assert provider == "faces"
    return lambda i: c.post(
        f"/collections/{DEFAULT_COLLECTION}/faces/batch-async",
        files=[("images", (f"p{i}.jpg", JPEG, "image/jpeg"))],
        data={"external_ids[]": [f"e{i}"]},
    )


def tenant_stats(sb: Sandbox, provider: str) -> dict:
    return stats(sb)["providers"][provider]["tenants"][sb.tenant(provider).id]


def top_up(sb: Sandbox, provider: str, credits: int | None, key: str | None = "") -> httpx.Response:
    body = {"provider": provider, "credits": credits, **({"key": key or sb.key(provider)} if key is not None else {})}
    return httpx.put(sb.url + "/__sandbox__/credits", json=body)


def document_402(sb: Sandbox, provider: str) -> list[dict]:
    doc = httpx.get(sb.url + "/openapi.json").json()
    return [
        doc["paths"][path][method]["responses"]["402"]["content"]["application/json"]["schema"]
        for method, path in CREATE_OPS[provider]
    ]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_third_create_is_402_until_a_top_up(make_sandbox, provider):
    ok, code, text = EXPECTED[provider]
    sb = make_sandbox(credits={provider: 2}, rate_limits={})
    assert tenant_stats_or_none(sb, provider) == {"credits_left": 2}  # listed before the key made a request
    with api(sb, provider) as c:
        create = creator(provider, c)
        assert [create(i).status_code for i in (0, 1)] == [ok, ok]
        refused = create(2)
        assert refused.status_code == 402, refused.text
        body = refused.json()
        for schema in document_402(sb, provider):  # the 402 is described in the OpenAPI document
            jsonschema.validate(body, schema)
        assert {
            "animaldetect": lambda b: b == {"error": {"code": code, "message": text}},
            "sateais": lambda b: b == {"error": {"code": code, "message": text}},
            "authenta": lambda b: b == {"code": code, "statusCode": 402, "message": text},
            "claid": lambda b: (
                b == {"error_code": code, "error_type": "billing", "error_message": text, "error_details": {}}
            ),
            "faces": lambda b: b == {"success": False, "error": {"code": code, "message": text}},
        }[provider](body), body
        t = tenant_stats(sb, provider)
        assert t["jobs"]["created"] == 2 and t["credits_left"] == 0

        r = top_up(sb, provider, 1)
        assert r.status_code == 200 and r.json()["credits"][provider] == {sb.tenant(provider).id: 1}
        again = create(2)  # the very request that was refused
        assert again.status_code == ok, again.text
        t = tenant_stats(sb, provider)
        assert t["jobs"]["created"] == 3 and t["credits_left"] == 0
        assert create(3).status_code == 402


def tenant_stats_or_none(sb: Sandbox, provider: str) -> dict | None:
    tenant = stats(sb)["providers"].get(provider, {}).get("tenants", {}).get(sb.tenant(provider).id)
    return None if tenant is None else {k: v for k, v in tenant.items() if k == "credits_left"}


def test_a_402_does_not_use_up_the_idempotency_key(make_sandbox):
    sb = make_sandbox(credits={"animaldetect": 1})
    body = {"operation": "detect", "filename": "cam.jpg", "content_type": "image/jpeg"}
    with api(sb, "animaldetect") as c:
        first = c.post("/jobs", json=body, headers={"Idempotency-Key": "img-1"})
        assert first.status_code == 201
        # a replay costs nothing and still works with no credit left
        replay = c.post("/jobs", json=body, headers={"Idempotency-Key": "img-1"})
        assert replay.status_code == 200 and replay.json()["job_id"] == first.json()["job_id"]
        refused = c.post("/jobs", json={**body, "filename": "cam-2.jpg"}, headers={"Idempotency-Key": "img-2"})
        assert refused.status_code == 402
        assert top_up(sb, "animaldetect", 1).status_code == 200
        created = c.post("/jobs", json={**body, "filename": "cam-2.jpg"}, headers={"Idempotency-Key": "img-2"})
        assert created.status_code == 201, created.text  # a new job, not a replay of a refused request
        assert created.json()["job_id"] != first.json()["job_id"]
    t = tenant_stats(sb, "animaldetect")
    assert t["jobs"]["created"] == 2 and t["jobs_per_idempotency_key"] == {"img-1": 1, "img-2": 1}


def test_sateais_preview_is_free_and_validation_comes_before_credits(make_sandbox):
    sb = make_sandbox(credits={"sateais": 0})
    body = {"satellite_id": "sentinel-1", "polygon": AOI, "date": "2024-06-01"}
    with api(sb, "sateais") as c:
        assert c.post("/analyze/ship/preview", json=body).status_code == 200
        bad = c.post("/analyze/ship", json={**body, "satellite_id": "landsat-8"})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "VALIDATION_ERROR"
        assert c.post("/detect/ship", json=body).status_code == 402  # the /detect alias too
    assert tenant_stats(sb, "sateais")["jobs"]["created"] == 0


def test_credits_are_per_key_and_unlimited_elsewhere(make_sandbox):
    other = Tenant("authenta", "api_apikey_other")
    sb = make_sandbox(
        credits={"authenta": 1},
        tenants=[Tenant("authenta", "api_apikey_sandbox_authenta"), other, Tenant("claid", "claid_sandbox_key")],
        rate_limits={},
    )
    with api(sb, "authenta") as a, api(sb, "authenta", key=other.key) as b:
        make_a, make_b = creator("authenta", a), creator("authenta", b)
        assert [make_a(0).status_code, make_a(1).status_code] == [200, 402]
        assert make_b(0).status_code == 200  # the other key has its own credit
    with api(sb, "claid") as c:
        make = creator("claid", c)
        assert {make(i).status_code for i in range(4)} == {200}  # no --credits for claid: unlimited
    s = stats(sb)["providers"]
    assert s["authenta"]["tenants"][other.id]["credits_left"] == 0
    assert "credits_left" not in s["claid"]["tenants"][sb.tenant("claid").id]
    # a top-up without a key fills every key of the provider; null makes them unlimited
    r = top_up(sb, "authenta", 5, key=None)
    assert r.json()["credits"]["authenta"] == {sb.tenant("authenta").id: 5, other.id: 5}
    assert top_up(sb, "authenta", None, key=None).json()["credits"] == {}


def test_top_up_refuses_bad_bodies_without_echoing_the_key(make_sandbox):
    sb = make_sandbox(credits={"faces": 1})
    put = lambda body: httpx.put(sb.url + "/__sandbox__/credits", json=body)  # noqa: E731
    assert put({"provider": "nope", "credits": 1}).status_code == 400
    assert put({"provider": "faces", "credits": -1}).status_code == 400
    assert put({"provider": "faces", "credits": "7"}).status_code == 400
    assert put({"provider": "faces"}).status_code == 400
    assert put([1, 2]).status_code == 400
    r = put({"provider": "faces", "key": "fr_live_SECRET_guess", "credits": 3})
    assert r.status_code == 404 and "SECRET" not in r.text
    assert tenant_stats_or_none(sb, "faces") == {"credits_left": 1}


def test_config_and_cli_refuse_bad_credits(tmp_path: Path):
    for bad in ({"nope": 1}, {"claid": -1}, {"claid": 1.5}, {"claid": True}):
        with pytest.raises(ConfigError, match="--credits"):
            SandboxConfig(credits=bad)
    cfg = SandboxConfig()
    cfg.set_credits("authenta=3")
    assert cfg.credits == {"authenta": 3}
    for spec, words in (("authenta", "PROVIDER=N"), ("authenta=x", "whole number"), ("nope=1", "PROVIDER=N")):
        r = subprocess.run(
            [sys.executable, "-m", "toolkit", "sandbox", "--data-dir", str(tmp_path / "d"), "--credits", spec],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode != 0 and words in r.stderr, (spec, r.stderr)
