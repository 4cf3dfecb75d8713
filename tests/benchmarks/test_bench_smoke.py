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


def test_inputs_benchmark_smoke(tmp_path):
    script = Path(__file__).with_name("bench_inputs.py")
    p = subprocess.run(
        [sys.executable, str(script), "--smoke", "--out", str(tmp_path)], capture_output=True, text=True, timeout=600
    )
    assert p.returncode == 0, p.stderr[-3000:]
    rows = json.loads((tmp_path / "bench_inputs.json").read_text())["rows"]
    large = [r for r in rows if r["scenario"] == "large inputs"]
    assert [r["size"] for r in large] == [20, 40] and all(r["peak_rss_mb"] > 0 for r in large)
    (small,) = [r for r in rows if r["scenario"] == "small inputs"]
    assert small["size"] == 50 and small["first_request_s"] >= small["detect_returned_s"] > 0
    assert (tmp_path / "bench_inputs.md").read_text().startswith("Machine:")


def test_loader_benchmarks_smoke(tmp_path):
    """The columnar-loader scripts run end to end at a tiny size and report each figure against its baseline."""
    for name in ("detections", "features"):
        out = tmp_path / f"{name}.json"
        script = Path(__file__).with_name(f"{name}.py")
        p = subprocess.run(
            [sys.executable, str(script), "--sizes", "200", "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert p.returncode == 0, p.stderr[-3000:]
        rows = json.loads(out.read_text())["rows"]
        assert len(rows) == 1 and len(rows[0]["loadavg"]) == 3, name
        if name == "detections":  # every figure beside its same-run baseline, and how busy the machine was
            r = rows[0]
            assert (
                r["warm_vs_json_normalize"] > 0 and r["cold_vs_json_normalize"] > 0 and r["raw_vs_json_normalize"] > 0
            )
