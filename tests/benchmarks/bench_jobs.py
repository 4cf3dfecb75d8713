"""Benchmark: the toolkit against baselines, in one run, against a sandbox process (issue #7).

Scenarios (Animal Detect; every client interval is multiplied by the sandbox time scale ``s`` so that all
clients live on the same clock as the server's scaled runtimes):

- throughput: near-zero processing time. jobs/s, client CPU ms per job, peak RSS. Baselines: a sequential
  loop (one job at a time, fixed 2 s polling, as the providers' examples do; run on a subset and
  extrapolated) and a hand-written raw httpx asyncio pipeline making the same calls with no ledger.
- polling: runtimes from a wide lognormal distribution. HTTP requests per job (floor 5) and the delay between
  the server finishing a job and the client knowing (p50, p95; also relative to the job's runtime).
  Baselines: fixed 2 s polling; 5 s growing x1.25 to 60 s (openEO's schedule).
- ratelimit: a tenant limited to R requests/minute. Sustained request rate as a fraction of R, 429s received.
  Baseline: the raw pipeline, which only reacts to 429s.
- rerun: the finished throughput batch submitted again from its ledger: HTTP requests (goal 0), time vs cold.

Each client runs in its own subprocess (so CPU time and peak RSS are its own). Writes JSON + Markdown.

    python tests/benchmarks/bench_jobs.py [--sizes 1000,10000] [--out test-output/bench] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import httpx  # noqa: E402

from tests.benchmarks.common import AD_KEY, ROOT, SandboxProcess, machine, request_count, tiny_jpegs, write_results  # noqa: E402

# ---------------------------------------------------------------------------------------------------
# clients (each runs inside a worker subprocess)


def run_toolkit(base: str, folder: Path, ws: Path, scale: float, rate: int | None) -> dict[str, Any]:
    from toolkit.client.ledger import Ledger
    from toolkit.client.providers.animaldetect import AnimalDetectClient
    from toolkit.client.transport import ProviderConfig, Transport

    cfg = ProviderConfig(
        "animaldetect", base, AD_KEY, sandbox=True, time_scale=scale, rate_limits=[(rate // 4, 15.0)] if rate else []
    )
    client = AnimalDetectClient(Ledger(ws), Transport(cfg))
    batch = client.detect(folder)
    batch.wait(progress=False)
    counts = batch.status_counts()
    known = {j.job_id: (j.submitted_at, j.finished_at) for j in batch.jobs}
    return {
        "succeeded": counts["succeeded"],
        "failed": counts["failed"],
        "requests": client.transport.requests,
        "retries": client.transport.retries,
        "known": known,
    }


async def _raw(
    base: str, files: list[Path], scale: float, schedule: str, concurrency: int = 16, sequential: bool = False
) -> dict[str, Any]:
    """The same calls as the toolkit by hand: create -> PUT -> submit -> poll -> result; no ledger.

    ``schedule``: "fixed2" polls every 2 s; "openeo" from 5 s growing x1.25 up to 60 s (both times ``scale``).
    429s are waited out (Retry-After) and repeated; nothing else is retried.
    """
    headers = {"Authorization": f"Bearer {AD_KEY}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    known: dict[str, tuple[float, float]] = {}
    counts = {"sent": 0, "429": 0}
    gate = asyncio.Semaphore(concurrency)

    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=60) as c:

        async def call(method: str, url: str, **kw: Any) -> httpx.Response:
            while True:
                async with gate:
                    counts["sent"] += 1
                    r = await c.request(method, url, **kw)
                if r.status_code != 429:
                    return r
                counts["429"] += 1
                await asyncio.sleep(float(r.headers.get("retry-after", "1")))

        async def one(path: Path) -> None:
            data = path.read_bytes()
            created = (
                await call(
                    "POST",
                    base + "/jobs",
                    json={"operation": "detect", "filename": path.name, "content_type": "image/jpeg"},
                )
            ).json()
            up = created["upload"]
            await call("PUT", up["url"], content=data, headers=up["headers"])
            await call("POST", created["submit_url"])
            submitted = time.time()
            delay = (5.0 if schedule == "openeo" else 2.0) * scale
            while True:
                await asyncio.sleep(delay)
                body = (await call("GET", created["status_url"])).json()
                if body["status"] in ("succeeded", "failed"):
                    known[created["job_id"]] = (submitted, time.time())
                    break
                if schedule == "openeo":
                    delay = min(60.0 * scale, delay * 1.25)
            if body["status"] == "succeeded":
                await call("GET", created["result_url"])

        if sequential:
            for f in files:
                await one(f)
        else:
            await asyncio.gather(*(one(f) for f in files))
    return {"succeeded": len(known), "failed": 0, "requests": counts["sent"], "got_429": counts["429"], "known": known}


def worker(args: argparse.Namespace) -> None:
    files = sorted(Path(args.folder).glob("*.jpg"))[: args.n]
    t0, c0 = time.perf_counter(), time.process_time()
    if args.client == "toolkit":
        folder = Path(args.folder)
        if args.n < len(list(folder.glob("*.jpg"))):
            raise SystemExit("toolkit worker takes the whole folder")
        out = run_toolkit(args.base, folder, Path(args.ws), args.scale, args.rate)
    else:
        out = asyncio.run(_raw(args.base, files, args.scale, args.schedule, sequential=args.client == "sequential"))
    out["wall_s"] = time.perf_counter() - t0
    out["cpu_s"] = time.process_time() - c0
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["jobs"] = len(files)
    print(json.dumps(out, default=str))


def spawn(**kw: Any) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker"]
    for k, v in kw.items():
        if v is not None:
            cmd += [f"--{k}", str(v)]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    if p.returncode != 0:
        raise RuntimeError(f"worker {kw.get('client')} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------------
# scenarios (orchestrator)


def make_folder(root: Path, n: int, seed: int) -> Path:
    folder = root / f"imgs-{seed}-{n}"
    folder.mkdir(parents=True, exist_ok=True)
    for i, data in enumerate(tiny_jpegs(n, seed)):
        (folder / f"img-{i:05d}.jpg").write_bytes(data)
    return folder


def served(sb: SandboxProcess, before: dict[str, int] | None = None) -> dict[str, int]:
    now = request_count(sb.stats())
    if before:
        now = {k: v - before.get(k, 0) for k, v in now.items()}
    return now


def completed_at(base: str, job_ids: list[str]) -> dict[str, float]:
    """Server-side completion times (read after the measurement, so not counted)."""
    out = {}
    with httpx.Client(headers={"Authorization": f"Bearer {AD_KEY}"}, timeout=30) as c:
        for jid in job_ids:
            body = c.get(f"{base}/jobs/{jid}").json()
            if body.get("completed_at"):
                out[jid] = datetime.fromisoformat(body["completed_at"].replace("Z", "+00:00")).timestamp()
    return out


def throughput(root: Path, n: int, seq_n: int) -> list[dict[str, Any]]:
    scale = 0.01
    folder = make_folder(root, n, seed=1)
    rows = []
    with SandboxProcess(
        root / f"sb-thr-{n}",
        "--time-scale",
        str(scale),
        "--runtime",
        "animaldetect=0",
        "--rate-limit",
        "animaldetect=10000000/60",
        "--workers",
        "2",
    ) as sb:
        base = sb.base_url("animaldetect")
        ws = root / f"ws-thr-{n}"
        for client, kw in (
            ("toolkit", {"ws": ws}),
            ("raw", {"schedule": "fixed2"}),
            ("sequential", {"schedule": "fixed2", "n": seq_n}),
        ):
            before = served(sb)
            out = spawn(client=client, base=base, folder=folder, scale=scale, n=kw.pop("n", n), **kw)
            jobs = out["jobs"]
            rows.append(
                {
                    "scenario": "throughput",
                    "size": n,
                    "client": client,
                    "jobs": jobs,
                    "succeeded": out["succeeded"],
                    "wall_s": round(out["wall_s"], 2),
                    "jobs_per_s": round(jobs / out["wall_s"], 1),
                    "cpu_ms_per_job": round(1000 * out["cpu_s"] / jobs, 2),
                    "peak_rss_mb": round(out["peak_rss_mb"], 1),
                    "requests_per_job": round(sum(served(sb, before).values()) / jobs, 2),
                    "extrapolated_wall_s": round(out["wall_s"] * n / jobs, 1),
                }
            )
        before = served(sb)
        warm = spawn(client="toolkit", base=base, folder=folder, scale=scale, n=n, ws=ws)
        cold = rows[0]
        rows.append(
            {
                "scenario": "rerun",
                "size": n,
                "client": "toolkit (warm)",
                "jobs": n,
                "succeeded": warm["succeeded"],
                "wall_s": round(warm["wall_s"], 2),
                "requests": sum(served(sb, before).values()),
                "client_requests": warm["requests"],
                "vs_cold": round(warm["wall_s"] / cold["wall_s"], 3),
            }
        )
    return rows


def polling(root: Path, n: int, scale: float = 0.25) -> list[dict[str, Any]]:
    """Runtimes lognormal around 60 s (sigma 0.75). The scale keeps the fixed-2 s baseline's load (n / 2 s)
    within what the sandbox serves on 2 cores, so the delays measured are the clients', not a queue's."""
    folder, second = make_folder(root, n, seed=2), make_folder(root, n, seed=4)
    rows = []
    for client, schedule in (
        ("toolkit", None),
        ("toolkit, 2nd batch", None),
        ("fixed 2 s", "fixed2"),
        ("5 s x1.25 to 60 s", "openeo"),
    ):
        with SandboxProcess(
            root / f"sb-poll-{n}-{client[:12].replace(' ', '-')}",
            "--time-scale",
            str(scale),
            "--runtime",
            "animaldetect=60",
            "--runtime-spread",
            "0.75",
            "--rate-limit",
            "animaldetect=10000000/60",
            "--workers",
            "2",
        ) as sb:
            base = sb.base_url("animaldetect")
            # the 2nd batch: new images, same workspace, so the poller starts from the 1st batch's runtimes
            out = spawn(
                client="toolkit" if schedule is None else "raw",
                base=base,
                folder=second if "2nd" in client else folder,
                scale=scale,
                n=n,
                ws=root / f"ws-poll-{n}",
                schedule=schedule,
            )
            req = sum(served(sb).values())
            known = out["known"]
            done = completed_at(base, list(known))
        delays, rel = [], []
        for jid, (submitted, seen) in known.items():
            if jid in done and submitted and seen:
                d = max(0.0, seen - done[jid])
                delays.append(d / scale)  # in provider seconds
                rel.append(d / max(1e-6, done[jid] - submitted))
        q = statistics.quantiles(delays, n=20) if len(delays) >= 2 else [0.0] * 19
        rows.append(
            {
                "scenario": "polling",
                "size": n,
                "client": client,
                "jobs": n,
                "requests_per_job": round(req / n, 2),
                "notice_p50_s": round(statistics.median(delays), 2),
                "notice_p95_s": round(q[18], 2),
                "notice_p50_rel": round(statistics.median(rel), 3),
                "wall_s": round(out["wall_s"], 1),
            }
        )
    return rows


def ratelimit(root: Path, n: int, per_minute: int) -> list[dict[str, Any]]:
    """R per minute enforced as a bucket of R/4 per 15 s, so the run lasts several bucket windows."""
    folder = make_folder(root, n, seed=3)
    bucket, window = per_minute // 4, 15
    rows = []
    for client in ("toolkit", "raw"):
        with SandboxProcess(
            root / f"sb-rl-{client}-{n}",
            "--time-scale",
            "0.01",
            "--runtime",
            "animaldetect=0",
            "--rate-limit",
            f"animaldetect={bucket}/{window}",
            "--workers",
            "2",
        ) as sb:
            out = spawn(
                client=client,
                base=sb.base_url("animaldetect"),
                folder=folder,
                scale=0.01,
                n=n,
                ws=root / f"ws-rl-{n}",
                rate=per_minute if client == "toolkit" else None,
                schedule="fixed2",
            )
            counts = request_count(sb.stats(), api_only=True)
        ok = sum(counts.values()) - counts.get("429", 0)
        # sustained rate: accepted API requests beyond the first full bucket, per R (the toolkit paces all
        # its requests at R; the sandbox counts create and polls in two buckets of R each)
        rows.append(
            {
                "scenario": "ratelimit",
                "size": n,
                "client": client,
                "jobs": n,
                "R_per_min": per_minute,
                "fraction_of_R": round((ok - bucket) / out["wall_s"] / (per_minute / 60), 3),
                "received_429": counts.get("429", 0),
                "wall_s": round(out["wall_s"], 1),
            }
        )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    for k in ("client", "base", "folder", "ws", "schedule"):
        ap.add_argument(f"--{k}", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--scale", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--rate", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--sizes", default="1000,10000", help="job counts (default 1000,10000)")
    ap.add_argument("--rate-per-minute", type=int, default=240, help="R of the rate-limit scenario")
    ap.add_argument("--out", type=Path, default=ROOT / "test-output" / "bench")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, so CI keeps the script alive")
    ap.add_argument("--only", default="throughput,polling,ratelimit", help="scenarios to run")
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    sizes = [20] if args.smoke else [int(s) for s in args.sizes.split(",")]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        only = args.only.split(",")
        for n in sizes if "throughput" in only else []:
            print(f"throughput + rerun, {n} jobs ...", flush=True)
            rows += throughput(root, n, seq_n=min(n, 10 if args.smoke else 50))
        if "polling" in only:
            poll_n = 20 if args.smoke else 100
            print(f"polling, {poll_n} jobs ...", flush=True)
            rows += polling(root, poll_n, scale=0.02 if args.smoke else 0.25)
        if "ratelimit" in only:
            rl_n = 10 if args.smoke else args.rate_per_minute // 4 * 2  # ~8 bucket windows of traffic at R
            print(f"rate limit, {rl_n} jobs at {args.rate_per_minute}/min ...", flush=True)
            rows += ratelimit(root, rl_n, args.rate_per_minute)
    result = {"machine": machine(), "rows": rows, "when": time.strftime("%Y-%m-%d %H:%M")}
    md = f"Machine: {machine()}\n\n" + table(rows)
    write_results(
        args.out, "bench_jobs" + ("" if args.only == ap.get_default("only") else "_" + "_".join(only)), result, md
    )
    print(md)
    print(f"wrote {args.out}/bench_jobs.json and .md")


if __name__ == "__main__":
    main()
