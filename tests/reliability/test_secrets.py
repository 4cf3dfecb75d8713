"""Secrets (issue #8): with recognisable fake keys, the CLI and every notebook run against a sandbox process that
knows those keys; then notebook outputs, the ledger, the cache, DEBUG logs, exception texts and reprs are scanned:
no key appears. No Authorization header reaches a signed URL or a redirect to another host (counted by the
sandbox). ``find_secrets`` is the reusable scan.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
KEYS = {
    "animaldetect": "sk_LEAKCHECK_ad_5e1f0c",
    "sateais": "sk_live_LEAKCHECK_sa_77b2",
    "authenta": "api_apikey_LEAKCHECK_au_19d4",
    "claid": "LEAKCHECK_claid_0a6e",
    "faces": "fr_live_LEAKCHECK_fr_c3",
}
ORG, COLLECTION = "leak-org", "leak-collection"
PREFIX = {
    "animaldetect": "/animaldetect/v1",
    "sateais": "/sateais/api/v1",
    "authenta": "/authenta/api/v1",
    "claid": "/claid/v1",
    "faces": "/faces/api/v1",
}
ENV = {
    "animaldetect": ("AD_API_KEY", "AD_API_BASE_URL"),
    "sateais": ("SATEAIS_API_KEY", "SATEAIS_BASE_URL"),
    "authenta": ("AUTHENTA_API_KEY", "AUTHENTA_BASE_URL"),
    "claid": ("CLAID_API_KEY", "CLAID_BASE_URL"),
    "faces": ("FR_API_KEY", "FR_BASE_URL"),
}
#: Keys point the providers at a "live" service, so polls would follow the documented real-time schedule
#: (SateAIs: first poll after 5 min). This bootstrap scales them like the sandbox's own (test harness only).
FAST = ""  # the clients follow the sandbox's time scale through TOOLKIT_TIME_SCALE (see env below)


def needles(secrets: list[str]) -> list[bytes]:
    """What a leak looks like: each secret raw, URL-quoted and base64'd, and the marker every fake key carries."""
    out = {b"LEAKCHECK", b"leakcheck"}
    for s in secrets:
        out |= {s.encode(), quote(s).encode(), base64.b64encode(s.encode()), base64.b64encode(s.encode())[:-4]}
    return sorted(out)


def find_secrets(where: list[Path | str | bytes], secrets: list[str]) -> list[str]:
    """Places (files under the given paths, or given texts) that contain any form of any secret."""
    found = []
    for item in where:
        if isinstance(item, Path):
            files = [item] if item.is_file() else [f for f in item.rglob("*") if f.is_file()]
            blobs = [(str(f), f.read_bytes()) for f in files]
        else:
            blob = item if isinstance(item, bytes) else item.encode("utf-8", "replace")
            blobs = [(blob[:60].decode("utf-8", "replace"), blob)]
        found += [f"{name}: {n.decode()}" for name, data in blobs for n in needles(secrets) if n in data]
    return found


