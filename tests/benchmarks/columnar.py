"""Shared by detections.py and features.py: a settled workspace of synthetic results, written straight into a
ledger and its result cache (what a finished season looks like on disk, without running the jobs)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from toolkit.client.ledger import _COLUMNS, _JSON, Ledger
from toolkit.client.model import Job, Status


def settled_workspace(path: Path, provider: str, operation: str, results: list[tuple[str, dict[str, Any]]]) -> None:
    """A ledger of ``results`` (input, result JSON), all succeeded, each result in the cache."""
    ledger = Ledger(path)
    batch = uuid.uuid4().hex[:12]
    rows, now = [], time.time()
    for i, (inp, result) in enumerate(results):
        digest = ledger.put_result(json.dumps(result).encode())
        job = Job(
            key=f"{batch}{i:020d}",
            provider=provider,
            operation=operation,
            input=inp,
            batch_id=batch,
            status=Status.SUCCEEDED,
            job_id=result.get("job_id") or f"job-{i}",
            created_at=now + i * 1e-6,
            submitted_at=now,
            finished_at=now + 1,
            result_digest=digest,
            meta={"aoi_name": inp} if provider == "sateais" else {},
        )
        d = asdict(job)
        d["status"] = job.status.value
        for k in _JSON:
            d[k] = json.dumps(d[k])
        rows.append([d[c] for c in _COLUMNS])
    with ledger._lock:
        ledger._db.executemany(
            f"INSERT INTO jobs ({','.join(_COLUMNS)}) VALUES ({','.join('?' * len(_COLUMNS))})", rows
        )
        ledger._db.commit()
    ledger.close()


def main(run: Callable[[int, Path], dict[str, Any]], name: str, sizes_help: str) -> None:
    """The command line both loader benchmarks share: ``--sizes`` runs of ``run(n, root)`` in a temporary root,
    the rows written to ``--out`` as JSON."""
    import argparse
    import json
    import shutil
    import tempfile

    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000", help=sizes_help)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    try:
        rows = [run(int(n), root) for n in args.sizes.split(",")]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"rows": rows}, indent=2))
