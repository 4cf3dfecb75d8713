"""Sandbox hardening (issue #8): a key on every route, 405 + Allow for other methods, tenant isolation on every
route, tampered and expired signed URLs, path traversal in file names and storage paths, Claid inputs aimed at
other hosts or schemes, oversized bodies (413), malformed JSON and multipart. Real HTTP against a sandbox with
two tenants per provider (``tests/reliability/__init__.py``); every refusal must come in the provider's error
envelope as the OpenAPI document describes it. ``pytest -s`` prints how many requests each area tried."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from tests.reliability import (
    JPEG,
    OTHER_ORG,
    SAME_ORG_KEY,
    Decoy,
    World,
    api_ops,
    auth,
    build_world,
    fill,
    jobs_created,
    message,
    multipart,
    raw,
    refused,
    start_sandbox,
    with_query,
)
from toolkit.sandbox import PROVIDERS
from toolkit.sandbox.config import DEFAULT_COLLECTION, DEFAULT_ORG

MiB = 1024 * 1024
CASES: dict[str, int] = {}  # test -> requests tried (printed with -s)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    w = build_world(start_sandbox(tmp_path_factory.mktemp("hardening") / "sb"))
    try:
        yield w
    finally:
        w.close()
        print("\nhardening cases:", CASES, "total", sum(CASES.values()))


def count(name: str, n: int = 1) -> None:
    CASES[name] = CASES.get(name, 0) + n


# -- keys and tenants -------------------------------------------------------------------------------------
def test_every_route_wants_a_key_of_its_own_provider(world):
    """No key, a wrong key, or another provider's valid key: 401 before the route reads its path or body."""
    sb, before = world.sb, jobs_created(world.sb)
    ops = api_ops(sb)
    assert {p for p, *_ in ops} == set(PROVIDERS) and len(ops) >= 21
    for provider, method, path in ops:
        other = PROVIDERS[(PROVIDERS.index(provider) + 1) % len(PROVIDERS)]
        for headers in (
            {},
            {"Authorization": "Bearer nope"},
            {"X-API-Key": "nope"},
            {"Authorization": "Basic eDp5"},
            auth(other),
        ):
            r = world.http.request(
                method,
                sb.url + fill(path),
                content=b"{not json",
                headers={**headers, "Content-Type": "application/json"},
            )
            refused(r, provider, 401, sb.ctx.specs[provider].unauthorized_code)
            count("auth")
    assert jobs_created(sb) == before


def test_methods_a_route_does_not_have_get_405_with_allow(world):
    """Every path of the document, every method it does not list: 405 in the envelope, with ``Allow`` (RFC 9110)."""
    sb = world.sb
    doc = httpx.get(sb.url + "/openapi.json").json()
    for path, item in doc["paths"].items():
        provider = path.split("/")[2 if path.startswith("/storage/") else 1]
        listed = {m.upper() for m in item}
        for method in sorted({"GET", "POST", "PUT", "DELETE", "PATCH"} - listed):
            origin = sb.storage_url if path.startswith("/storage/") else sb.url
            r = world.http.request(method, origin + fill(path), headers=auth(provider))
            refused(r, provider, 405)
            allowed = {m.strip() for m in r.headers["allow"].split(",")}
            assert allowed and allowed <= listed | {"HEAD"}, (method, path, allowed)
            count("methods")


