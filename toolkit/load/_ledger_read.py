"""What the columnar store reads from a workspace's ledger and cache: the jobs of a provider (only the columns a
load needs, each made a ``Job`` only when asked for) and the cached results of those it builds (read, verified
and parsed on a pool of threads, with orjson)."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Sequence, overload

import numpy as np
import orjson

from ..client.model import Job, Status

if TYPE_CHECKING:
    from ..client.ledger import Ledger

_STATUS = {s.value: s for s in Status}


class _Jobs(Sequence[Job]):
    """A workspace's jobs as read from its ledger, each made a ``Job`` only when asked for (a warm load of a
    season reads 100k rows and looks at few); ``gens``: the ledger generation of each row's last change,
    ``generation``: the ledger's (id and epoch, generation) read before the rows (None: too old to count)."""

    def __init__(self, provider: str, rows: list[tuple[Any, ...]], generation: tuple[str, int] | None) -> None:
        self.provider, self.rows, self.generation = provider, rows, generation
        self.keys = [r[0] for r in rows]
        self.gens = np.fromiter((r[7] for r in rows), dtype=np.int64, count=len(rows))

    def __len__(self) -> int:
        return len(self.rows)

    @overload
    def __getitem__(self, i: int) -> Job: ...
    @overload
    def __getitem__(self, i: slice) -> list[Job]: ...
    def __getitem__(self, i: int | slice) -> Job | list[Job]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        k, op, inp, status, job_id, fin, digest, _ = self.rows[i]
        job = Job(k, self.provider, op, inp, "", _STATUS[status], job_id, created_at=0.0)
        job.finished_at, job.result_digest, job.meta = fin, digest, _PARTIAL
        return job

    def succeeded(self) -> dict[str, str]:
        """``{job id (or input): result digest}`` of the succeeded jobs with a result."""
        ok = Status.SUCCEEDED.value
        return {r[4] or r[2]: r[6] for r in self.rows if r[3] == ok and r[6]}


def _workspace_jobs(ledger: "Ledger", provider: str) -> _Jobs:
    """Every job of ``provider`` in ledger order, with only what a fingerprint needs (``Ledger.jobs`` decodes
    every row's JSON fields, which costs more than reading a season's columns); ``_full`` reads the rest."""
    generation = ledger.generation()  # before the rows: a row changed meanwhile has a larger gen
    with ledger._lock:
        rows = ledger._db.execute(
            f"SELECT key, operation, input, status, job_id, finished_at, result_digest, "
            f"{'gen' if generation else '0'} FROM jobs WHERE provider=? ORDER BY created_at",
            (provider,),
        ).fetchall()
    return _Jobs(provider, rows, generation)


class _Partial(dict[str, Any]):
    """The meta of a job read by ``_workspace_jobs``: the rest of its row is still in the ledger."""


_PARTIAL = _Partial()


#: what ``record`` reads of a job beyond ``_workspace_jobs``' columns (no urls: a load never needs them)
_REST = "key, batch_id, error_code, error_message, http_status, created_at, submitted_at, started_at, options, meta"


def _full(ledger: "Ledger", jobs: list[Job]) -> list[Job]:
    """``jobs`` with every field a load reads, where ``_workspace_jobs`` read only a few (the JSON fields
    decoded with orjson; a season's rows are many)."""
    partial = [j for j in jobs if j.meta is _PARTIAL]
    if not partial:
        return jobs
    with ledger._lock:
        if len(partial) > 500:
            rows = ledger._db.execute(f"SELECT {_REST} FROM jobs WHERE provider=?", (partial[0].provider,)).fetchall()
        else:
            keys = [j.key for j in partial]
            rows = ledger._db.execute(
                f"SELECT {_REST} FROM jobs WHERE key IN ({','.join('?' * len(keys))})", keys
            ).fetchall()
    rest = {r[0]: r for r in rows}
    for j in partial:
        r = rest.get(j.key)
        if r is None:
            continue
        _, j.batch_id, j.error_code, j.error_message, j.http_status, j.created_at = r[:6]
        j.submitted_at, j.started_at = r[6], r[7]
        j.options, j.meta = _object(r[8]), _object(r[9])
    return jobs


def _object(text: str) -> dict[str, Any]:
    value = _parse(text)
    return value if isinstance(value, dict) else {}


#: results read per task of the pool: enough to make a task's overhead small, few enough to share the work
CHUNK = 256


def read_results(ledger: "Ledger", digests: Sequence[str | None]) -> list[tuple[bool, Any]]:
    """``(found, parsed result)`` per digest (``(False, None)`` for none, or one missing or damaged in the
    cache): files read, checked against their digest and parsed on a thread per core (reading and hashing
    release the GIL)."""
    chunks = [digests[i : i + CHUNK] for i in range(0, len(digests), CHUNK)]
    if len(chunks) <= 1:
        return _read_chunk(ledger, digests)
    with ThreadPoolExecutor(max_workers=min(len(chunks), os.cpu_count() or 2)) as pool:
        return [r for part in pool.map(lambda c: _read_chunk(ledger, c), chunks) for r in part]


def _read_chunk(ledger: "Ledger", digests: Sequence[str | None]) -> list[tuple[bool, Any]]:
    out: list[tuple[bool, Any]] = []
    for d in digests:
        data = ledger.get_result(d) if d else None
        out.append((False, None) if data is None else (True, _parse(data)))
    return out


def _parse(data: bytes | str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:  # NaN, Infinity or integers beyond 64 bits: what json reads and orjson not
        return json.loads(data)
