"""Benchmark: what the inline monitor costs while 10,000 jobs change state (issue #7, "monitor cost").

A batch of N jobs (never sent: only the monitor is measured) goes through queued -> running -> succeeded/failed
at a fixed rate of job changes, delivered on the toolkit's loop thread exactly as the batch delivers them. The
same run is made twice, without and with a ``Monitor`` attached; the difference in process CPU time is the
monitor's cost. Widget updates are the monitor's flushes (each sets its widget traits once).

    python tests/benchmarks/bench_monitor.py [--jobs 10000] [--rate 2000] [--out test-output/bench]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.common import ROOT, machine, write_results  # noqa: E402
from toolkit.client import runtime  # noqa: E402
from toolkit.client.batch import Batch  # noqa: E402
from toolkit.client.model import Job, Status  # noqa: E402


def drive(batch: Batch, rate: float) -> float:
    """Move every job queued -> running -> terminal at ``rate`` changes/s on the loop thread; returns seconds."""
    changes = [(j, s) for s in (Status.QUEUED, Status.RUNNING, None) for j in batch.jobs]

    async def run() -> float:
        t0 = time.perf_counter()
        for i, (job, status) in enumerate(changes):
            job.status = status or (Status.FAILED if i % 50 == 0 else Status.SUCCEEDED)
            if status is None:
                job.finished_at = time.time()
                if job.status == Status.FAILED:
                    job.error_code, job.error_message = "PROCESSING_FAILED", "injected"
            batch.version += 1
            for fn in batch._listeners:
                fn(batch)
            due = t0 + (i + 1) / rate
            if due > time.perf_counter():
                await asyncio.sleep(due - time.perf_counter())
        return time.perf_counter() - t0

    return runtime.run(run())


def measure(n: int, rate: float, with_monitor: bool) -> dict[str, Any]:
    from toolkit.workspace import Workspace

    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "ws", keys={"animaldetect": "unused"}, quiet=True)  # never sends anything
        jobs = [
            Job(key=f"k{i}", provider="animaldetect", operation="detect", input=f"cam-{i:05d}.jpg", batch_id="b-bench")
            for i in range(n)
        ]
        batch = Batch(ws.animaldetect, "b-bench", jobs, {}, [])
        monitor = None
        if with_monitor:
            from toolkit.widgets import Monitor

            monitor = Monitor(batch)
            flushes0 = monitor.updates
        c0 = time.process_time()
        wall = drive(batch, rate)
        time.sleep(0.5)  # let the final flush land
        cpu = time.process_time() - c0
    out = {"wall_s": wall, "cpu_s": cpu, "changes": 3 * n}
    if monitor is not None:
        out["updates"] = monitor.updates - flushes0
        out["final_bar"] = monitor.bar.value
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--rate", type=float, default=2000.0, help="job changes per second")
    ap.add_argument("--out", type=Path, default=ROOT / "test-output" / "bench")
    args = ap.parse_args()
    base = measure(args.jobs, args.rate, with_monitor=False)
    mon = measure(args.jobs, args.rate, with_monitor=True)
    row = {
        "scenario": "monitor",
        "jobs": args.jobs,
        "changes_per_s": args.rate,
        "wall_s": round(mon["wall_s"], 1),
        "widget_updates_per_s": round(mon["updates"] / mon["wall_s"], 2),
        "monitor_cpu_pct": round(100 * max(0.0, mon["cpu_s"] - base["cpu_s"]) / mon["wall_s"], 2),
        "baseline_cpu_s": round(base["cpu_s"], 2),
        "with_monitor_cpu_s": round(mon["cpu_s"], 2),
        "final_bar": mon["final_bar"],
    }
    md = (
        f"Machine: {machine()}\n\n| "
        + " | ".join(row)
        + " |\n|"
        + "---|" * len(row)
        + "\n| "
        + " | ".join(str(v) for v in row.values())
        + " |\n"
    )
    write_results(args.out, "bench_monitor", {"machine": machine(), "rows": [row]}, md)
    print(md)


if __name__ == "__main__":
    main()
