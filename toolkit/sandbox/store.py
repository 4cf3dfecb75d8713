"""Durable sandbox state: one SQLite file (WAL) for jobs and signatures, a blob directory for bytes.

Every read of a job is scoped by provider and tenant, so no route can leak another tenant's job.
Jobs move through one internal lifecycle that each provider maps to its own status words:
``created -> queued -> processing -> succeeded | failed`` (and ``cancelled``).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ..sqlite import open_db

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  provider TEXT NOT NULL,
  tenant TEXT NOT NULL,
  kind TEXT NOT NULL,
  state TEXT NOT NULL,
  created_at REAL NOT NULL,
  updated_at REAL NOT NULL,
  queued_at REAL, started_at REAL, finish_at REAL, completed_at REAL,
  runtime REAL NOT NULL DEFAULT 0,
  computed INTEGER NOT NULL DEFAULT 0,
  will_fail INTEGER NOT NULL DEFAULT 0,
  request TEXT NOT NULL DEFAULT '{}',
  data TEXT NOT NULL DEFAULT '{}',
  result TEXT,
  error_code TEXT, error_message TEXT,
  idem_key TEXT, idem_hash TEXT, input_digest TEXT
);
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs(provider, tenant, seq);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, queued_at);
CREATE INDEX IF NOT EXISTS jobs_idem ON jobs(provider, tenant, idem_key);
CREATE TABLE IF NOT EXISTS used_signatures (sig TEXT PRIMARY KEY, used_at REAL NOT NULL);
"""

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
ACTIVE = frozenset({"queued", "processing"})
_JSON_FIELDS = ("request", "data", "result")
_SQLITE_MAX = 2**63 - 1


@dataclass
class Job:
    """One sandbox job, as stored. ``data`` holds provider-specific state (uploads, slots, ...)."""

    seq: int
    id: str
    provider: str
    tenant: str
    kind: str
    state: str
    created_at: float
    updated_at: float
    queued_at: float | None = None
    started_at: float | None = None
    finish_at: float | None = None
    completed_at: float | None = None
    runtime: float = 0.0
    computed: int = 0
    will_fail: int = 0
    request: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    result: Any = None
    error_code: str | None = None
    error_message: str | None = None
    idem_key: str | None = None
    idem_hash: str | None = None
    input_digest: str | None = None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL


