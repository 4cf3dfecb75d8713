"""The command line against a real sandbox: submit, re-run without new jobs, ls/show/wait, export; no key leaks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.helpers import scene_image, stats
from toolkit.sandbox import Sandbox
from toolkit.sandbox.config import Tenant

KEY = "sk_CLI_SECRET_4f9d2a7b"
ROOT = Path(__file__).resolve().parents[2]


def cli(sb: Sandbox, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "AD_API_KEY": KEY,
        "AD_API_BASE_URL": sb.base_url("animaldetect"),
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        [sys.executable, "-m", "toolkit", "-w", str(cwd / "ws"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def tenant_stats(sb: Sandbox) -> dict:
    return stats(sb)["providers"]["animaldetect"]["tenants"][Tenant("animaldetect", KEY).id]


def requests_made(tenant: dict) -> int:
    return sum(n for route in tenant["requests"].values() for n in route.values())


def test_submit_rerun_inspect_and_export(make_sandbox, tmp_path):
    sb = make_sandbox(tenants=[Tenant("animaldetect", KEY)])
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i in range(3):
        (imgs / f"cam-{i}.jpg").write_bytes(scene_image(i, size=(320, 240)))
    (imgs / "notes.jpg").write_text("not an image")

    first = cli(sb, tmp_path, "submit", "animaldetect", "detect", str(imgs), "-o", "threshold=0.3")
    assert first.returncode == 1, first.stderr  # one input was rejected
    assert "rejected before sending:" in first.stderr and "notes.jpg" in first.stderr and "magic bytes" in first.stderr
    assert "finished: 3 succeeded (1 input rejected before sending)" in first.stderr
    assert re.search(r"results: \d+ detections? from 3 jobs", first.stderr)
    batch_id = first.stdout.strip().splitlines()[-1]
    assert batch_id.startswith("b-")
    tenant = tenant_stats(sb)
    assert tenant["jobs"]["created"] == 3
    served = requests_made(tenant)

    again = cli(sb, tmp_path, "submit", "animaldetect", "detect", str(imgs), "-o", "threshold=0.3")
    assert again.stdout.strip().splitlines()[-1] == batch_id
    tenant = tenant_stats(sb)
    assert tenant["jobs"]["created"] == 3 and requests_made(tenant) == served  # re-attached: not one request

    ls = cli(sb, tmp_path, "jobs", "ls", "--status", "succeeded")
    assert ls.returncode == 0 and ls.stdout.count("succeeded") == 3
    show = cli(sb, tmp_path, "jobs", "show", batch_id, "--json")
    assert [r["status"] for r in json.loads(show.stdout)] == ["succeeded"] * 3
    wait = cli(sb, tmp_path, "jobs", "wait", batch_id)
    assert wait.returncode == 0 and "3/3 done" in wait.stderr
    out = tmp_path / "raw.json"
    export = cli(sb, tmp_path, "results", "export", batch_id, "--out", str(out))
    assert export.returncode == 0, export.stderr
    raw = json.loads(out.read_text())
    assert len(raw) == 3 and all(r["result"] for r in raw)
    missing = cli(sb, tmp_path, "jobs", "wait", "b-nope")
    assert missing.returncode == 2 and "no batch 'b-nope'" in missing.stderr
    assert "toolkit jobs ls --batches" in missing.stderr and "ws.batches" not in missing.stderr

    for p in (first, again, ls, show, wait, export, missing):
        assert KEY not in p.stdout + p.stderr
    for f in (tmp_path / "ws").rglob("*"):
        if f.is_file():
            assert KEY.encode() not in f.read_bytes(), f


def test_export_writes_rfc7946_geojson_and_fetches_lost_results_again(make_sandbox, tmp_path):
    import shutil

    from toolkit.workspace import Workspace

    sb = make_sandbox()
    key, base = sb.key("sateais"), sb.base_url("sateais")
    ws = Workspace(tmp_path / "ws", keys={"sateais": key}, base_urls={"sateais": base}, quiet=True)
    ws._config("sateais").time_scale = sb.config.time_scale
    b = ws.sateais.ship((14.50, 35.88, 14.53, 35.90), date="2026-06-15").wait(timeout=120, progress=False)
    n = len(b.features())
    assert n > 0
    env = {
        **os.environ,
        "SATEAIS_API_KEY": key,
        "SATEAIS_BASE_URL": base,
        "TOOLKIT_TIME_SCALE": str(sb.config.time_scale),
        "PYTHONPATH": str(ROOT),
    }

    def export(out: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "toolkit", "-w", str(tmp_path / "ws"), "results", "export", b.id, "--out", str(out)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    done = export(tmp_path / "ships.geojson")
    assert done.returncode == 0, done.stderr
    doc = json.loads((tmp_path / "ships.geojson").read_text())
    assert "crs" not in doc and len(doc["features"]) == n  # RFC 7946 dropped the crs member
    lon, lat = doc["features"][0]["geometry"]["coordinates"][0][0][:2]
    assert 14.4 < lon < 14.6 and 35.8 < lat < 36.0
    shutil.rmtree(tmp_path / "ws" / "cache")  # lost: the export fetches the results again, never writes 0 rows
    done = export(tmp_path / "again.geojson")
    assert done.returncode == 0, done.stderr
    assert len(json.loads((tmp_path / "again.geojson").read_text())["features"]) == n


def test_read_only_commands_start_no_sandbox_and_print_no_traceback(tmp_path):
    """Without keys: only the command that sends jobs starts the embedded sandbox and says so, once."""
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    (imgs / "cam-0.jpg").write_bytes(scene_image(0, size=(160, 120)))
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL")) and k != "FR_API_KEY"}
    env.update(PYTHONPATH=str(ROOT), TOOLKIT_SANDBOX_TIME_SCALE="0.001")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "toolkit", "-w", str(tmp_path / "ws"), *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    try:
        _read_only_commands(run, tmp_path, env)
    finally:  # the submit's background sandbox (it outlives the command) stops here
        from toolkit.sandbox import background

        background.stop(tmp_path / "ws" / "sandbox")


def _read_only_commands(run, tmp_path: Path, env: dict[str, str]) -> None:
    imgs = tmp_path / "imgs"
    first = run("submit", "animaldetect", "detect", str(imgs))
    assert first.returncode == 0, first.stderr
    assert first.stderr.count("embedded sandbox") == 1 and first.stderr.startswith("toolkit: no API key")
    batch_id = first.stdout.split()[-1]
    sandbox_dir = tmp_path / "ws" / "sandbox"

    def sandbox_files() -> dict[str, int]:
        return {str(f): f.stat().st_mtime_ns for f in sandbox_dir.rglob("*") if f.is_file()}

    before = sandbox_files()
    assert before  # the submit's sandbox kept its jobs there
    reads = [
        run("jobs", "ls"),
        run("jobs", "ls", "--batches"),
        run("jobs", "show", batch_id),
        run("results", "export", batch_id, "--out", str(tmp_path / "out.csv")),
        run("--help"),
        run("submit", "--help"),
    ]
    for p in reads:
        assert p.returncode == 0, p.stderr
        assert "no API key" not in p.stdout + p.stderr
    assert sandbox_files() == before  # no sandbox opened its store
    broken = tmp_path / "ws2"
    broken.mkdir()
    (broken / "ledger.sqlite3").write_text("not a database")
    bad = subprocess.run(
        [sys.executable, "-m", "toolkit", "-w", str(broken), "jobs", "ls"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("toolkit jobs: ") and "is not a readable ledger" in bad.stderr


def test_the_cli_log_handler_follows_the_current_stderr(monkeypatch):
    """``main()`` run in-process sets up its output once; a later stderr (another test, a notebook) gets the
    lines, and the stream it was set up with may be closed since without a logging error."""
    import io
    import logging
    import sys

    from toolkit.cli import _setup_output

    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    before = logging.getLogger("toolkit").handlers[:]
    restore = _setup_output(False)
    try:
        first.close()
        later = io.StringIO()
        monkeypatch.setattr(sys, "stderr", later)
        logging.getLogger("toolkit.notice").info("the sandbox notice")
        assert later.getvalue() == "toolkit: the sandbox notice\n"
    finally:
        restore()
    assert logging.getLogger("toolkit").handlers == before  # main() leaves the process's logging as it found it


def test_a_folder_with_a_labels_file_exits_0_and_ls_into_head_is_quiet(make_sandbox, tmp_path):
    """README's first call: photos and a labels.csv. The csv is skipped and counted, not a refused input."""
    sb = make_sandbox(tenants=[Tenant("animaldetect", KEY)])
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i in range(40):
        (imgs / f"cam-{i:02d}.jpg").write_bytes(scene_image(i, size=(64, 48)))
    (imgs / "labels.csv").write_text("file,label\n")
    done = cli(sb, tmp_path, "submit", "animaldetect", "detect", str(imgs))
    assert done.returncode == 0, done.stderr
    assert "toolkit: animaldetect detect: 40 images, 1 other file skipped (labels.csv)" in done.stderr
    assert "warning" not in done.stderr and "rejected" not in done.stderr
    env = {**os.environ, "AD_API_KEY": KEY, "AD_API_BASE_URL": sb.base_url("animaldetect"), "PYTHONPATH": str(ROOT)}
    # head -n 0 has closed the pipe before the table is written: the write meets EPIPE every time
    cmd = f"{sys.executable} -m toolkit -w {tmp_path / 'ws'} jobs ls | head -n 0"
    piped = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], env=env, capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0 and piped.stderr == "", piped.stderr


def test_the_readme_cli_example_exits_0(tmp_path):
    """``toolkit submit animaldetect detect data/camera_traps -o threshold=0.3`` against the embedded sandbox: the
    folder's labels.csv is skipped and counted, so every job done is exit 0 (README "Exit codes")."""
    from toolkit.workspace import service_variables

    env = {k: v for k, v in os.environ.items() if k not in service_variables()}
    env.update(PYTHONPATH=str(ROOT), TOOLKIT_SANDBOX_TIME_SCALE="0.002")
    args = ["submit", "animaldetect", "detect", "data/camera_traps", "-o", "threshold=0.3"]
    command = [sys.executable, "-m", "toolkit", "-w", str(tmp_path / "ws")]
    try:
        p = subprocess.run([*command, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    finally:  # the background sandbox the command started
        subprocess.run([*command, "sandbox", "stop"], env=env, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "36 images, 1 other file skipped (labels.csv)" in p.stderr and "finished: 36 succeeded" in p.stderr
