"""Benchmark: how many status polls per second the sandbox answers on this machine.

Runs the sandbox as its own process (as in real use, so client and server do not share a GIL), creates jobs,
then polls their status with an async httpx client at a fixed concurrency for a fixed time. Not a test: it
measures and reports (stdout + JSON).

    python tests/benchmarks/sandbox_polls.py [--seconds 10] [--concurrency 32] [--jobs 200] [--out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.benchmarks.common import SandboxProcess  # noqa: E402

KEY = "sk_sandbox_animaldetect"
CREATE = {"operation": "detect", "filename": "a.jpg", "content_type": "image/jpeg"}


async def run(base: str, seconds: float, concurrency: int, jobs: int, provider_path: str) -> dict:
    headers = {"Authorization": f"Bearer {KEY}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base + provider_path, headers=headers, limits=limits, timeout=30) as c:
        ids = [(await c.post("/jobs", json=CREATE)).json()["job_id"] for _ in range(jobs)]
        count = errors = 0
        latencies: list[float] = []
        stop = time.perf_counter() + seconds

        async def worker(i: int) -> None:
            nonlocal count, errors
            n = i
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                r = await c.get(f"/jobs/{ids[n % len(ids)]}")
                latencies.append(time.perf_counter() - t0)
                n += concurrency
                if r.status_code == 200:
                    count += 1
                else:
                    errors += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        wall = time.perf_counter() - t0
    latencies.sort()
    return {
        "polls": count,
        "errors": errors,
        "seconds": round(wall, 2),
        "polls_per_second": round(count / wall, 1),
        "latency_ms_p50": round(latencies[len(latencies) // 2] * 1000, 2),
        "latency_ms_p95": round(latencies[int(len(latencies) * 0.95)] * 1000, 2),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--jobs", type=int, default=200)
    ap.add_argument("--out", type=Path, default=Path("test-output/bench/sandbox_polls.json"))
    args = ap.parse_args()
    with SandboxProcess(
        Path(tempfile.mkdtemp(prefix="bench-sandbox-")), "--rate-limit", "animaldetect=1000000/60"
    ) as sb:
        result = asyncio.run(run(sb.url, args.seconds, args.concurrency, args.jobs, "/animaldetect/v1"))
    result.update(
        concurrency=args.concurrency,
        machine=f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(
        f"sandbox status polls: {result['polls_per_second']}/s over {result['seconds']} s "
        f"(p50 {result['latency_ms_p50']} ms, p95 {result['latency_ms_p95']} ms, {result['errors']} errors, "
        f"concurrency {args.concurrency}) -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