class Store:
    """Thread-safe access to the sandbox database and blob directory."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.blob_dir = self.data_dir / "blobs"
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = open_db(self.data_dir / "sandbox.sqlite3", SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- jobs ---------------------------------------------------------------------------------------
    def create_job(
        self,
        provider: str,
        tenant: str,
        kind: str,
        *,
        state: str = "created",
        numeric_id: bool = False,
        request: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        idem_key: str | None = None,
        idem_hash: str | None = None,
        input_digest: str | None = None,
    ) -> Job:
        """Insert a job. ``numeric_id`` gives an integer-like id (Authenta), else a UUID."""
        now = time.time()
        with self._lock, self._tx():
            cur = self._db.execute(
                "INSERT INTO jobs (id, provider, tenant, kind, state, created_at, updated_at, request, data,"
                " idem_key, idem_hash, input_digest) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    str(uuid.uuid4()),
                    provider,
                    tenant,
                    kind,
                    state,
                    now,
                    now,
                    json.dumps(request or {}),
                    json.dumps(data or {}),
                    idem_key,
                    idem_hash,
                    input_digest,
                ),
            )
            seq = cur.lastrowid
            if numeric_id:
                self._db.execute("UPDATE jobs SET id=? WHERE seq=?", (str(seq), seq))
            row = self._db.execute("SELECT * FROM jobs WHERE seq=?", (seq,)).fetchone()
        return _job(row)

    def get(self, provider: str, tenant: str, job_id: str) -> Job | None:
        """The tenant's job, brought up to date (a due job is finalized on read), or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM jobs WHERE id=? AND provider=? AND tenant=?", (str(job_id), provider, tenant)
            ).fetchone()
            if row is None:
                return None
            if row["state"] == "processing" and row["computed"] and row["finish_at"] <= time.time():
                self.finalize_due(job_seq=row["seq"])
                row = self._db.execute("SELECT * FROM jobs WHERE seq=?", (row["seq"],)).fetchone()
        return _job(row)

    def get_any(self, job_id: str) -> Job | None:
        """A job by id regardless of tenant: for the worker and for signed URLs, never for API routes."""
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id=?", (str(job_id),)).fetchone()
        return _job(row) if row else None

    def find_idempotent(self, provider: str, tenant: str, idem_key: str, since: float) -> Job | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM jobs WHERE provider=? AND tenant=? AND idem_key=? AND created_at>=? ORDER BY seq LIMIT 1",
                (provider, tenant, idem_key, since),
            ).fetchone()
        return _job(row) if row else None

    def list(
        self, provider: str, tenant: str, *, states: Iterator[str] | None = None, offset: int = 0, limit: int = 100
    ) -> tuple[list[Job], int]:
        """A page of the tenant's jobs, newest first, and the total count."""
        # SQLite integers are 64-bit: a page number from a query string can overflow the OFFSET.
        offset, limit = min(max(0, offset), _SQLITE_MAX), min(max(0, limit), _SQLITE_MAX)
        self.finalize_due()
        where = "provider=? AND tenant=?"
        args: list[Any] = [provider, tenant]
        if states:
            states = list(states)
            where += f" AND state IN ({','.join('?' * len(states))})"
            args += states
        with self._lock:
            total = self._db.execute(f"SELECT count(*) FROM jobs WHERE {where}", args).fetchone()[0]
            rows = self._db.execute(
                f"SELECT * FROM jobs WHERE {where} ORDER BY seq DESC LIMIT ? OFFSET ?", [*args, limit, offset]
            ).fetchall()
        return [_job(r) for r in rows], total

    def count_active(self, provider: str, tenant: str) -> int:
        self.finalize_due()
        with self._lock:
            return self._db.execute(
                "SELECT count(*) FROM jobs WHERE provider=? AND tenant=? AND state IN ('queued','processing')",
                (provider, tenant),
            ).fetchone()[0]

    def update(self, job_id: str, *, expect_state: str | tuple[str, ...] | None = None, **fields: Any) -> bool:
        """Set fields on a job; with ``expect_state`` only if the job is still in (one of) that state.

        Returns whether a row changed, so callers can detect races (cancel vs. start, reused URLs).
        """
        fields["updated_at"] = time.time()
        sets, args = [], []
        for k, v in fields.items():
            sets.append(f"{k}=?")
            args.append(json.dumps(v) if k in _JSON_FIELDS else v)
        sql = f"UPDATE jobs SET {', '.join(sets)} WHERE id=?"
        args.append(str(job_id))
        if expect_state is not None:
            states = (expect_state,) if isinstance(expect_state, str) else expect_state
            sql += f" AND state IN ({','.join('?' * len(states))})"
            args += list(states)
        with self._lock, self._tx():
            return self._db.execute(sql, args).rowcount > 0

    def delete(self, job_id: str) -> None:
        with self._lock, self._tx():
            self._db.execute("DELETE FROM jobs WHERE id=?", (str(job_id),))
        blob = self.blob_dir / _safe(job_id)
        if blob.is_dir():
            for p in blob.iterdir():
                p.unlink(missing_ok=True)
            blob.rmdir()

    # -- worker support -----------------------------------------------------------------------------
    def claim_queued(self, limit: int) -> list[Job]:
        """Move up to ``limit`` queued jobs to processing (oldest first); their runtime starts now."""
        now = time.time()
        with self._lock, self._tx():
            rows = self._db.execute(
                "SELECT seq FROM jobs WHERE state='queued' ORDER BY queued_at, seq LIMIT ?", (limit,)
            ).fetchall()
            seqs = [r["seq"] for r in rows]
            if not seqs:
                return []
            marks = ",".join("?" * len(seqs))
            self._db.execute(
                f"UPDATE jobs SET state='processing', started_at=?, finish_at=?+runtime, updated_at=? WHERE seq IN ({marks})",
                (now, now, now, *seqs),
            )
            rows = self._db.execute(f"SELECT * FROM jobs WHERE seq IN ({marks})", seqs).fetchall()
        return [_job(r) for r in rows]

    def uncomputed_processing(self) -> list[Job]:
        """Jobs whose computation was lost (sandbox restarted mid-job): they are computed again."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM jobs WHERE state='processing' AND computed=0").fetchall()
        return [_job(r) for r in rows]

    def finalize_due(self, job_seq: int | None = None) -> int:
        """Move computed processing jobs whose runtime has elapsed to succeeded/failed."""
        now = time.time()
        sql = (
            "UPDATE jobs SET state=CASE WHEN error_code IS NULL THEN 'succeeded' ELSE 'failed' END,"
            " completed_at=finish_at, updated_at=? WHERE state='processing' AND computed=1 AND finish_at<=?"
        )
        args: list[Any] = [now, now]
        if job_seq is not None:
            sql += " AND seq=?"
            args.append(job_seq)
        with self._lock, self._tx():
            return self._db.execute(sql, args).rowcount

    def next_finish_at(self) -> float | None:
        with self._lock:
            row = self._db.execute("SELECT min(finish_at) FROM jobs WHERE state='processing' AND computed=1").fetchone()
        return row[0]

    def queued_count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM jobs WHERE state='queued'").fetchone()[0]

    # -- signatures (single-use URLs) ---------------------------------------------------------------
    def use_signature(self, sig: str) -> bool:
        """Record a single-use signature; False if it was used before."""
        with self._lock, self._tx():
            try:
                self._db.execute("INSERT INTO used_signatures VALUES (?, ?)", (sig, time.time()))
            except sqlite3.IntegrityError:
                return False
        return True

    def release_signature(self, sig: str) -> None:
        """Forget a single-use signature whose upload did not complete."""
        with self._lock, self._tx():
            self._db.execute("DELETE FROM used_signatures WHERE sig=?", (sig,))

    # -- statistics ---------------------------------------------------------------------------------
    def job_counts(self) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(
                "SELECT provider, tenant, state, count(*) AS n FROM jobs GROUP BY provider, tenant, state"
            ).fetchall()

    def duplicate_counts(self, column: str) -> list[sqlite3.Row]:
        """Jobs per idempotency key or input digest (``column``), per provider and tenant."""
        assert column in ("idem_key", "input_digest")
        with self._lock:
            return self._db.execute(
                f"SELECT provider, tenant, {column} AS value, count(*) AS n FROM jobs"
                f" WHERE {column} IS NOT NULL GROUP BY provider, tenant, {column}"
            ).fetchall()

    # -- blobs --------------------------------------------------------------------------------------
    def blob_path(self, job_id: str, name: str, *, create: bool = True) -> Path:
        """Where a job's named blob lives; names are sanitised so no path can leave the blob dir."""
        folder = self.blob_dir / _safe(job_id)
        if create:  # only writers make folders: a read of a made-up id leaves nothing behind
            folder.mkdir(parents=True, exist_ok=True)
        return folder / _safe(name)

    def write_blob(self, job_id: str, name: str, content: bytes) -> Path:
        path = self.blob_path(job_id, name)
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(content)
        tmp.replace(path)
        return path

    def read_blob(self, job_id: str, name: str) -> bytes | None:
        path = self.blob_path(job_id, name, create=False)
        return path.read_bytes() if path.is_file() else None

    # -- helpers ------------------------------------------------------------------------------------
    class _Tx:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def __enter__(self) -> None:
            self.db.execute("BEGIN IMMEDIATE")

        def __exit__(self, exc_type: Any, *_: Any) -> None:
            self.db.execute("ROLLBACK" if exc_type else "COMMIT")

    def _tx(self) -> "Store._Tx":
        return Store._Tx(self._db)


def _safe(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name)).lstrip(".")
    return cleaned or "_"


def _job(row: sqlite3.Row) -> Job:
    d = dict(row)
    for k in _JSON_FIELDS:
        if d[k] is not None:
            d[k] = json.loads(d[k])
    return Job(**d)
