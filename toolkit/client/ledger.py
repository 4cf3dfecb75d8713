"""The ledger: a SQLite record of every job, written before a create request goes out, plus a result cache.

It is what makes submission exactly-once (a re-run finds the row and re-attaches instead of creating), resume
after a kernel restart possible, and re-runs of finished work free (results come from the cache, no HTTP).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Iterable

from ..sqlite import open_db
from .model import Job, Status

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
  key TEXT PRIMARY KEY,
  provider TEXT NOT NULL, operation TEXT NOT NULL, input TEXT NOT NULL, batch_id TEXT NOT NULL,
  status TEXT NOT NULL, job_id TEXT, provider_status TEXT,
  error_code TEXT, error_message TEXT, http_status INTEGER,
  created_at REAL NOT NULL, submitted_at REAL, started_at REAL, finished_at REAL,
  result_digest TEXT, urls TEXT NOT NULL DEFAULT '{}', options TEXT NOT NULL DEFAULT '{}',
  meta TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS jobs_batch ON jobs(batch_id);
CREATE INDEX IF NOT EXISTS jobs_provider ON jobs(provider, status);
CREATE TABLE IF NOT EXISTS batches (
  id TEXT PRIMARY KEY, provider TEXT NOT NULL, operation TEXT NOT NULL, created_at REAL NOT NULL,
  keys TEXT NOT NULL, spec TEXT NOT NULL DEFAULT '{}'
);
"""
_JSON = ("urls", "options", "meta")
_COLUMNS = [f.name for f in fields(Job)]


def idempotency_key(provider: str, operation: str, options: dict[str, Any], content: bytes | str) -> str:
    """Stable key of one submission: the same provider, operation, options and input bytes give the same key."""
    h = hashlib.sha256()
    h.update(f"{provider}\0{operation}\0{json.dumps(options, sort_keys=True, default=str)}\0".encode())
    h.update(content.encode() if isinstance(content, str) else content)
    return h.hexdigest()[:32]


class Ledger:
    """Thread-safe ledger in ``{path}/ledger.sqlite3`` with results under ``{path}/cache``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.cache_dir = self.path / "cache"
        self._lock = threading.RLock()
        self._db = open_db(self.path / "ledger.sqlite3", SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- jobs ---------------------------------------------------------------------------------------
    def get(self, key: str) -> Job | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE key=?", (key,)).fetchone()
        return _job(row) if row else None

    def insert(self, job: Job) -> None:
        """Record the intent to submit. Written (and committed) before any create request is sent."""
        d = asdict(job)
        d["status"] = job.status.value
        for k in _JSON:
            d[k] = json.dumps(d[k], default=str)
        with self._lock:
            self._db.execute(
                f"INSERT INTO jobs ({','.join(_COLUMNS)}) VALUES ({','.join('?' * len(_COLUMNS))})",
                [d[c] for c in _COLUMNS],
            )

    def save(self, job: Job, *names: str) -> None:
        """Persist the named fields of ``job`` (all fields when none are named)."""
        names = names or tuple(c for c in _COLUMNS if c != "key")
        args = []
        for n in names:
            v = getattr(job, n)
            args.append(v.value if isinstance(v, Status) else json.dumps(v, default=str) if n in _JSON else v)
        with self._lock:
            self._db.execute(f"UPDATE jobs SET {', '.join(f'{n}=?' for n in names)} WHERE key=?", [*args, job.key])

    def jobs(self, *, batch_id: str | None = None, provider: str | None = None,
             statuses: Iterable[Status] | None = None, keys: Iterable[str] | None = None) -> list[Job]:
        where, args = ["1=1"], []
        if batch_id:
            where.append("batch_id=?")
            args.append(batch_id)
        if provider:
            where.append("provider=?")
            args.append(provider)
        if statuses:
            st = [s.value for s in statuses]
            where.append(f"status IN ({','.join('?' * len(st))})")
            args += st
        with self._lock:
            rows = self._db.execute(f"SELECT * FROM jobs WHERE {' AND '.join(where)} ORDER BY created_at", args).fetchall()
        out = [_job(r) for r in rows]
        if keys is not None:
            order = {k: i for i, k in enumerate(keys)}
            out = sorted((j for j in out if j.key in order), key=lambda j: order[j.key])
        return out

    def runtimes(self, provider: str, operation: str, *, exclude_batch: str | None = None,
                 limit: int = 200) -> list[float]:
        """Submit-to-finish seconds of the latest finished jobs of one provider and operation (the poller's prior)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT finished_at - submitted_at FROM jobs WHERE provider=? AND operation=? AND batch_id != ?"
                " AND status IN ('succeeded', 'failed') AND submitted_at IS NOT NULL AND finished_at IS NOT NULL"
                " ORDER BY finished_at DESC LIMIT ?", (provider, operation, exclude_batch or "", limit)).fetchall()
        return [r[0] for r in rows]

    # -- batches ------------------------------------------------------------------------------------
    def save_batch(self, batch_id: str, provider: str, operation: str, keys: list[str], spec: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO batches VALUES (?,?,?,?,?,?)",
                (batch_id, provider, operation, time.time(), json.dumps(keys), json.dumps(spec, default=str)),
            )

    def batch(self, batch_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM batches WHERE id=?", (batch_id,)).fetchone()
        if row is None:
            return None
        d = dict(row)
        d["keys"] = json.loads(d["keys"])
        d["spec"] = json.loads(d["spec"])
        return d

    def batches(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT id, provider, operation, created_at FROM batches ORDER BY created_at").fetchall()
        return [dict(r) for r in rows]

    # -- result cache -------------------------------------------------------------------------------
    def put_result(self, content: bytes) -> str:
        """Store bytes content-addressed (write ``.part``, then rename); return their digest."""
        digest = hashlib.sha256(content).hexdigest()
        path = self.result_path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + f".{threading.get_ident()}.part")
            tmp.write_bytes(content)
            tmp.replace(path)
        return digest

    def result_path(self, digest: str) -> Path:
        return self.cache_dir / digest[:2] / digest

    def get_result(self, digest: str) -> bytes | None:
        """Cached bytes, verified against their digest (a corrupt file is treated as missing)."""
        path = self.result_path(digest)
        if not path.is_file():
            return None
        content = path.read_bytes()
        if hashlib.sha256(content).hexdigest() != digest:
            path.unlink(missing_ok=True)
            return None
        return content


def _job(row: sqlite3.Row) -> Job:
    d = dict(row)
    d["status"] = Status(d["status"])
    for k in _JSON:
        d[k] = json.loads(d[k])
    return Job(**d)
