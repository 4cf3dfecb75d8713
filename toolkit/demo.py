"""``make demo``: start the embedded sandbox and walk one job of every provider through it, saying what happens.

Animal Detect goes through the toolkit's client layer (ledger, retries, polling); the other four are walked
over plain HTTP exactly as their public docs show, until their client adapters land.
"""

from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import httpx
import numpy as np
from PIL import Image, ImageDraw

from .sandbox import Sandbox, SandboxConfig
from .workspace import Workspace

HARBOUR_WKT = "POLYGON((139.74 35.60, 139.80 35.60, 139.80 35.64, 139.74 35.64, 139.74 35.60))"


def say(provider: str, message: str) -> None:
    print(f"  [{provider:<12}] {message}", flush=True)


def camera_image(seed: int = 1) -> bytes:
    """A synthetic camera-trap frame: a lit gradient, sensor noise, a fox-coloured animal and a person."""
    rng = np.random.default_rng(seed)
    base = np.linspace(60, 120, 640)[None, :, None] * np.ones((480, 1, 3)) + rng.normal(0, 6, (480, 640, 3))
    img = Image.fromarray(base.clip(0, 255).astype("uint8"))
    d = ImageDraw.Draw(img)
    d.ellipse((120, 260, 260, 340), fill=(190, 90, 30))
    d.rectangle((450, 120, 490, 250), fill=(30, 30, 30))
    buf = io.BytesIO()
    img.save(buf, "JPEG")
    return buf.getvalue()


def poll(fetch: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool], timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = fetch()
        if done(body) or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


def animaldetect(ws: Workspace, folder: Path) -> None:
    (folder / "camera-a-0001.jpg").write_bytes(camera_image(1))
    batch = ws.animaldetect.detect(folder, threshold=0.3)
    say("animaldetect", f"submitted {len(batch)} image(s) as batch {batch.id}")
    batch.wait(timeout=60, progress=False)
    for r in batch.raw():
        labels = ", ".join(f"{a['label']} {a['score']:.2f}" for a in r["result"]["annotations"])
        say("animaldetect", f"job {r['job_id'][:8]}…: {len(r['result']['annotations'])} detections ({labels})")
    say("animaldetect", f"HTTP requests: {ws.animaldetect.transport.requests}; re-running the same call sends none")


def sateais(sb: Sandbox) -> None:
    with httpx.Client(base_url=sb.base_url("sateais"), headers={"Authorization": f"Bearer {sb.key('sateais')}"}) as c:
        job = c.post("/analyze/ship", json={"satellite_id": "sentinel-1", "polygon": HARBOUR_WKT,
                                            "date": "2026-06-15"}).json()
        say("sateais", f"ship detection job {job['job_id'][:8]}… {job['status']}")
        job = poll(lambda: c.get(f"/jobs/{job['job_id']}").json(), lambda b: b["status"] in ("completed", "failed"))
        r = c.get(f"/jobs/{job['job_id']}/result.geojson")
        say("sateais", f"{job['status']}; result.geojson -> {r.status_code} to signed storage")
        fc = httpx.get(r.headers["location"]).json()  # no Authorization on the pre-signed URL
        say("sateais", f"{len(fc['features'])} ship polygons in EPSG:4326")


def authenta(sb: Sandbox) -> None:
    image = camera_image(2)
    with httpx.Client(base_url=sb.base_url("authenta"), headers={"Authorization": f"Bearer {sb.key('authenta')}"}) as c:
        job = c.post("/jobs", params={"taskTypeId": 1}, json={"inputs": [
            {"contentType": "image/jpeg", "fileName": "frame", "sizeBytes": len(image), "slotName": "original"}]}).json()
        say("authenta", f"job {job['jobId']} {job['status']}; uploading to its signed URL")
        httpx.put(job["inputs"][0]["uploadUrl"], content=image, headers={"Content-Type": "image/jpeg"})
        c.post(f"/jobs/{job['jobId']}/finalize")
        job = poll(lambda: c.get(f"/jobs/{job['jobId']}").json(), lambda b: b["status"] in ("completed", "failed"))
        res = job.get("result") or {}
        say("authenta", f"{job['status']}: isFake={res.get('isFake')} fake confidence {res.get('fakeConfidencePercent')}%")


def claid(sb: Sandbox) -> None:
    with httpx.Client(base_url=sb.base_url("claid"), headers={"Authorization": f"Bearer {sb.key('claid')}"}) as c:
        up = c.post("/storage/upload", files={"file": ("product.jpg", camera_image(3), "image/jpeg")}).json()["data"]
        task = c.post("/image/edit/async", json={"input": up["input"], "operations": {
            "resizing": {"width": 400, "height": 400, "fit": "crop"}}, "output": {"format": "png"}}).json()["data"]
        say("claid", f"task {task['id']} {task['status']}")
        task = poll(lambda: c.get(task["result_url"]).json()["data"], lambda d: d["status"] in ("DONE", "ERROR"))
        out = task["result"]["output_object"]
        img = Image.open(io.BytesIO(httpx.get(out["tmp_url"]).content))
        say("claid", f"{task['status']}: {task['result']['input_object']['width']}x"
                     f"{task['result']['input_object']['height']} -> {img.width}x{img.height} {img.format}")


def faces(sb: Sandbox) -> None:
    from .sandbox.engines.faces import synthetic_faces

    t = sb.tenant("faces")
    pictures = synthetic_faces(3, seed=1) + [camera_image(4)]
    files = [("images", (f"p{i}.png", b, "application/octet-stream")) for i, b in enumerate(pictures)]
    data = {"external_ids[]": [f"employee-{i:03d}" for i in range(len(pictures))]}
    with httpx.Client(base_url=sb.base_url("faces"), headers={"X-API-Key": sb.key("faces")}) as c:
        job = c.post(f"/collections/{t.collection}/faces/batch-async", files=files, data=data).json()["data"]
        say("faces", f"batch job {job['job_id'][:8]}… {job['status']} with {job['total']} images")
        job = poll(lambda: c.get(f"/organizations/{t.org}/batch/{job['job_id']}").json()["data"],
                   lambda d: d["status"] in ("done", "failed"))
        for item in job.get("results", []):
            outcome = f"face {item['face_id']}" if item["success"] else f"{item['error']['code']}"
            say("faces", f"{item['external_id']}: {outcome}")


def main() -> int:
    print("toolkit demo: one job of every provider through the embedded sandbox\n", flush=True)
    root = Path(tempfile.mkdtemp(prefix="toolkit-demo-"))
    with Sandbox(SandboxConfig(port=0, data_dir=root / "sandbox", time_scale=0.002)) as sb:
        print(f"sandbox on {sb.url} (time scale 0.002: a 15-minute ship job takes about 2 s)\n", flush=True)
        ws = Workspace(root / "workspace", sandbox=sb, quiet=True)
        folder = root / "camera_traps"
        folder.mkdir()
        for name, step in (("animaldetect", lambda: animaldetect(ws, folder)), ("sateais", lambda: sateais(sb)),
                           ("authenta", lambda: authenta(sb)), ("claid", lambda: claid(sb)), ("faces", lambda: faces(sb))):
            t0 = time.perf_counter()
            step()
            say(name, f"done in {time.perf_counter() - t0:.1f} s\n")
    print(f"workspace and sandbox data: {root}")
    return 0
