"""Face batch enrollment (FR-APIaaS) over real HTTP: multipart batch, poll, list, and every error case."""

from __future__ import annotations

import functools
import io
import time

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.helpers import stats
from toolkit.sandbox import Tenant
from toolkit.sandbox.config import DEFAULT_COLLECTION, DEFAULT_ORG
from toolkit.sandbox.engines.faces import synthetic_faces

COLL, ORG = DEFAULT_COLLECTION, DEFAULT_ORG
SCOPED = [Tenant("faces", "k1", "org1", "coll1"), Tenant("faces", "k2", "org2", "coll2")]


@functools.cache
def faces() -> tuple[bytes, ...]:
    return tuple(synthetic_faces(3, seed=11))


def png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr.astype("uint8")).save(buf, "PNG")
    return buf.getvalue()


def ext(data: bytes) -> str:
    return "png" if data.startswith(b"\x89PNG") else "jpg"


def client(sb, key: str | None = None, bearer: bool = False) -> httpx.Client:
    key = key or sb.key("faces")
    headers = {"Authorization": f"Bearer {key}"} if bearer else {"X-API-Key": key}
    return httpx.Client(base_url=sb.base_url("faces"), headers=headers, timeout=15)


def submit(
    c: httpx.Client,
    images: list[bytes],
    ids: list[str],
    coll: str = COLL,
    image_field: str = "images",
    id_field: str = "external_ids[]",
) -> httpx.Response:
    files = [(image_field, (f"img{i}.{ext(b)}", b)) for i, b in enumerate(images)]
    return c.post(f"/collections/{coll}/faces/batch-async", files=files, data={id_field: ids})


def wait_done(c: httpx.Client, job_id: str, org: str = ORG, timeout: float = 15) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = c.get(f"/organizations/{org}/batch/{job_id}")
        assert r.status_code == 200, r.text
        if r.json()["data"]["status"] in ("done", "failed"):
            return r.json()
        time.sleep(0.02)
    raise AssertionError("batch did not finish")


def test_documented_flow(sandbox):
    with client(sandbox) as c, client(sandbox, bearer=True) as poll:
        r = submit(c, list(faces()[:2]), ["employee-001", "employee-002"])
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["success"] is True
        d = body["data"]
        assert {k: d[k] for k in ("status", "total", "processed", "succeeded", "failed")} == {
            "status": "queued",
            "total": 2,
            "processed": 0,
            "succeeded": 0,
            "failed": 0,
        }
        done = wait_done(poll, d["job_id"])  # poll with the key as a Bearer token (PC)
    data = done["data"]
    assert done["success"] is True and data["job_id"] == d["job_id"] and data["status"] == "done"
    assert (data["total"], data["processed"], data["succeeded"], data["failed"]) == (2, 2, 2, 0)
    assert data["sandbox"] is True
    assert [(x["index"], x["external_id"], x["success"]) for x in data["results"]] == [
        (0, "employee-001", True),
        (1, "employee-002", True),
    ]
    ids = [x["face_id"] for x in data["results"]]
    assert all(isinstance(i, str) and i for i in ids) and ids[0] != ids[1]


def test_mixed_batch_fails_items_not_the_job(sandbox):
    rng = np.random.default_rng(3)
    face_rgb = np.asarray(Image.open(io.BytesIO(faces()[0])).convert("RGB"))
    items = {
        "good-a": faces()[0],
        "good-b": faces()[2],
        "noise": png(rng.integers(0, 256, (240, 240, 3))),
        "flat": png(np.full((200, 200, 3), 128)),
        "tiny": png(face_rgb[:50, :50]),
        "text": b"name,department\nalice,hr\n",
        "broken-png": b"\x89PNG\r\n\x1a\n" + bytes(64),
    }
    with client(sandbox) as c:
        job_id = submit(c, list(items.values()), list(items)).json()["data"]["job_id"]
        data = wait_done(c, job_id)["data"]
    assert data["status"] == "done"
    assert (data["total"], data["processed"], data["succeeded"], data["failed"]) == (7, 7, 2, 5)
    codes = {x["external_id"]: (x.get("error") or {}).get("code") for x in data["results"]}
    assert codes == {
        "good-a": None,
        "good-b": None,
        "noise": "FACE_NOT_DETECTED",
        "flat": "FACE_NOT_DETECTED",
        "tiny": "FACE_QUALITY_TOO_LOW",
        "text": "INVALID_IMAGE",
        "broken-png": "INVALID_IMAGE",
    }
    for x in data["results"]:
        if not x["success"]:
            assert x["face_id"] is None and x["error"]["message"]
    assert "100x100" in data["results"][4]["error"]["message"]


