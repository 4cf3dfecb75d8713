"""Detached runs without keys: ``submit --no-wait`` returns once every create is answered, and the ``jobs wait``
it suggests, in another process, meets the same background sandbox and collects every job; a job recorded but
never created is created later from its file (unless the file changed); Ctrl-C is one line and exit 130."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import scene_image
from toolkit.sandbox import background

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def keyless(tmp_path: Path) -> Iterator[dict[str, str]]:
    """An environment without keys; the workspace's background sandbox is stopped at teardown."""
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.update(PYTHONPATH=str(ROOT), TOOLKIT_SANDBOX_TIME_SCALE="0.001", TOOLKIT_SANDBOX_IDLE="300")
    yield env
    data_dir = tmp_path / "ws" / "sandbox"
    pid = background.stop(data_dir, timeout=30)
    if pid is not None:
        assert not background._alive(pid), f"background sandbox {pid} still running"


def toolkit(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "toolkit", "-w", str(cwd / "ws"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def images(tmp_path: Path, n: int) -> Path:
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(n):
        (folder / f"cam-{i}.jpg").write_bytes(scene_image(i, size=(160, 120)))
    return folder


def server_jobs(tmp_path: Path) -> int:
    found = background.find(tmp_path / "ws" / "sandbox")
    assert found is not None, "no background sandbox alive"
    tenants = httpx.get(found.url + "/__sandbox__/stats", timeout=30).json()["providers"]["animaldetect"]["tenants"]
    return sum(t["jobs"]["created"] for t in tenants.values())


def test_no_wait_then_jobs_wait_in_another_process_collects_every_job(tmp_path, keyless):
    imgs = images(tmp_path, 4)
    first = toolkit(keyless, tmp_path, "submit", "animaldetect", "detect", str(imgs), "--no-wait")
    assert first.returncode == 0, first.stderr
    batch_id = first.stdout.split()[-1]
    assert f"batch {batch_id}: 4 jobs created and running at animaldetect; follow them with: " in first.stderr
    from toolkit.client.ledger import Ledger

    assert all(j.job_id for j in Ledger(tmp_path / "ws").jobs())  # every create answered before it returned
    pid = json.loads((tmp_path / "ws" / "sandbox" / "background.json").read_text())["pid"]

    wait = toolkit(keyless, tmp_path, "jobs", "wait", batch_id)  # the first process is gone
    assert wait.returncode == 0, wait.stderr
    assert "finished: 4 succeeded" in wait.stderr and "embedded sandbox" in wait.stderr
    assert json.loads((tmp_path / "ws" / "sandbox" / "background.json").read_text())["pid"] == pid  # the same one
    assert server_jobs(tmp_path) == 4  # one job per input

    status = toolkit(keyless, tmp_path, "sandbox", "status")
    assert f"pid {pid}" in status.stdout
    stop = toolkit(keyless, tmp_path, "sandbox", "stop")
    assert stop.returncode == 0 and f"pid {pid}" in stop.stdout
    assert not background._alive(pid)
    assert toolkit(keyless, tmp_path, "sandbox", "status").stdout.strip() == "not running"


def test_a_job_recorded_but_never_created_is_created_later_from_its_file(tmp_path, keyless):
    imgs = images(tmp_path, 3)
    record = (
        "import sys\n"
        "from toolkit.workspace import Workspace\n"
        "from toolkit.client.inputs import media_items, IMAGE_SUFFIXES\n"
        "from toolkit.client.providers.animaldetect import ACCEPTED, MAX_BYTES\n"
        "ws = Workspace(sys.argv[1], quiet=True)\n"
        "items = media_items('animaldetect', sys.argv[2], IMAGE_SUFFIXES, ACCEPTED, MAX_BYTES)\n"
        "print(ws.animaldetect.submit('detect', items, options={'threshold': 0.2}, start=False).id)\n"
    )
    p = subprocess.run(
        [sys.executable, "-c", record, str(tmp_path / "ws"), str(imgs)],
        cwd=tmp_path,
        env=keyless,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    batch_id = p.stdout.split()[-1]
    (imgs / "cam-2.jpg").write_bytes(scene_image(99, size=(160, 120)))  # changed since it was recorded

    wait = toolkit(keyless, tmp_path, "jobs", "wait", batch_id)
    assert wait.returncode == 1, wait.stderr
    assert "finished: 2 succeeded, 1 failed" in wait.stderr, wait.stderr
    assert "cam-2.jpg: INPUT_UNAVAILABLE" in wait.stderr
    assert server_jobs(tmp_path) == 2  # the two unchanged files, once each; the changed one is never sent


def test_ctrl_c_during_submit_is_one_line_and_exit_130(tmp_path, keyless):
    imgs = images(tmp_path, 3)
    env = {**keyless, "TOOLKIT_SANDBOX_TIME_SCALE": "1"}  # jobs of seconds: still running at the Ctrl-C
    proc = subprocess.Popen(
        [sys.executable, "-m", "toolkit", "-w", str(tmp_path / "ws"), "submit", "animaldetect", "detect", str(imgs)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            assert line, f"submit ended early: {lines}"
            lines.append(line)
            if line.startswith("waiting;"):
                break
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == 130, err
    after = [line for line in err.splitlines() if line.strip() and not line.startswith("animaldetect ")]
    assert after == ["toolkit submit: interrupted; jobs already sent keep running"], err