def test_tenant_isolation_on_every_job_route(world):
    """Tenant b (and a faces key of a's own organisation) sees none of a's jobs on any route, cannot change
    them, and a's jobs are untouched afterwards."""
    sb = world.sb

    def state(provider: str, job_id: str) -> str:
        with world.client(provider) as c:
            path = {"claid": f"/image/edit/async/{job_id}", "faces": f"/organizations/{DEFAULT_ORG}/batch/{job_id}"}
            r = c.get(path.get(provider, f"/jobs/{job_id}"))
            assert r.status_code == 200, r.text
            body = r.json().get("data", r.json())
            return body["status"]

    jobs = [(p, i) for d in (world.done, world.draft) for p, i in d.items()]
    states = {j: state(*j) for j in jobs}
    assert states[("animaldetect", world.draft["animaldetect"])] == "created"
    covered = set()
    for provider, method, path in api_ops(sb):
        if "{job_id}" not in path and "{task_id}" not in path:
            continue
        for p, job_id in jobs:
            if p != provider:
                continue
            callers = [(auth(provider, "b"), DEFAULT_ORG)]
            if provider == "faces":  # b in its own organisation, and another key of a's organisation
                callers += [(auth(provider, "b"), OTHER_ORG), ({"X-API-Key": SAME_ORG_KEY}, DEFAULT_ORG)]
            for headers, org in callers:
                r = world.http.request(method, sb.url + fill(path, job_id, org), headers=headers)
                status = 400 if path.endswith("/finalize") else 404  # Authenta: "Job not found or already finalized"
                body = refused(r, provider, status)
                assert str(body).upper().count("NOT_FOUND") or body.get("error_code") == "1004", body
                count("isolation")
            covered.add((method, path))
    assert len(covered) >= 11, covered  # every route naming a job (11 today)
    assert {j: state(*j) for j in jobs} == states  # nothing a's was submitted, cancelled or deleted

    # lists show only the caller's own jobs
    with world.client("authenta", "b") as c:
        listed = [str(j["jobId"]) for j in c.get("/jobs", params={"limit": 100}).json()["data"]]
        assert not {world.done["authenta"], world.draft["authenta"]} & set(listed)
    with httpx.Client(base_url=sb.base_url("faces"), headers={"X-API-Key": SAME_ORG_KEY}) as c:
        r = c.get(f"/organizations/{DEFAULT_ORG}/batch")
        assert r.status_code == 200 and world.done["faces"] not in r.text
    with world.client("faces", "b") as c:
        refused(c.get(f"/organizations/{DEFAULT_ORG}/batch"), "faces", 404)
    count("isolation", 3)


def test_idempotency_keys_storage_and_collections_are_per_tenant(world):
    create = {"operation": "detect", "filename": "k.jpg", "content_type": "image/jpeg"}
    ids = {}
    for tenant in ("a", "b", "a", "b"):
        with world.client("animaldetect", tenant) as c:
            r = c.post("/jobs", json=create, headers={"Idempotency-Key": "shared-key-1"})
            assert r.status_code == (201 if tenant not in ids else 200), r.text
            assert ids.setdefault(tenant, r.json()["job_id"]) == r.json()["job_id"]
    assert ids["a"] != ids["b"]
    with world.client("claid", "b") as c:  # b cannot name a's storage object
        body = refused(
            c.post("/image/edit/async", json={"input": world.claid_input, "operations": {}}), "claid", 400, "4000"
        )
        assert "not found" in body["error_message"]
    with world.client("claid") as c:
        assert c.post("/image/edit/async", json={"input": world.claid_input, "operations": {}}).status_code == 200
    with world.client("faces", "b") as c:  # b's key cannot enroll into a's collection
        r = c.post(
            f"/collections/{DEFAULT_COLLECTION}/faces/batch-async",
            files=[("images", ("p.jpg", JPEG, "image/jpeg"))],
            data={"external_ids[]": ["x"]},
        )
        job_id = r.json()["data"]["job_id"]
        deadline = time.monotonic() + 10
        while (job := c.get(f"/organizations/{OTHER_ORG}/batch/{job_id}").json()["data"])["status"] != "failed":
            assert time.monotonic() < deadline, job
            time.sleep(0.02)
        assert job["error"]["code"] == "COLLECTION_NOT_FOUND"
    count("isolation", 8)


# -- signed URLs ------------------------------------------------------------------------------------------
UPLOADS = {"animaldetect.upload": (JPEG, "image/jpeg"), "authenta.upload": (JPEG, "image/jpeg")}