def test_oversized_item_is_invalid_image(sandbox):
    big = b"\xff\xd8\xff" + bytes(10 * 1024 * 1024)
    with client(sandbox) as c:
        job_id = submit(c, [big, faces()[1]], ["big", "ok"]).json()["data"]["job_id"]
        data = wait_done(c, job_id)["data"]
    assert [x["success"] for x in data["results"]] == [False, True]
    assert data["results"][0]["error"]["code"] == "INVALID_IMAGE" and "10 MB" in data["results"][0]["error"]["message"]


@pytest.mark.parametrize(
    "image_field,id_field", [("images[]", "external_ids"), ("images", "external_ids"), ("images[]", "external_ids[]")]
)
def test_field_name_drift(sandbox, image_field, id_field):
    with client(sandbox) as c:
        r = submit(c, [faces()[0]], ["e-1"], image_field=image_field, id_field=id_field)
        assert r.status_code == 202, r.text
        data = wait_done(c, r.json()["data"]["job_id"])["data"]
    assert data["results"][0]["external_id"] == "e-1" and data["results"][0]["success"] is True


def test_batch_too_large_and_validation_errors(sandbox):
    small = png(np.zeros((8, 8, 3)))
    with client(sandbox) as c:
        r = submit(c, [small] * 101, [f"e{i}" for i in range(101)])
        assert r.status_code == 400
        assert r.json() == {
            "success": False,
            "error": {"code": "BATCH_TOO_LARGE", "message": r.json()["error"]["message"]},
        }
        assert submit(c, [small] * 100, [f"e{i}" for i in range(100)]).status_code == 202
        for images, ids in (([small, small], ["only-one"]), ([small], ["a", "b"]), ([small], [])):
            r = submit(c, images, ids)
            assert r.status_code == 400 and r.json()["error"]["code"] == "VALIDATION_ERROR", (len(images), ids)
        r = c.post(f"/collections/{COLL}/faces/batch-async", data={"external_ids[]": ["a"]})
        assert r.status_code == 400 and r.json()["error"]["code"] == "VALIDATION_ERROR"
        r = c.post(f"/collections/{COLL}/faces/batch-async", json={"images": []})
        assert r.status_code == 400 and r.json()["error"]["code"] == "VALIDATION_ERROR"
        r = c.get(f"/organizations/{ORG}/batch", params={"limit": 101})
        assert r.status_code == 400 and r.json()["error"]["code"] == "VALIDATION_ERROR"
    jobs = stats(sandbox)["providers"]["faces"]["tenants"][sandbox.tenant("faces").id]["jobs"]
    assert jobs["created"] == 1  # rejected batches create no job


def test_unauthorized(sandbox):
    with httpx.Client(base_url=sandbox.base_url("faces")) as anon:
        r = submit(anon, [faces()[0]], ["e"])
        assert r.status_code == 401 and r.json() == {
            "success": False,
            "error": {"code": "UNAUTHORIZED", "message": r.json()["error"]["message"]},
        }
        assert anon.get(f"/organizations/{ORG}/batch").status_code == 401
    for wrong in (client(sandbox, "fr_live_wrong"), client(sandbox, "fr_live_wrong", bearer=True)):
        with wrong as c:
            assert submit(c, [faces()[0]], ["e"]).json()["error"]["code"] == "UNAUTHORIZED"
            assert c.get(f"/organizations/{ORG}/batch/x").status_code == 401


def test_collection_scoping_and_tenant_isolation(make_sandbox):
    sb = make_sandbox(tenants=SCOPED)
    with client(sb, "k1") as k1, client(sb, "k2") as k2:
        wrong = submit(k1, [faces()[0]], ["e"], coll="coll2")
        assert wrong.status_code == 202
        failed = wait_done(k1, wrong.json()["data"]["job_id"], org="org1")["data"]
        assert failed["status"] == "failed" and failed["error"]["code"] == "COLLECTION_NOT_FOUND"
        assert failed["results"] == [] and failed["processed"] == 0
        own = submit(k1, [faces()[0]], ["e"], coll="coll1").json()["data"]["job_id"]
        assert wait_done(k1, own, org="org1")["data"]["succeeded"] == 1
        r = k1.get(f"/organizations/org2/batch/{own}")  # the key's job, another org's path
        assert r.status_code == 404 and r.json()["error"]["code"] == "JOB_NOT_FOUND"
        for path in (f"/organizations/org1/batch/{own}", f"/organizations/org2/batch/{own}"):
            r = k2.get(path)
            assert r.status_code == 404 and r.json()["error"]["code"] == "JOB_NOT_FOUND"
        assert k2.get("/organizations/org2/batch").json()["pagination"]["total"] == 0
        assert k2.get("/organizations/org1/batch").status_code == 404
        assert k1.get("/organizations/org1/batch").json()["pagination"]["total"] == 2


