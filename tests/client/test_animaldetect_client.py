"""Client layer against the real sandbox: exactly-once under faults, preflight, zero-request re-runs, kill -9."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import scene_image, stats
from toolkit.client.model import PreflightError, Status
from toolkit.sandbox import Sandbox
from toolkit.workspace import Workspace


def write_images(folder: Path, n: int, start: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + n):
        (folder / f"cam-{i:03d}.jpg").write_bytes(scene_image(i, size=(320, 240)))
    return folder


def digests_of(sb: Sandbox) -> dict:
    return stats(sb)["providers"]["animaldetect"]["tenants"][sb.tenant("animaldetect").id]


def test_every_input_becomes_exactly_one_job_under_faults(make_sandbox, tmp_path):
    sb = make_sandbox(faults={"animaldetect": {"5xx": 0.1, "429": 0.05, "drop": 0.02, "fail": 0.05}}, seed=11)
    images = write_images(tmp_path / "imgs", 40)
    ws = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    batch = ws.animaldetect.detect(images).wait(timeout=120)
    counts = batch.status_counts()
    assert counts["succeeded"] + counts["failed"] == 40
    assert counts["failed"] >= 1  # injected job failures are recorded, with the provider's code
    assert all(j.error_code for j in batch._failed_jobs())
    tenant = digests_of(sb)
    assert len(tenant["jobs_per_input_digest"]) == 40
    assert set(tenant["jobs_per_input_digest"].values()) == {1}
    assert set(tenant["jobs_per_idempotency_key"].values()) == {1}
    assert tenant["jobs"]["created"] == 40
    assert len(batch.raw()) == counts["succeeded"]
    faults = stats(sb)["providers"]["animaldetect"]["faults"]
    assert faults.get("5xx", 0) > 0 and faults.get("429", 0) > 0


def test_rerun_of_finished_batch_makes_no_request(sandbox, tmp_path):
    images = write_images(tmp_path / "imgs", 5)
    ws = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    first = ws.animaldetect.detect(images).wait(timeout=60)
    assert first.status_counts()["succeeded"] == 5
    sent = ws.animaldetect.transport.requests
    # a new workspace object on the same folder, as after a kernel restart
    ws2 = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    again = ws2.animaldetect.detect(images).wait(timeout=10)
    assert ws2.animaldetect.transport.requests == 0 and ws.animaldetect.transport.requests == sent
    assert again.id == first.id and [r["result"] for r in again.raw()] == [r["result"] for r in first.raw()]
    forced = ws2.animaldetect.detect(images, force=True).wait(timeout=60)
    assert forced.id != first.id and ws2.animaldetect.transport.requests > 0
    assert digests_of(sandbox)["jobs"]["created"] == 10


def test_preflight_names_each_bad_input_and_sends_nothing(sandbox, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.jpg").write_bytes(b"")
    (bad / "text.jpg").write_text("this is not an image")
    (bad / "truncated.jpg").write_bytes(scene_image(1)[:2000])
    (bad / "huge.jpg").write_bytes(b"\xff\xd8\xff" + bytes(11 * 1024 * 1024))
    empty_dir = tmp_path / "nothing"
    empty_dir.mkdir()
    ws = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    with pytest.raises(PreflightError) as raised:  # every input refused: raised, each one in .rejected
        ws.animaldetect.detect([bad, tmp_path / "missing.jpg", empty_dir])
    b = raised.value
    reasons = {Path(e.input).name: e.message for e in b.rejected}
    assert reasons == {
        "empty.jpg": "the file is empty",
        "text.jpg": "the content is not a recognised media file (magic bytes)",
        "truncated.jpg": reasons["truncated.jpg"],
        "huge.jpg": "the file is 11.5 MB; animaldetect accepts at most 10 MB",
        "missing.jpg": "no such file or folder",
        "nothing": "no images (.jpeg/.jpg/.png/.webp) in folder (it is empty)",
    }
    assert "cannot be decoded" in reasons["truncated.jpg"]
    assert all("not sent to animaldetect" in str(e) for e in b.rejected)
    assert ws.animaldetect.transport.requests == 0 and ws.jobs().empty
    assert "animaldetect" not in stats(sandbox)["providers"]


def test_png_named_jpg_is_sent_as_png_and_bad_item_does_not_sink_batch(sandbox, tmp_path):
    folder = write_images(tmp_path / "imgs", 2)
    (folder / "really-a-png.jpg").write_bytes(scene_image(7, fmt="PNG"))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 nope")
    ws = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    b = ws.animaldetect.detect(folder).wait(timeout=60)
    assert b.status_counts()["succeeded"] == 3 and [Path(e.input).name for e in b.rejected] == ["broken.jpg"]
    png = next(j for j in b.jobs if j.input.endswith("really-a-png.jpg"))
    assert png.meta["content_type"] == "image/png"


def test_invalid_options_raise_before_anything_is_sent(sandbox, tmp_path):
    ws = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    with pytest.raises(ValueError, match="threshold=1.5"):
        ws.animaldetect.detect(tmp_path, threshold=1.5)
    assert ws.animaldetect.transport.requests == 0


def test_keys_never_appear_in_reprs_errors_or_ledger(make_sandbox, tmp_path):
    from toolkit.sandbox import Tenant

    secret = "sk_live_SECRET_0123456789"
    sb = make_sandbox(tenants=[Tenant("animaldetect", secret)])
    ws = Workspace(
        tmp_path / "ws",
        keys={"animaldetect": secret},
        base_urls={"animaldetect": sb.base_url("animaldetect")},
        quiet=True,
    )
    images = write_images(tmp_path / "imgs", 2)
    b = ws.animaldetect.detect(images).wait(timeout=120)
    wrong = Workspace(
        tmp_path / "ws2",
        keys={"animaldetect": secret + "x"},
        base_urls={"animaldetect": sb.base_url("animaldetect")},
        quiet=True,
    )
    failed = wrong.animaldetect.detect(images).wait(timeout=30)
    assert failed.status_counts()["failed"] == 2 and failed.jobs[0].http_status == 401
    texts = [
        repr(ws),
        repr(ws.animaldetect),
        repr(ws.animaldetect.transport),
        repr(ws.animaldetect.transport.config),
        repr(b),
        str(failed.jobs[0].error()),
        ws.jobs().to_csv(),
    ]
    assert not any(secret in t for t in texts)
    ledger_bytes = b"".join(p.read_bytes() for p in (tmp_path / "ws").rglob("*") if p.is_file())
    assert secret.encode() not in ledger_bytes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CLIENT = textwrap.dedent("""
    import sys
    from toolkit.workspace import Workspace
    ws = Workspace(sys.argv[1], keys={"animaldetect": "sk_kill"}, base_urls={"animaldetect": sys.argv[2]}, quiet=True)
    b = ws.animaldetect.detect(sys.argv[3])
    print("submitted", flush=True)
    b.wait(timeout=300, progress=False)
    print("DONE", b.status_counts()["succeeded"], flush=True)
