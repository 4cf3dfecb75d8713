"""CI runs the benchmark at a tiny size so the script cannot rot; the figures themselves come from `make bench`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("bench_jobs.py")


def test_benchmark_smoke(tmp_path):
    p = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--out", str(tmp_path)], capture_output=True, text=True, timeout=600
    )
    assert p.returncode == 0, p.stderr[-3000:]
    rows = json.loads((tmp_path / "bench_jobs.json").read_text())["rows"]
    scenarios = {(r["scenario"], r["client"]) for r in rows}
    assert {
        ("throughput", "toolkit"),
        ("throughput", "raw"),
        ("throughput", "sequential"),
        ("rerun", "toolkit (warm)"),
        ("polling", "toolkit"),
        ("ratelimit", "toolkit"),
    } <= scenarios
    for r in rows:
        if r["scenario"] == "throughput":
            assert r["succeeded"] == r["jobs"] and r["requests_per_job"] >= 4
    rerun = next(r for r in rows if r["scenario"] == "rerun")
    assert rerun["requests"] == 0 and rerun["client_requests"] == 0 and rerun["succeeded"] == rerun["jobs"]
    assert (tmp_path / "bench_jobs.md").read_text().startswith("Machine:")


def test_monitor_benchmark_smoke(tmp_path):
    script = Path(__file__).with_name("bench_monitor.py")
    p = subprocess.run(
        [sys.executable, str(script), "--jobs", "300", "--rate", "600", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    row = json.loads((tmp_path / "bench_monitor.json").read_text())["rows"][0]
    assert row["final_bar"] == 300 and 0 < row["widget_updates_per_s"] <= 5