@pytest.mark.parametrize(
    "name",
    ["animaldetect.upload", "authenta.upload", "authenta.artifact", "sateais.result", "claid.tmp", "claid.object"],
)
def test_tampered_signed_urls_are_refused(world, name):
    provider, url = name.split(".")[0], world.signed[name]
    q = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    sig, segments = q["sig"], urlsplit(url).path.split("/")
    key = world.sb.config.data_dir.joinpath("signing.key").read_bytes().hex()
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    first_id = next(i for i, seg in enumerate(segments) if any(ch.isdigit() for ch in seg))
    renamed = "/".join(segments[:first_id] + ["9" + segments[first_id]] + segments[first_id + 1 :])  # another job
    changes = [
        {"sig": flipped},
        {"sig": None},
        {"sig": ""},
        {"sig": "é" * 64},
        {"sig": sig.upper()},
        {"expires": str(int(q["expires"]) + 3600)},
        {"expires": "soon"},
        {"expires": None},
        {"ct": "image/png"},
        {"size": "1"},
        {"path": renamed},
    ]
    tampered = [with_query(url, **change) for change in changes]
    data, ct = UPLOADS.get(name, (b"", ""))
    method = "PUT" if data else "GET"
    for bad in tampered:
        r = world.http.request(method, bad, content=data, headers={"Content-Type": ct} if ct else {})
        body = refused(r, provider, 403, "1003" if provider == "claid" else "FORBIDDEN")
        assert sig not in r.text and key not in r.text, body
        count("signatures")
    if data:  # the body must match what was signed: type, and for Authenta the declared size
        refused(world.http.put(url, content=data, headers={"Content-Type": "image/png"}), provider, 403)
        if name == "authenta.upload":
            refused(world.http.put(url, content=data + b"\0", headers={"Content-Type": ct}), provider, 403)
        count("signatures", 2)
    r = world.http.request(method, url, content=data, headers={"Content-Type": ct} if ct else {})
    assert r.status_code == 200, r.text  # the untouched URL still works: what failed was the tampering


def test_expired_signed_urls_are_refused(tmp_path):
    """Upload and download URLs that really lapsed (time scale 2e-4: 1 h -> 0.72 s), and URLs the sandbox
    signed itself with an expiry in the past, on every signed route."""
    w = build_world(start_sandbox(tmp_path / "fast", time_scale=0.0002))
    sb = w.sb
    try:
        lapse = max(int(dict(parse_qsl(urlsplit(u).query))["expires"]) for n, u in w.signed.items() if n != "claid.tmp")
        time.sleep(max(0.0, lapse + 1.05 - time.time()))
        for name, url in w.signed.items():
            if name == "claid.tmp":  # lives 2 x 24 h x time scale: sign one that lapsed instead
                url = sb.storage_url + sb.ctx.signer.sign("GET", urlsplit(url).path, -5)
            data, ct = UPLOADS.get(name, (b"", ""))
            r = w.http.request("PUT" if data else "GET", url, content=data, headers={"Content-Type": ct} if ct else {})
            assert "expired" in message(refused(r, name.split(".")[0], 403)), name
            count("signatures")
        with httpx.Client(base_url=sb.base_url("claid"), headers=auth("claid")) as c:  # a lapsed URL as input
            body = refused(
                c.post("/image/edit/async", json={"input": w.signed["claid.object"], "operations": {}}),
                "claid",
                400,
                "4000",
            )
            assert "no longer valid" in body["error_message"]
    finally:
        w.close()


