"""Reliability tests (issue #8).

Shared by the sandbox hardening and fuzz tests: a "world", i.e. a sandbox with two tenants per provider
(``a`` = the demo keys, ``b`` = other keys, for faces in another organisation) where tenant ``a`` has, on every
provider, one finished job and (where the contract has drafts) one draft job, plus the signed URLs it was given.
Everything is driven over real HTTP. Also here: the assertions and request builders those tests share.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import jsonschema

from tests.helpers import scene_image, stats
from toolkit.sandbox import DEMO_KEYS, PROVIDERS, Sandbox, SandboxConfig, Tenant
from toolkit.sandbox.config import DEFAULT_COLLECTION, DEFAULT_ORG
from toolkit.sandbox.openapi import ENVELOPES

OTHER = {p: f"{k}_other" for p, k in DEMO_KEYS.items()}
OTHER_ORG = "other-org"
SAME_ORG_KEY = "fr_live_same_org"  # a faces key of tenant a's organisation, for another collection
SMALL_AOI = "POLYGON((0 0, 0.05 0, 0.05 0.05, 0 0.05, 0 0))"  # ~31 km²
JPEG = scene_image(1, size=(160, 120))


def tenants() -> list[Tenant]:
    """Tenant ``a`` (demo keys) and ``b`` on every provider, and a second faces key in ``a``'s organisation."""
    b = [Tenant(p, OTHER[p]) if p != "faces" else Tenant(p, OTHER[p], OTHER_ORG, "other-collection") for p in PROVIDERS]
    same_org = Tenant("faces", SAME_ORG_KEY, DEFAULT_ORG, "other-collection")
    return [*(Tenant(p, k) for p, k in DEMO_KEYS.items()), *b, same_org]


def start_sandbox(data_dir: Path, **options) -> Sandbox:
    """A sandbox with both tenants and no rate limits (requests must reach the handlers). Windows are 1/20 of
    the documented ones (a signed upload URL lives 3 min) while jobs take milliseconds."""
    options.setdefault("time_scale", 0.05)
    options.setdefault("runtimes", {p: 0.1 for p in PROVIDERS})
    return Sandbox(SandboxConfig(port=0, data_dir=data_dir, tenants=tenants(), rate_limits={}, **options)).start()


def auth(provider: str, tenant: str = "a") -> dict[str, str]:
    key = DEMO_KEYS[provider] if tenant == "a" else OTHER[provider]
    return {"X-API-Key": key} if provider == "faces" else {"Authorization": f"Bearer {key}"}


@dataclass
class World:
    sb: Sandbox
    done: dict[str, str] = field(default_factory=dict)  # provider -> a finished job of tenant a
    draft: dict[str, str] = field(default_factory=dict)  # provider -> a job awaiting upload / finalize
    signed: dict[str, str] = field(default_factory=dict)  # name -> a signed URL issued to tenant a
    claid_input: str = ""  # storage://sandbox/... uploaded by tenant a
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))  # no base URL, no key

    def close(self) -> None:
        self.http.close()
        self.sb.stop()

    def client(self, provider: str, tenant: str = "a") -> httpx.Client:
        return httpx.Client(base_url=self.sb.base_url(provider), headers=auth(provider, tenant), timeout=15)


