"""Benchmark: inputs by reference (issue #17), against baselines measured in the same run.

- large: N photos of ~3 MB each. Client peak RSS over preflight + submit (every key streamed from disk, every
  ledger row written), preflight ms per photo. Baselines: the bytes the batch would hold in memory (the sum of
  the file sizes, as before #17), and the old preflight (read whole + full decode, one thread) on a subset.
- small: N tiny JPEGs in a folder against a sandbox process: seconds from ``detect()`` to the first request.

Each client runs in its own subprocess (its RSS and time are its own). Files go to a temporary folder under
/tmp and are deleted after. Writes JSON + Markdown.

    python tests/benchmarks/bench_inputs.py [--sizes 1000,10000] [--small 10000] [--out test-output/bench] [--smoke]
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from tests.benchmarks.common import AD_KEY, ROOT, SandboxProcess, machine, tiny_jpegs, write_results  # noqa: E402


def write_photos(folder: Path, n: int, megabytes: float = 3.0) -> list[int]:
    """``n`` distinct valid JPEGs of about ``megabytes`` each (a 3-megapixel photo padded with APP segments to
    the size, a per-file comment making every one distinct); returns their sizes."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:1536, 0:2048]
    arr = np.stack([(x / 8) % 256, (y / 6) % 256, ((x + y) / 10) % 256], -1) + rng.normal(0, 12, (1536, 2048, 3))
    buf = io.BytesIO()
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=90)
    base = buf.getvalue()
    pad = b""
    want = int(megabytes * 1e6) - len(base)
    while want > 4:
        part = min(want - 4, 65533)
        pad += b"\xff\xef" + (part + 2).to_bytes(2, "big") + bytes(part)
        want -= part + 4
    sizes = []
    for i in range(n):
        note = f"photo {i}".encode()
        data = b"\xff\xd8\xff\xfe" + (len(note) + 2).to_bytes(2, "big") + note + pad + base[2:]
        (folder / f"photo-{i:05d}.jpg").write_bytes(data)
        sizes.append(len(data))
    return sizes


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_large(folder: Path, ws: Path, old_n: int) -> dict[str, Any]:
    from toolkit.client.inputs import IMAGE_SUFFIXES, media_items
    from toolkit.client.ledger import Ledger
    from toolkit.client.providers.animaldetect import ACCEPTED, MAX_BYTES, AnimalDetectClient
    from toolkit.client.transport import ProviderConfig, Transport

    client = AnimalDetectClient(Ledger(ws), Transport(ProviderConfig("animaldetect", "http://127.0.0.1:9", AD_KEY)))
    start_rss = rss_mb()
    t0 = time.perf_counter()
    items = media_items("animaldetect", folder, IMAGE_SUFFIXES, ACCEPTED, MAX_BYTES)
    t1 = time.perf_counter()
    batch = client.submit("detect", items, start=False)
    t2 = time.perf_counter()
    peak = rss_mb()
    # the old preflight, on a subset: every file read whole and decoded in full, one at a time
    files = sorted(folder.glob("*.jpg"))[:old_n]
    t3 = time.perf_counter()
    held = []
    for f in files:
        data = f.read_bytes()
        with Image.open(io.BytesIO(data)) as im:
            im.load()
        held.append(data)
    t4 = time.perf_counter()
    return {
        "jobs": len(batch),
        "start_rss_mb": start_rss,
        "peak_rss_mb": peak,
        "preflight_s": t1 - t0,
        "submit_s": t2 - t1,
        "old_preflight_ms_each": 1000 * (t4 - t3) / max(1, len(files)),
    }


def worker_small(folder: Path, ws: Path, base: str) -> dict[str, Any]:
    from toolkit.client.ledger import Ledger
    from toolkit.client.providers.animaldetect import AnimalDetectClient
    from toolkit.client.transport import ProviderConfig, Transport

    client = AnimalDetectClient(Ledger(ws), Transport(ProviderConfig("animaldetect", base, AD_KEY, sandbox=True)))
    t0 = time.perf_counter()
    batch = client.detect(folder)
    returned = time.perf_counter() - t0
    while client.transport.requests == 0:
        time.sleep(0.001)
    first = time.perf_counter() - t0
    return {"jobs": len(batch), "detect_returned_s": returned, "first_request_s": first}