# -- path traversal ---------------------------------------------------------------------------------------
def test_path_traversal_in_file_names_and_storage_paths(world, tmp_path_factory):
    sb, root = world.sb, tmp_path_factory.getbasetemp()
    key = sb.config.data_dir.joinpath("signing.key").read_bytes()
    evil = ["../../../../escape-1.jpg", "..\\..\\escape-2.jpg", "/tmp/escape-3.jpg", "a/../../escape-4.jpg"]
    with world.client("animaldetect") as c:
        for name in evil:
            job = c.post("/jobs", json={"operation": "detect", "filename": name, "content_type": "image/jpeg"}).json()
            r = world.http.put(job["upload"]["url"], content=JPEG, headers={"Content-Type": "image/jpeg"})
            assert r.status_code == 200, r.text
    with world.client("authenta") as c:
        slot = {"contentType": "image/jpeg", "sizeBytes": len(JPEG)}
        for name in evil:
            job = c.post("/jobs?taskTypeId=1", json={"inputs": [{**slot, "fileName": name, "slotName": "original"}]})
            assert (
                world.http.put(
                    job.json()["inputs"][0]["uploadUrl"], content=JPEG, headers={"Content-Type": "image/jpeg"}
                ).status_code
                == 200
            )
            refused(
                c.post("/jobs?taskTypeId=1", json={"inputs": [{**slot, "fileName": "a", "slotName": name}]}),
                "authenta",
                400,
                "VALIDATION_ERROR",
            )
    with world.client("faces") as c:
        r = c.post(
            f"/collections/{DEFAULT_COLLECTION}/faces/batch-async",
            files=[("images", (n, JPEG, "image/jpeg")) for n in evil],
            data={"external_ids[]": evil},
        )
        assert r.status_code == 202, r.text
    with world.client("claid") as c:
        for name in evil:
            stored = c.post("/storage/upload", files={"file": (name, JPEG, "image/jpeg")}).json()["data"]
            assert ".." not in stored["input"].split("/") and "\\" not in stored["input"]
            assert c.post("/image/edit/async", json={"input": stored["input"], "operations": {}}).status_code == 200
        literal = ["storage://sandbox/%2e%2e/signing.key", "storage://sandbox/..\\signing.key"]  # names, not paths
        for bad in [
            "storage://sandbox/../signing.key",
            "storage://sandbox/uploads/../../signing.key",
            "storage://sandbox//signing.key",
            "storage://sandbox/./x",
            "storage://sandbox/",
            "storage://other/signing.key",
            "storage://../signing.key",
            "storage:///signing.key",
            *literal,
        ]:
            refused(c.post("/image/edit/async", json={"input": bad, "operations": {}}), "claid", 400, "4000")
            dest = {"input": world.claid_input, "operations": {}, "output": {"destination": bad}}
            r = c.post("/image/edit/async", json=dest)
            if bad in literal:  # a legal object name: written inside the tenant's storage
                assert r.status_code == 200, r.text
            else:
                refused(r, "claid", 400, "4000")
            count("traversal", 2)
    count("traversal", 4 * 4 + 1)

    # URL paths: raw dot segments and encoded slashes never reach a file or another route
    tenant = sb.tenant("claid").id
    cases = [
        "/animaldetect/v1/jobs/..%2F..%2F..%2F__sandbox__%2Fstats",
        "/animaldetect/v1/../../__sandbox__/stats",
        f"/storage/claid/objects/{tenant}/..%2F..%2F..%2Fsigning.key?expires=9999999999&sig=00",
        "/storage/sateais/%2E%2E/result.geojson?expires=9999999999&sig=00",
    ]
    # ... and, supposing a signature could be had, the store still keeps to its own files (404, not 403)
    signed = [
        sb.ctx.signer.sign("GET", p, 60)
        for p in (f"/storage/claid/objects/{tenant}/../../../signing.key", "/storage/sateais/../result.geojson")
    ]
    cases += [u.replace("/../../../", "/..%2F..%2F..%2F").replace("/../", "/%2E%2E/") for u in signed]
    for i, path in enumerate(cases):
        hdr = "" if path.startswith("/storage/") else f"Authorization: {auth('animaldetect')['Authorization']}\r\n"
        status, body = raw(sb, f"GET {path} HTTP/1.1\r\nHost: x\r\n{hdr}Connection: close\r\n\r\n".encode())
        if i >= len(cases) - 2:  # the handler ran (its own not-found message) and found nothing
            assert status == 404 and (b"Object not found" in body or b"does not exist" in body), (path, body)
        assert status in (403, 404), (path, status, body[:200])
        assert key not in body and key.hex().encode() not in body and b"jobs_per_input_digest" not in body
        count("traversal")
    assert not [p for p in [*root.rglob("escape-*"), *Path("/tmp").glob("escape-*")]], "a file escaped"


