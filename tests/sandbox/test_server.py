"""The sandbox as a server: start-up time, restart durability, the CLI process, stats and faults."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from tests.helpers import api, scene_image, stats
from toolkit.sandbox import Sandbox, SandboxConfig

CREATE = {"operation": "detect", "filename": "a.jpg", "content_type": "image/jpeg"}


def _submit(c: httpx.Client, image: bytes) -> dict:
    job = c.post("/jobs", json=CREATE).json()
    assert httpx.put(job["upload"]["url"], content=image, headers={"Content-Type": "image/jpeg"}).status_code == 200
    assert c.post(job["submit_url"]).status_code == 202
    return job


def test_in_process_server_starts_fast_and_stops_cleanly(tmp_path: Path):
    import toolkit.sandbox.app  # noqa: F401  (imports are paid once per process, not per start)

    t0 = time.perf_counter()
    sb = Sandbox(SandboxConfig(port=0, data_dir=tmp_path / "sb")).start()
    elapsed = time.perf_counter() - t0
    port = sb.port
    assert httpx.get(sb.url + "/__sandbox__/health").json()["sandbox"] is True
    sb.stop()
    assert elapsed < 0.5, f"start took {elapsed:.3f}s"
    with socket.socket() as s:  # the port is free again
        s.bind(("127.0.0.1", port))


def test_restart_mid_jobs_loses_nothing(tmp_path: Path):
    cfg = dict(port=0, data_dir=tmp_path / "sb", runtimes={"animaldetect": 1.5}, runtime_spread=0.1)
    sb = Sandbox(SandboxConfig(**cfg)).start()
    with api(sb, "animaldetect") as c:
        jobs = [_submit(c, scene_image(i)) for i in range(6)]
        created_only = c.post("/jobs", json=CREATE).json()  # created but not yet uploaded
    time.sleep(0.3)
    sb.stop()  # jobs are queued or processing now

    sb2 = Sandbox(SandboxConfig(**cfg)).start()
    with api(sb2, "animaldetect") as c:
        rebased = [urlsplit(j["result_url"]).path.removeprefix("/animaldetect/v1") for j in jobs]
        deadline = time.monotonic() + 20
        results = {}
        while len(results) < len(jobs) and time.monotonic() < deadline:
            for url in rebased:
                if url not in results:
                    r = c.get(url)
                    if r.status_code == 200:
                        results[url] = r.json()
            time.sleep(0.05)
        assert len(results) == len(jobs), "a job was lost across the restart"
        assert all("annotations" in r for r in results.values())
        # the upload URL issued before the restart works as issued: the signing key and the storage port are durable
        url = created_only["upload"]["url"]
        assert urlsplit(url).port == sb2.storage_port != sb2.port
        assert httpx.put(url, content=scene_image(9), headers={"Content-Type": "image/jpeg"}).status_code == 200
    tenant = stats(sb2)["providers"]["animaldetect"]["tenants"][sb2.tenant("animaldetect").id]
    assert tenant["jobs"]["created"] == 7
    sb2.stop()


def test_cli_process_serves_and_stops_on_sigterm(tmp_path: Path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "toolkit",
            "sandbox",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "d"),
            "--time-scale",
            "0.001",
            "--key",
            "animaldetect:sk_cli",
            "--key",
            "faces:fr_x@acme/staff",
            "--seed",
            "7",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/__sandbox__/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        base = f"http://127.0.0.1:{port}/animaldetect/v1"
        ok = httpx.post(base + "/jobs", json=CREATE, headers={"Authorization": "Bearer sk_cli"})
        demo = httpx.post(base + "/jobs", json=CREATE, headers={"Authorization": "Bearer sk_sandbox_animaldetect"})
        assert ok.status_code == 201 and demo.status_code == 401  # --key replaces the demo keys
        storage = httpx.get(f"http://127.0.0.1:{port}/__sandbox__/health").json()["storage"]
        assert ok.json()["upload"]["url"].startswith(storage + "/storage/animaldetect/")
        assert urlsplit(storage).port != port and (tmp_path / "d" / "storage.port").read_text() == str(
            urlsplit(storage).port
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    assert proc.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM after a graceful shutdown
    assert f"http://127.0.0.1:{port}/animaldetect/v1" in out
    assert (tmp_path / "d" / "sandbox.sqlite3").exists()


def test_signed_urls_live_on_their_own_origin(make_sandbox):
    """Storage is a second listener, as S3 is another host: each origin serves only its own routes, so a client
    that follows a signed URL drops its key, and a key sent there anyway is counted as the leak it is."""
    sb = make_sandbox()
    assert sb.storage_port not in (None, sb.port) and sb.storage_url == f"http://127.0.0.1:{sb.storage_port}"
    assert httpx.get(sb.url + "/__sandbox__/health").json()["storage"] == sb.storage_url
    with api(sb, "animaldetect") as c:
        job = c.post("/jobs", json=CREATE).json()
        url = job["upload"]["url"]
        assert url.startswith(sb.storage_url + "/storage/animaldetect/")
        on_api = url.replace(sb.storage_url, sb.url)  # the same signed path on the API's origin: not served
        r = httpx.put(on_api, content=scene_image(1), headers={"Content-Type": "image/jpeg"})
        assert r.status_code == 404 and r.json()["error"]["code"] == "JOB_NOT_FOUND"
        assert httpx.get(sb.storage_url + "/animaldetect/v1/jobs", headers=c.headers).status_code == 404
        assert httpx.get(sb.storage_url + "/__sandbox__/stats").status_code == 404
        assert stats(sb)["providers"]["animaldetect"]["auth_on_signed_urls"] == 0
        leak = httpx.put(url, content=scene_image(1), headers={"Content-Type": "image/jpeg", **c.headers})
        assert leak.status_code == 200  # served, and counted: a key on another origin is a real leak
    assert stats(sb)["providers"]["animaldetect"]["auth_on_signed_urls"] == 1
    doc = httpx.get(sb.url + "/openapi.json").json()
    assert doc["paths"]["/storage/animaldetect/{job_id}/image"]["put"]["servers"][0]["url"] == sb.storage_url


def test_cli_rejects_bad_options():
    r = subprocess.run(
        [sys.executable, "-m", "toolkit", "sandbox", "--faults", "5xx=2"], capture_output=True, text=True
    )
    assert r.returncode != 0 and "probability" in r.stderr
    r = subprocess.run([sys.executable, "-m", "toolkit", "sandbox", "--key", "nope:k"], capture_output=True, text=True)
    assert r.returncode != 0 and "PROVIDER:KEY" in r.stderr


def test_injected_faults_are_counted_and_deterministic(make_sandbox):
    def run(sb: Sandbox) -> list[int]:
        with api(sb, "animaldetect") as c:
            codes = []
            for _ in range(60):
                try:
                    codes.append(c.get("/jobs/nope").status_code)
                except httpx.TransportError:
                    codes.append(-1)
            return codes

    spec = {"animaldetect": {"5xx": 0.2, "429": 0.2, "drop": 0.1}}
    a = make_sandbox(faults=spec, seed=3)
    b = make_sandbox(faults=spec, seed=3)
    codes_a, codes_b = run(a), run(b)
    assert codes_a == codes_b
    assert {503, 429, -1, 404} <= set(codes_a)
    faults = stats(a)["providers"]["animaldetect"]["faults"]
    assert faults["5xx"] == codes_a.count(503) and faults["drop"] == codes_a.count(-1)
    # switched off at run time
    assert httpx.put(a.url + "/__sandbox__/faults", json={"spec": ""}).status_code == 200
    assert set(run(a)) == {404}


def test_stats_and_openapi(sandbox):
    with api(sandbox, "animaldetect") as c:
        c.get("/jobs/unknown")
    s = stats(sandbox)
    reqs = s["providers"]["animaldetect"]["tenants"][sandbox.tenant("animaldetect").id]["requests"]
    assert reqs["GET /jobs/{job_id}"] == {"404": 1}
    doc = httpx.get(sandbox.url + "/openapi.json").json()
    assert "/animaldetect/v1/jobs" in doc["paths"]


def test_a_405_allows_every_method_of_the_path(sandbox):
    """RFC 9110: ``Allow`` lists every method the path has (Authenta's ``/jobs`` has GET and POST, in two
    routes: Starlette alone names the first route's only), for OPTIONS and any other method it lacks."""
    from tests.reliability import auth, fill

    doc = httpx.get(sandbox.url + "/openapi.json").json()
    for path, item in doc["paths"].items():
        provider = path.split("/")[2 if path.startswith("/storage/") else 1]
        listed = {m.upper() for m in item}
        origin = sandbox.storage_url if path.startswith("/storage/") else sandbox.url
        for method in sorted({"OPTIONS", "PATCH"} - listed):
            r = httpx.request(method, origin + fill(path), headers=auth(provider), timeout=10)
            assert r.status_code == 405, (method, path, r.status_code)
            allowed = {m.strip() for m in r.headers["allow"].split(",")}
            assert listed <= allowed <= listed | {"HEAD"}, (method, path, allowed)