def spawn(*args: str) -> dict[str, Any]:
    p = subprocess.run([sys.executable, __file__, *args], cwd=ROOT, capture_output=True, text=True, timeout=7200)
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-3000:])
    return json.loads(p.stdout.strip().splitlines()[-1])


def large(root: Path, n: int, megabytes: float, old_n: int) -> dict[str, Any]:
    folder = root / f"photos-{n}"
    total = sum(write_photos(folder, n, megabytes)) / 1e6
    try:
        out = spawn("--worker", "large", str(folder), str(root / f"ws-large-{n}"), str(old_n))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    each = 1000 * out["preflight_s"] / n
    return {
        "scenario": "large inputs",
        "size": n,
        "input_mb": round(total),
        "start_rss_mb": round(out["start_rss_mb"], 1),
        "peak_rss_mb": round(out["peak_rss_mb"], 1),
        "rss_growth_vs_inputs": round((out["peak_rss_mb"] - out["start_rss_mb"]) / total, 4),
        "rss_vs_inputs": round(out["peak_rss_mb"] / total, 4),
        "rss_goal_400mb": out["peak_rss_mb"] <= 400,
        "preflight_ms_each": round(each, 2),
        "old_preflight_ms_each": round(out["old_preflight_ms_each"], 2),
        "preflight_vs_old": round(each / out["old_preflight_ms_each"], 3),
        "preflight_goal_10ms": each <= 10,
        "submit_ms_each": round(1000 * out["submit_s"] / n, 2),
    }


def small(root: Path, n: int) -> dict[str, Any]:
    folder = root / f"small-{n}"
    folder.mkdir()
    for i, data in enumerate(tiny_jpegs(n, seed=7)):
        (folder / f"img-{i:05d}.jpg").write_bytes(data)
    with SandboxProcess(root / "sb-small", "--time-scale", "0.01", "--runtime", "animaldetect=0") as sb:
        out = spawn("--worker", "small", str(folder), str(root / f"ws-small-{n}"), sb.base_url("animaldetect"))
    return {
        "scenario": "small inputs",
        "size": n,
        "detect_returned_s": round(out["detect_returned_s"], 2),
        "first_request_s": round(out["first_request_s"], 2),
        "first_request_goal_3s": out["first_request_s"] <= 3.0,
    }


def table(rows: list[dict[str, Any]]) -> str:
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    ap.add_argument("--sizes", default="1000,10000", help="numbers of ~3 MB photos (default 1000,10000)")
    ap.add_argument("--megabytes", type=float, default=3.0, help="size of each photo")
    ap.add_argument("--small", type=int, default=10000, help="number of tiny JPEGs for the first-request figure")
    ap.add_argument("--out", type=Path, default=ROOT / "test-output" / "bench")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, so CI keeps the script alive")
    args = ap.parse_args()
    if args.worker:
        kind, *rest = args.worker
        if kind == "large":
            out = worker_large(Path(rest[0]), Path(rest[1]), int(rest[2]))
        else:
            out = worker_small(Path(rest[0]), Path(rest[1]), rest[2])
        print(json.dumps(out))
        return
    sizes = [20, 40] if args.smoke else [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-inputs-", dir="/tmp") as tmp:
        root = Path(tmp)
        for n in sizes:
            need = n * args.megabytes * 1e6 * 1.1
            if shutil.disk_usage(root).free < need:
                raise SystemExit(f"{n} photos need {need / 1e9:.0f} GB free under /tmp; pass smaller --sizes")
            print(f"large inputs, {n} x {args.megabytes} MB ...", flush=True)
            rows.append(large(root, n, args.megabytes, old_n=min(n, 10 if args.smoke else 100)))
        n_small = 50 if args.smoke else args.small
        print(f"small inputs, {n_small} ...", flush=True)
        rows.append(small(root, n_small))
    md = f"Machine: {machine()}\n\n" + table(rows)
    write_results(args.out, "bench_inputs", {"machine": machine(), "rows": rows, "when": time.strftime("%F %H:%M")}, md)
    print(md)


if __name__ == "__main__":
    main()