# -- Claid never fetches from elsewhere ----------------------------------------------------------------------
def test_claid_inputs_pointing_at_other_hosts_or_schemes(world):
    sb = world.sb
    decoy = ThreadingHTTPServer(("127.0.0.1", 0), Decoy)
    threading.Thread(target=decoy.serve_forever, daemon=True).start()
    d, p, s = decoy.server_address[1], sb.port, sb.storage_port
    with world.client("claid") as c:
        own = c.post("/storage/upload", files={"file": ("o.jpg", JPEG, "image/jpeg")}).json()["data"]["url"]
    own_path = own.split(str(s), 1)[1]  # signed URLs live on the storage origin
    inputs = [
        "file:///etc/passwd",
        "file://localhost/etc/hostname",
        f"file://{sb.config.data_dir}/signing.key",
        "ftp://127.0.0.1/x.jpg",
        f"gopher://127.0.0.1:{d}/_GET",
        "data:image/jpeg;base64,/9j/4AAQ",
        "javascript:1",
        f"http://127.0.0.1:{d}/x.jpg",
        f"http://localhost:{d}/x.jpg",
        f"http://[::1]:{d}/x.jpg",
        f"http://0x7f000001:{d}/x.jpg",
        f"http://2130706433:{d}/x.jpg",
        f"http://127.1:{d}/x.jpg",
        f"http://127.0.0.1:{s}@127.0.0.1:{d}/x.jpg",
        f"http://127.0.0.1:{d}#@127.0.0.1:{s}/x.jpg",
        f"http://127.0.0.1:{d}/?@127.0.0.1:{s}/",
        f"http://127.0.0.1:{d}{own_path}",  # a real signature, other port
        f"http://localhost:{s}{own_path}",
        f"http://127.0.0.1:{p}{own_path}",  # a real signature on the API's origin
        f"https://example.org{own_path}",
        f"http://127.0.0.1:99999{own_path}",
        f"http://127.0.0.1:{p}/__sandbox__/stats",
        f"http://127.0.0.1:{s}/storage/claid/objects/x/y",
        world.signed["sateais.result"],
        world.signed["authenta.artifact"],
        f"//127.0.0.1:{d}/x.jpg",
        f" http://127.0.0.1:{d}/x.jpg",
        f"HTTP://127.0.0.1:{d}/x.jpg",
        f"http://127.0.0.1:{d}/x.jpg\r\nHost: y",
    ]
    before = jobs_created(sb)
    try:
        with world.client("claid") as c:
            for value in inputs:
                refused(c.post("/image/edit/async", json={"input": value, "operations": {}}), "claid", 400, "4000")
                count("claid_inputs")
            refused(
                c.post("/image/edit/async", json={"input": "http://x/" + "a" * 4100, "operations": {}}),
                "claid",
                422,
                "9000",
            )
            assert c.post("/image/edit/async", json={"input": own, "operations": {}}).status_code == 200
    finally:
        decoy.shutdown()
    assert Decoy.hits == 0, "the sandbox made an outgoing request"
    assert jobs_created(sb) == before + 1  # only the control


# -- sizes and malformed bodies ----------------------------------------------------------------------------
JSON_ROUTES = [
    ("animaldetect", "/jobs"),
    ("sateais", "/analyze/ship"),
    ("sateais", "/detect/ship"),
    ("sateais", "/analyze/ship/preview"),
    ("authenta", "/jobs?taskTypeId=1"),
    ("claid", "/image/edit/async"),
]


