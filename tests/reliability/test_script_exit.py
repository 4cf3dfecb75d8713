"""A plain script that ends without ``wait()``: no traceback, nothing marked failed by the shutdown, one line
saying how many jobs were still running; running it again collects them (one job per input at the service).
And a script without keys but with a key under another name is told which variable was meant."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.helpers import scene_image, stats
from toolkit.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
from toolkit.workspace import Workspace
ws = Workspace(sys.argv[1], quiet=True)
b = ws.animaldetect.detect(sys.argv[2])
if len(sys.argv) == 3:  # end the script once the first job is created, the others in flight
    import time
    deadline = time.monotonic() + 60
    while not any(j.job_id for j in b.jobs) and time.monotonic() < deadline:
        time.sleep(0.01)
else:
    b.wait(timeout=120, progress=False)
    print("STATUSES", sorted(j.status.value for j in b.jobs))
"""


def _env(sb: Sandbox | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL", "_KEY", "_TOKEN"))}
    env.update(PYTHONPATH=str(ROOT), TOOLKIT_SANDBOX_TIME_SCALE="0.001", **extra)
    if sb is not None:
        env.update(AD_API_KEY=sb.key("animaldetect"), AD_API_BASE_URL=sb.base_url("animaldetect"))
        env["TOOLKIT_TIME_SCALE"] = str(sb.config.time_scale)
    return env


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=180
    )


def test_a_script_ending_without_wait_leaves_its_jobs_resumable(make_sandbox, tmp_path):
    # jobs of about 2 s at the service: the script ends while they run
    sb = make_sandbox(time_scale=0.5)
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i in range(3):
        (imgs / f"cam-{i}.jpg").write_bytes(scene_image(i, size=(160, 120)))
    env = _env(sb)
    first = _run([str(tmp_path / "ws"), str(imgs)], env, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr and "RuntimeError" not in first.stderr, first.stderr
    assert first.stderr.strip().splitlines() == [
        "toolkit: 3 jobs still running: re-run the same call to collect them"
    ], first.stderr

    from toolkit.client.ledger import Ledger

    recorded = Ledger(tmp_path / "ws").jobs()
    assert len(recorded) == 3 and not [j for j in recorded if j.status.value == "failed"]
    again = _run([str(tmp_path / "ws"), str(imgs), "wait"], _env(sb), tmp_path)
    assert again.returncode == 0, again.stderr
    assert "STATUSES ['succeeded', 'succeeded', 'succeeded']" in again.stdout, again.stdout + again.stderr
    assert "still running" not in again.stderr
    created = stats(sb)["providers"]["animaldetect"]["tenants"]
    assert sum(t["jobs"]["created"] for t in created.values()) == 3  # one job per input, none paid twice


def test_the_sandbox_notice_and_a_misnamed_key_are_one_warning_line_each(tmp_path):
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    (imgs / "cam-0.jpg").write_bytes(scene_image(0, size=(160, 120)))
    script = textwrap.dedent(
        """
        import sys
        from toolkit.workspace import Workspace
        for _ in range(2):  # a second Workspace on the same folder says nothing new
            ws = Workspace(sys.argv[1])
            ws.animaldetect.detect(sys.argv[2]).wait(timeout=120, progress=False)
        print("DONE")
        """
    )
    p = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "ws"), str(imgs)],
        env=_env(ANIMALDETECT_API_KEY="sk_live_meant_for_animaldetect"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert p.returncode == 0 and "DONE" in p.stdout, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 2, p.stderr
    assert sum("embedded sandbox" in line for line in lines) == 1
    misnamed = [line for line in lines if "ANIMALDETECT_API_KEY" in line]
    assert len(misnamed) == 1 and "AD_API_KEY" in misnamed[0], p.stderr
    assert "sk_live_meant_for_animaldetect" not in p.stderr


CLAID_SCRIPT = """
import sys, time
from toolkit.workspace import Workspace
ws = Workspace(sys.argv[1], quiet=True)
ws._config("claid").sandbox = True  # the sandbox's async API: upload, then the create whose answer is awaited
b = ws.claid.edit(sys.argv[2], {"resizing": {"width": 48}}, "png")
if len(sys.argv) == 3:  # end the script while a create request is on its way (every answer takes 1 s)
    deadline = time.monotonic() + 60
    while not any(j.meta.get("create_posted") for j in b.jobs) and time.monotonic() < deadline:
        time.sleep(0.005)
else:
    b.wait(timeout=120, progress=False)
    print("STATUSES", sorted(f"{j.status.value} {j.error_code}" for j in b.jobs))
"""


def test_a_script_ending_while_a_create_is_on_its_way_records_its_job_and_the_re_run_follows_it(make_sandbox, tmp_path):
    """Claid has no job list: a create cut off mid-request could never be told apart on the next run
    (SUBMISSION_UNCERTAIN, or a second paid task). Exit lets a create already sent hear its answer."""
    sb = make_sandbox(time_scale=0.01, faults="claid.slow=1.0", slow_seconds=1.0)
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i in range(3):
        (imgs / f"p-{i}.jpg").write_bytes(scene_image(i, size=(96, 72)))
    env = _env()
    env.update(CLAID_API_KEY=sb.key("claid"), CLAID_BASE_URL=sb.base_url("claid"), TOOLKIT_TIME_SCALE="0.01")
    first = subprocess.run(
        [sys.executable, "-c", CLAID_SCRIPT, str(tmp_path / "ws"), str(imgs)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert first.returncode == 0 and "Traceback" not in first.stderr, first.stderr
    again = subprocess.run(
        [sys.executable, "-c", CLAID_SCRIPT, str(tmp_path / "ws"), str(imgs), "wait"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert "STATUSES ['succeeded None', 'succeeded None', 'succeeded None']" in again.stdout, (
        again.stdout + again.stderr
    )
    from tests.reliability.chaos_run import server_jobs

    rows = [r for r in server_jobs(sb.config.data_dir) if r["provider"] == "claid"]
    assert len(rows) == 3 and len({r["input_digest"] for r in rows}) == 3, rows