def test_the_scan_finds_planted_keys(tmp_path):
    (tmp_path / "a.log").write_text(f"Authorization: Basic {base64.b64encode(KEYS['claid'].encode()).decode()}")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.bin").write_bytes(b"\x00" + quote(KEYS["faces"]).encode())
    assert len(find_secrets([tmp_path], list(KEYS.values()))) >= 2
    assert find_secrets([f"key={KEYS['sateais'][:20]}"], list(KEYS.values()))  # a truncated key still counts
    assert not find_secrets([tmp_path / "a.log", "nothing here"], ["other-secret"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """A sandbox process whose tenants are the fake keys; yields (base URL, env for clients, its log file)."""
    tmp = tmp_path_factory.mktemp("secrets")
    port = _free_port()
    args = [
        sys.executable,
        "-m",
        "toolkit",
        "sandbox",
        "--port",
        str(port),
        "--data-dir",
        str(tmp / "sb"),
        "--time-scale",
        "0.001",
        "--seed",
        "8",
    ]
    for p, k in KEYS.items():
        args += ["--key", f"{p}:{k}@{ORG}/{COLLECTION}" if p == "faces" else f"{p}:{k}"]
    log = (tmp / "sandbox.log").open("wb")
    proc = subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(base + "/__sandbox__/health")
                break
            except httpx.TransportError:
                time.sleep(0.05)
        env = {
            "PYTHONPATH": str(ROOT),
            "FR_ORG_ID": ORG,
            "FR_COLLECTION_ID": COLLECTION,
            "TOOLKIT_WORKSPACE": "",
            "TOOLKIT_TIME_SCALE": "0.001",
        }
        for p, (key_var, url_var) in ENV.items():
            env[key_var], env[url_var] = KEYS[p], base + PREFIX[p]
        yield base, env, tmp
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


CLI = (
    "import logging, sys\nlogging.basicConfig(level=logging.DEBUG)\n"
    + FAST
    + "from toolkit.cli import main\nsys.exit(main(sys.argv[1:]))\n"
)


def cli(env: dict, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``python -m toolkit ARGS`` with DEBUG logging of everything (toolkit, httpx, httpcore) on stderr."""
    return subprocess.run(
        [sys.executable, "-c", CLI, "-w", str(cwd / "ws"), *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def run_notebook(path: Path, workdir: Path, env: dict) -> Path:
    """Execute one notebook (cwd: a copy of notebooks/ beside a link to data/) with DEBUG logs to a file."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    logfile = workdir / "logs" / f"{path.stem}.log"
    setup = f"import logging\nlogging.basicConfig(level=logging.DEBUG, filename={str(logfile)!r})\n" + FAST
    nb.cells.insert(0, nbformat.v4.new_code_cell(setup))
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name="python3")
    km.start_kernel(env={**os.environ, **env}, cwd=str(workdir / "notebooks"))
    try:
        NotebookClient(
            nb,
            km=km,
            timeout=300,
            store_widget_state=True,
            resources={"metadata": {"path": str(workdir / "notebooks")}},
        ).execute()
    finally:
        km.shutdown_kernel(now=True)
    out = workdir / "executed" / path.name
    nbformat.write(nb, out)
    return out


def test_cli_and_every_notebook_leak_no_key(service, tmp_path):
    base, env, sandbox_dir = service
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks, "no notebooks to scan"
    work = tmp_path / "nb"
    (work / "logs").mkdir(parents=True)
    (work / "executed").mkdir()
    (work / "notebooks").mkdir()
    (work / "data").symlink_to(ROOT / "data")
    nb_env = {**env, "TOOLKIT_WORKSPACE": str(work / "notebooks" / ".toolkit")}
    images = tmp_path / "imgs"
    images.mkdir()
    from tests.helpers import scene_image

    for i in range(2):
        (images / f"cam-{i}.jpg").write_bytes(scene_image(i, size=(160, 120)))
    cli_env = {k: v for k, v in env.items() if k != "TOOLKIT_WORKSPACE"}
    submits = [
        ("animaldetect", "detect", str(images)),
        ("authenta", "ai-image-detection", str(images)),
        ("claid", "edit", str(images / "cam-0.jpg"), "-o", 'operations={"restorations": {"polish": true}}'),
        ("sateais", "ship", str(ROOT / "data/aoi/harbour.geojson"), "-o", "date=2026-06-15"),
        ("faces", "enroll", str(ROOT / "data/faces/roster.csv")),
    ]
    with ThreadPoolExecutor(4) as pool:  # the notebooks mostly wait on polls: run them side by side
        runs = [pool.submit(run_notebook, nb, work, nb_env) for nb in notebooks if "report" not in nb.name]
        done = [pool.submit(cli, cli_env, tmp_path, "submit", *s) for s in submits]
        procs = [f.result() for f in done]
        executed = [f.result() for f in runs]
    executed += [run_notebook(nb, work, nb_env) for nb in notebooks if "report" in nb.name]  # reads the others' ledger
    batch_ids = [p.stdout.strip().splitlines()[-1] for p in procs]
    assert all(b.startswith("b-") for b in batch_ids), [p.stderr[-2000:] for p in procs]
    procs += [cli(cli_env, tmp_path, "jobs", "ls"), cli(cli_env, tmp_path, "jobs", "show", batch_ids[0])]
    procs += [
        cli(cli_env, tmp_path, "results", "export", b, "--out", str(tmp_path / f"out-{i}.json"))
        for i, b in enumerate(batch_ids)
    ]
    (tmp_path / "wrong").mkdir()
    procs.append(
        cli(
            {**cli_env, "AD_API_KEY": KEYS["animaldetect"] + "_typo"},
            tmp_path / "wrong",
            "submit",
            "animaldetect",
            "detect",
            str(images),
        )
    )  # refused with 401: its error texts too
    assert procs[-1].returncode == 1 and "401" in procs[-1].stderr
    assert "DEBUG" in procs[0].stderr and "HTTP Request" in procs[0].stderr  # the logs were really on

    leaks = find_secrets(
        [p.stdout + p.stderr for p in procs] + [tmp_path / "ws", tmp_path / "wrong", *tmp_path.glob("out-*.json")],
        list(KEYS.values()),
    )
    leaks += find_secrets([*executed, work / "logs", work / "notebooks"], list(KEYS.values()))
    assert not leaks, leaks
    assert len(executed) == len(notebooks) and all(Path(p).stat().st_size for p in executed)

    stats = httpx.get(base + "/__sandbox__/stats").json()["providers"]
    assert {p: s["auth_on_signed_urls"] for p, s in stats.items()} == {p: 0 for p in KEYS}
    # the check above is live: a request that does carry the header to a signed URL is counted
    loc = httpx.get(
        base + PREFIX["sateais"] + "/jobs/" + _first_job(tmp_path / "ws", "sateais") + "/result.geojson",
        headers={"Authorization": "Bearer " + KEYS["sateais"]},
    ).headers["location"]
    httpx.get(loc, headers={"Authorization": "Bearer " + KEYS["sateais"]})
    assert httpx.get(base + "/__sandbox__/stats").json()["providers"]["sateais"]["auth_on_signed_urls"] == 1


def _first_job(ws: Path, provider: str) -> str:
    from toolkit.client.ledger import Ledger

    return next(j.job_id for j in Ledger(ws).jobs(provider=provider) if j.job_id)


def test_a_password_in_a_base_url_is_written_nowhere(tmp_path, sandbox, caplog):
    """``https://user:secret@…`` as a base URL (issue 21): the ledger, the cache's records, log lines, reprs and
    error texts carry the URL without the password; a stored URL gets it back when it is requested."""
    import logging

    from tests.helpers import scene_image
    from toolkit.workspace import Workspace

    secret = "PWLEAK_s3cr3t_9f"
    base = sandbox.base_url("claid").replace("http://", f"http://gateway-user:{secret}@")
    images = tmp_path / "in"
    images.mkdir()
    for i in range(2):
        (images / f"{i}.jpg").write_bytes(scene_image(800 + i, size=(64, 48)))
    caplog.set_level(logging.DEBUG)
    ws = Workspace(tmp_path / "ws", keys={"claid": sandbox.key("claid")}, base_urls={"claid": base}, quiet=True)
    cfg = ws._config("claid")
    cfg.sandbox, cfg.time_scale, cfg.rate_limits = True, 0.001, []
    b = ws.claid.edit(images, {"resizing": {"width": 20}}).wait(timeout=120, progress=False)
    # (httpx turns URL credentials into Basic auth, which replaces Claid's bearer key: the jobs fail 401)
    job = b.jobs[0]
    job.urls = {"result_url": ws.claid.transport.url("/image/edit/async/1")}  # holds the password
    job.job_id = "1"
    ws.ledger.save(job, "job_id", "urls")
    assert ws.claid.transport.url(ws.ledger.get(job.key).urls["result_url"]) == job.urls["result_url"]
    texts = [repr(ws), repr(ws.claid), repr(ws.claid.transport), repr(cfg), repr(b), caplog.text]
    texts += [str(j) for j in ws.ledger.jobs()] + [str(ws.claid.transport._unreachable())]
    ws.ledger.close()
    assert find_secrets([tmp_path / "ws", *[t.encode() for t in texts]], [secret]) == []
    assert "***@" in repr(ws.claid.transport)