def test_oversized_bodies_get_413(world):
    sb, before = world.sb, jobs_created(world.sb)
    code = {"claid": "9000"}
    for provider, path in JSON_ROUTES:
        with world.client(provider) as c:
            big = b'{"pad":"' + b"x" * MiB + b'"}'
            refused(
                c.post(path, content=big, headers={"Content-Type": "application/json"}),
                provider,
                413,
                code.get(provider, "PAYLOAD_TOO_LARGE"),
            )
            chunks = (b" " * 65536 for _ in range(17))  # no Content-Length: counted while read
            refused(c.post(path, content=chunks, headers={"Content-Type": "application/json"}), provider, 413)
            count("413", 2)
    with world.client("animaldetect") as c:
        job = c.post("/jobs", json={"operation": "detect", "filename": "b.jpg", "content_type": "image/jpeg"}).json()
        put = lambda body: world.http.put(job["upload"]["url"], content=body, headers={"Content-Type": "image/jpeg"})
        refused(put(JPEG + b"\0" * (10 * MiB + 1 - len(JPEG))), "animaldetect", 413, "PAYLOAD_TOO_LARGE")
        refused(c.post(job["submit_url"]), "animaldetect", 409, "UPLOAD_MISSING")  # nothing was stored
        assert put(JPEG + b"\0" * (10 * MiB - len(JPEG))).status_code == 200  # exactly the limit is fine
    with world.client("claid") as c:
        big = JPEG + b"\0" * (25 * MiB + 100 * 1024)
        refused(c.post("/storage/upload", files={"file": ("big.jpg", big, "image/jpeg")}), "claid", 413)
        form = multipart([b'Content-Disposition: form-data; name="file"; filename="b.jpg"\r\n\r\n' + big])
        chunks = (form[i : i + MiB] for i in range(0, len(form), MiB))  # the route's parser gives up: still 413
        form_type = {"Content-Type": "multipart/form-data; boundary=B0UND"}
        refused(c.post("/storage/upload", content=chunks, headers=form_type), "claid", 413)
    # a declared length past the cap is refused before a byte of the body is read
    for path, headers in (
        (
            f"/faces/api/v1/collections/{DEFAULT_COLLECTION}/faces/batch-async",
            f"X-API-Key: {auth('faces')['X-API-Key']}\r\nContent-Type: multipart/form-data; boundary=b",
        ),
        ("/storage/authenta/jobs/1/original?expires=1&sig=0", "Content-Type: image/jpeg"),
    ):
        status, body = raw(
            sb,
            f"{'POST' if 'faces' in path else 'PUT'} {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n"
            f"Content-Length: {2**40}\r\nConnection: close\r\n\r\n".encode(),
        )
        assert status == 413 and b"PAYLOAD_TOO_LARGE" in body, body
    count("413", 6)
    assert jobs_created(sb) == before + 1  # the animaldetect job above
    assert httpx.get(sb.url + "/__sandbox__/health").status_code == 200


MALFORMED = [
    b"{bad",
    b'{"a": 1',
    b"\xff\xfe\x00",
    b"[" * 5000,
    b'{"a":' * 5000,
    b"NaN",
    b'{"x": NaN}',
    b'{"x": -Infinity}',
    b'{"x": 1e999}',
    b"",
    b"null",
    b"[]",
    b'"s"',
    b"1" * 5000,
    b'{"x": "\\ud800"}',
    b'{"inputs": "\\udfff"}',
    b'{"a": 1} trailing',
    b"\x00" * 16,
    b'{"a": 1, "a": 2}',
    '{"é": 1}'.encode("latin-1"),
]


def test_malformed_json_is_a_clean_error(world):
    """Broken JSON on every JSON route: 400 (Claid 400/422) in the provider's envelope, never a 5xx, no job."""
    sb, before = world.sb, jobs_created(world.sb)
    for provider, path in JSON_ROUTES:
        with world.client(provider) as c:
            for body in MALFORMED:
                for ct in ("application/json", "text/plain"):
                    r = c.post(path, content=body, headers={"Content-Type": ct})
                    refused(r, provider, 422 if r.status_code == 422 and provider == "claid" else 400)
                    count("json")
    assert jobs_created(sb) == before