def _until(get, done, what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = get()
        if done(value):
            return value
        time.sleep(0.02)
    raise AssertionError(f"{what} did not finish within {timeout} s")


def _ok(r: httpx.Response, status: int = 200) -> dict:
    assert r.status_code == status, (r.request.method, str(r.request.url), r.status_code, r.text)
    return r.json() if r.content else {}


def build_world(sb: Sandbox) -> World:
    """Tenant ``a`` runs one job to the end on every provider and leaves drafts; returns ids and URLs."""
    w = World(sb)
    with w.client("animaldetect") as c:
        create = {"operation": "detect", "filename": "cam.jpg", "content_type": "image/jpeg"}
        job = _ok(c.post("/jobs", json=create), 201)
        _ok(httpx.put(job["upload"]["url"], content=JPEG, headers={"Content-Type": "image/jpeg"}))
        _ok(c.post(job["submit_url"]), 202)
        w.done["animaldetect"] = job["job_id"]
        draft = _ok(c.post("/jobs", json=create), 201)
        w.draft["animaldetect"], w.signed["animaldetect.upload"] = draft["job_id"], draft["upload"]["url"]
    with w.client("authenta") as c:
        inputs = [{"contentType": "image/jpeg", "fileName": "a.jpg", "sizeBytes": len(JPEG), "slotName": "original"}]
        job = _ok(c.post("/jobs", params={"taskTypeId": 1}, json={"inputs": inputs}))
        _ok(httpx.put(job["inputs"][0]["uploadUrl"], content=JPEG, headers={"Content-Type": "image/jpeg"}))
        _ok(c.post(f"/jobs/{job['jobId']}/finalize"))
        w.done["authenta"] = str(job["jobId"])
        draft = _ok(c.post("/jobs", params={"taskTypeId": 1}, json={"inputs": inputs}))
        w.draft["authenta"], w.signed["authenta.upload"] = str(draft["jobId"]), draft["inputs"][0]["uploadUrl"]
    with w.client("sateais") as c:
        body = {"satellite_id": "sentinel-1", "polygon": SMALL_AOI, "date": "2024-06-01"}
        w.done["sateais"] = _ok(c.post("/analyze/ship", json=body), 202)["job_id"]
    with w.client("claid") as c:
        up = _ok(c.post("/storage/upload", files={"file": ("in.jpg", JPEG, "image/jpeg")}))["data"]
        w.claid_input, w.signed["claid.object"] = up["input"], up["url"]
        task = _ok(c.post("/image/edit/async", json={"input": up["input"], "operations": {}}))["data"]
        w.done["claid"] = str(task["id"])
    with w.client("faces") as c:
        files = [("images", ("p.jpg", JPEG, "image/jpeg"))]
        w.done["faces"] = _ok(
            c.post(
                f"/collections/{DEFAULT_COLLECTION}/faces/batch-async", files=files, data={"external_ids[]": ["e1"]}
            ),
            202,
        )["data"]["job_id"]

    # wait for every finished job and collect the signed download URLs
    with w.client("animaldetect") as c:
        _until(lambda: c.get(f"/jobs/{w.done['animaldetect']}/result"), lambda r: r.status_code == 200, "animaldetect")
    with w.client("authenta") as c:
        job = _until(
            lambda: c.get(f"/jobs/{w.done['authenta']}").json(), lambda j: j["status"] == "completed", "authenta"
        )
        w.signed["authenta.artifact"] = job["artifacts"][0]["downloadUrl"]
    with w.client("sateais") as c:
        _until(lambda: c.get(f"/jobs/{w.done['sateais']}").json(), lambda j: j["status"] == "completed", "sateais")
        w.signed["sateais.result"] = c.get(f"/jobs/{w.done['sateais']}/result.geojson").headers["location"]
    with w.client("claid") as c:
        task = _until(
            lambda: c.get(f"/image/edit/async/{w.done['claid']}").json()["data"],
            lambda t: t["status"] == "DONE",
            "claid",
        )
        w.signed["claid.tmp"] = task["result"]["output_object"]["tmp_url"]
    with w.client("faces") as c:
        _until(
            lambda: c.get(f"/organizations/{DEFAULT_ORG}/batch/{w.done['faces']}").json()["data"],
            lambda j: j["status"] == "done",
            "faces",
        )
    return w


# -- assertions and raw requests -------------------------------------------------------------------------
def refused(r: httpx.Response, provider: str, status: int, code: str | None = None) -> dict:
    """Assert an error answer: its status, the provider's envelope (as the OpenAPI document says), its code."""
    assert r.status_code == status, (r.request.method, str(r.request.url)[:160], r.status_code, r.text[:300])
    body = r.json()
    jsonschema.validate(body, ENVELOPES[provider])
    if code is not None:
        got = body.get("error_code") or body.get("code") or body["error"]["code"]
        assert got == code, body
    return body


def message(body: dict) -> str:
    return body.get("error_message") or body.get("message") or body["error"]["message"]


def jobs_created(sb) -> int:
    return sum(t["jobs"]["created"] for p in stats(sb)["providers"].values() for t in p["tenants"].values())


def raw(sb, request: bytes) -> tuple[int, bytes]:
    """Send bytes as they are (httpx would normalise ``..``) and read the answer until the server closes; a
    ``/storage/`` path goes to the storage listener (signed URLs have their own origin)."""
    port = sb.storage_port if request.split(b" ", 2)[1].startswith(b"/storage/") else sb.port
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def multipart(parts: list[bytes], boundary: bytes = b"B0UND") -> bytes:
    return b"".join(b"--" + boundary + b"\r\n" + p + b"\r\n" for p in parts) + b"--" + boundary + b"--\r\n"


# -- requests to build ----------------------------------------------------------------------------------
def api_ops(sb) -> list[tuple[str, str, str]]:
    """(provider, METHOD, path) of every keyed route of the live OpenAPI document."""
    doc = httpx.get(sb.url + "/openapi.json").json()
    return [
        (path.split("/")[1], m.upper(), path)
        for path, item in doc["paths"].items()
        for m, op in item.items()
        if op["security"]
    ]


def fill(path: str, job_id: str = "0", org: str = DEFAULT_ORG) -> str:
    for name, value in (
        ("job_id", job_id),
        ("task_id", job_id),
        ("org_id", org),
        ("collection_id", DEFAULT_COLLECTION),
        ("type", "ship"),
        ("slot", "original"),
        ("tenant_id", "t_0"),
        ("path", "a/b"),
        ("name", "o"),
    ):
        path = path.replace("{" + name + "}", value)
    return path


def with_query(url: str, path: str | None = None, **query) -> str:
    """``url`` with another path and/or query values (None: drop that parameter)."""
    parts = urlsplit(url)
    q = dict(parse_qsl(parts.query, keep_blank_values=True))
    q.update({k: v for k, v in query.items() if v is not None})
    for k in [k for k, v in query.items() if v is None]:
        q.pop(k, None)
    return parts._replace(path=path or parts.path, query=urlencode(q)).geturl()


class Decoy(BaseHTTPRequestHandler):
    """A server on another port that Claid inputs point at; it counts every request it gets."""

    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.end_headers()
        self.wfile.write(JPEG)

    def log_message(self, *_) -> None:
        pass