""")


def test_kill_9_mid_batch_then_resume_completes_once(tmp_path):
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "toolkit",
            "sandbox",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "sb"),
            "--key",
            "animaldetect:sk_kill",
            "--runtime",
            "animaldetect=3",
            "--seed",
            "5",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(base + "/__sandbox__/health")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        images = write_images(tmp_path / "imgs", 24)
        script = tmp_path / "client.py"
        script.write_text(CLIENT)
        args = [sys.executable, str(script), str(tmp_path / "ws"), base + "/animaldetect/v1", str(images)]
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        for delay in (0.3, 1.0):  # killed while creating/uploading, then while jobs run
            proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env)
            assert proc.stdout.readline().strip() == "submitted"
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            created = httpx.get(base + "/__sandbox__/stats").json()["providers"].get("animaldetect", {})
            print("after kill:", {k: v["jobs"] for k, v in created.get("tenants", {}).items()})
        out = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
        assert "DONE 24" in out.stdout, out.stdout + out.stderr
        tenant = httpx.get(base + "/__sandbox__/stats").json()["providers"]["animaldetect"]["tenants"]
        (t,) = [t for t in tenant.values() if t["jobs"]["created"]]
        assert t["jobs"]["created"] == 24
        assert set(t["jobs_per_idempotency_key"].values()) == {1}
        assert len(t["jobs_per_input_digest"]) == 24 and set(t["jobs_per_input_digest"].values()) == {1}
        ws = Workspace(
            tmp_path / "ws",
            keys={"animaldetect": "sk_kill"},
            base_urls={"animaldetect": base + "/animaldetect/v1"},
            quiet=True,
        )
        assert ws.jobs()["status"].eq(Status.SUCCEEDED.value).sum() == 24 and ws.jobs()["cached"].all()
    finally:
        server.terminate()
        server.wait(timeout=10)