def test_malformed_multipart_is_a_clean_error(world):
    """Broken multipart on both multipart routes (faces batch, Claid upload): 400/422, never a 5xx, no job."""
    sb, before = world.sb, jobs_created(world.sb)
    mp = "multipart/form-data; boundary=B0UND"
    for field, url, headers in (
        ("images", f"/faces/api/v1/collections/{DEFAULT_COLLECTION}/faces/batch-async", auth("faces")),
        ("file", "/claid/v1/storage/upload", auth("claid")),
    ):
        image = (
            b'Content-Disposition: form-data; name="%s"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
            % field.encode()
            + JPEG
        )
        ident = b'Content-Disposition: form-data; name="external_ids[]"\r\n\r\ne1'
        bodies = [
            (mp, multipart([ident, image])[:1500]),  # truncated inside the file: the partial file is dropped
            (mp, multipart([image, ident], b"OTHER")),  # a boundary other than the declared one
            ("multipart/form-data", multipart([image, ident])),
            ("multipart/form-data; boundary=", multipart([image])),
            (mp, b"not multipart at all"),
            (mp, b""),
            (mp, multipart([b"Garbage-Header\r\n\r\nx"])),
            (mp, multipart([b"Content-Disposition: form-data\r\n\r\nx", ident])),  # a part without a name
            (mp, multipart([b'Content-Disposition: form-data; name="%s"\r\n\r\nnot a file' % field.encode(), ident])),
            (mp, multipart([ident] * 1001)),  # more parts than the parser takes
            ("application/x-www-form-urlencoded", b"%s=1&external_ids[]=2" % field.encode()),
            ("application/json", b'{"%s": [], "external_ids[]": []}' % field.encode()),
        ]
        if field == "images":
            bodies.append((mp, multipart([image] * 101 + [ident] * 101)))  # more than 100 images
        for ct, body in bodies:
            r = world.http.post(sb.url + url, content=body, headers={**headers, "Content-Type": ct})
            assert r.status_code in (400, 422), (url, body[:80], r.text)
            body = refused(r, url.split("/")[1], r.status_code, "9000" if field == "file" else None)
            assert field == "file" or body["error"]["code"] in ("VALIDATION_ERROR", "BATCH_TOO_LARGE"), body
            count("multipart")
        ok = world.http.post(sb.url + url, content=multipart([image, ident]), headers={**headers, "Content-Type": mp})
        assert ok.status_code in (200, 202), ok.text  # the hand-made multipart is well-formed when not broken
    assert jobs_created(sb) == before + 1  # that last faces batch
    # a CR LF smuggled into a file name ends the header line: the rest is a header of its own, never a path
    injected = multipart([image.replace(b"a.jpg", b"a\r\nX-Evil: ../../escape.jpg")])
    r = world.http.post(
        sb.url + "/claid/v1/storage/upload", content=injected, headers={**auth("claid"), "Content-Type": mp}
    )
    assert r.status_code == 200 and r.json()["data"]["input"].endswith("/_a"), r.text


# -- control routes and slow clients (issue 21, item 9) ----------------------------------------------------
@pytest.mark.parametrize("route", ["/__sandbox__/faults", "/__sandbox__/credits"])
def test_control_routes_refuse_bodies_over_their_limit_declared_or_chunked(sandbox, route):
    from toolkit.sandbox.limits import CONTROL_BODY_LIMIT

    big = b'{"spec": "' + b"x" * (CONTROL_BODY_LIMIT + 10) + b'"}'
    r = httpx.put(sandbox.url + route, content=big, timeout=30)
    assert r.status_code == 413, r.text
    chunks = iter([big[i : i + 8192] for i in range(0, len(big), 8192)])
    r = httpx.put(sandbox.url + route, content=chunks, timeout=30)  # no Content-Length: counted as it comes
    assert r.status_code == 413, r.text
    r = httpx.put(sandbox.url + "/__sandbox__/faults", json={"spec": ""}, timeout=30)
    assert r.status_code == 200, r.text  # a normal body still works


def test_slow_clients_are_cut_off_at_the_head_deadline_and_normal_requests_go_on(sandbox, monkeypatch):
    """300 connections that open and trickle a request head never complete it: each is closed once the head
    deadline passes, and normal requests are answered meanwhile."""
    import socket

    from toolkit.sandbox import limits

    monkeypatch.setattr(limits, "HEADER_TIMEOUT", 1.0)
    slow = []
    for i in range(300):
        s = socket.create_connection(("127.0.0.1", sandbox.port), timeout=30)
        if i % 2:  # half send part of a head, half nothing at all
            s.sendall(b"GET /__sandbox__/health HTTP/1.1\r\nHost: x\r\n")
        slow.append(s)
    try:
        for _ in range(5):
            assert httpx.get(sandbox.url + "/__sandbox__/health", timeout=10).status_code == 200
        deadline = time.monotonic() + 60
        for s in slow:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            assert s.recv(1024) == b""  # closed by the server, not by this test's timeout
    finally:
        for s in slow:
            s.close()
    assert httpx.get(sandbox.url + "/__sandbox__/health", timeout=10).status_code == 200