def test_list_with_pagination(sandbox):
    small = png(np.zeros((8, 8, 3)))
    with client(sandbox, bearer=True) as c:
        ids = [submit(c, [small] * (i + 1), [f"e{j}" for j in range(i + 1)]).json()["data"]["job_id"] for i in range(3)]
        for j in ids:
            wait_done(c, j)
        p1 = c.get(f"/organizations/{ORG}/batch", params={"page": 1, "limit": 2}).json()
        p2 = c.get(f"/organizations/{ORG}/batch", params={"page": 2, "limit": 2}).json()
        p3 = c.get(f"/organizations/{ORG}/batch", params={"page": 3, "limit": 2}).json()
    assert p1["success"] is True and p1["pagination"] == {"page": 1, "limit": 2, "total": 3}
    assert [j["job_id"] for j in p1["data"] + p2["data"]] == ids[::-1]  # newest first
    assert p3["data"] == [] and p2["pagination"]["page"] == 2
    assert p1["data"][0]["total"] == 3 and p1["data"][0]["status"] == "done" and "results" not in p1["data"][0]


def test_face_id_is_deterministic_per_image_and_collection(make_sandbox):
    sb = make_sandbox(tenants=[*SCOPED, Tenant("faces", "k1b", "org1", "coll1b")])
    a, b = faces()[0], faces()[1]

    def enroll(key: str, coll: str, images: list[bytes]) -> list[str]:
        with client(sb, key) as c:
            job_id = submit(c, images, [f"e{i}" for i in range(len(images))], coll=coll).json()["data"]["job_id"]
            return [x["face_id"] for x in wait_done(c, job_id, org="org1")["data"]["results"]]

    first, again = enroll("k1", "coll1", [a, b]), enroll("k1", "coll1", [b, a])
    other_coll = enroll("k1b", "coll1b", [a])
    assert first == again[::-1] and first[0] != first[1]
    assert other_coll[0] != first[0]


def test_processed_grows_while_processing(make_sandbox):
    sb = make_sandbox(runtimes={"faces": 2000.0}, runtime_spread=0.0)  # 2 s at time_scale 0.001
    with client(sb) as c:
        job_id = submit(c, list(faces()), ["a", "b", "c"]).json()["data"]["job_id"]
        seen = []
        while True:
            d = c.get(f"/organizations/{ORG}/batch/{job_id}").json()["data"]
            seen.append((d["status"], d["processed"]))
            assert len(d["results"]) == d["processed"] == d["succeeded"] + d["failed"]
            if d["status"] == "done":
                break
            time.sleep(0.05)
    during = [p for s, p in seen if s == "processing"]
    assert during and max(during) < 3 and during == sorted(during) and max(during) >= 1
    assert seen[-1] == ("done", 3)


def test_retention_404_after_seven_days(make_sandbox):
    sb = make_sandbox(time_scale=3e-6)  # 7 days -> 1.8 s
    with client(sb) as c:
        job_id = submit(c, [faces()[0]], ["e"]).json()["data"]["job_id"]
        assert wait_done(c, job_id)["data"]["status"] == "done"
        assert c.get(f"/organizations/{ORG}/batch").json()["pagination"]["total"] == 1
        time.sleep(2.0)
        r = c.get(f"/organizations/{ORG}/batch/{job_id}")
        assert r.status_code == 404 and r.json()["error"]["code"] == "JOB_NOT_FOUND"
        assert c.get(f"/organizations/{ORG}/batch").json()["pagination"]["total"] == 0


def test_rate_limited(make_sandbox):
    sb = make_sandbox()
    sb.config.rate_limits["faces"]["api"] = [(2, 60.0)]
    with client(sb) as c:
        codes = [c.get(f"/organizations/{ORG}/batch") for _ in range(3)]
    assert [r.status_code for r in codes] == [200, 200, 429]
    assert codes[-1].json()["error"]["code"] == "RATE_LIMITED" and int(codes[-1].headers["Retry-After"]) >= 1
