"""The ledger: a SQLite record of every job, written before a create request goes out, plus a result cache.

It is what makes submission exactly-once (a re-run finds the row and re-attaches instead of creating), resume
after a kernel restart possible, and re-runs of finished work free (results come from the cache, no HTTP).
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
import warnings
import weakref
from dataclasses import fields
from pathlib import Path
from typing import Any, Iterable

from ..sqlite import SchemaTooNew, open_db
from .cache import SENT_KEYS, DiskFullError, ResultCache, _disk_full
from .filedata import FileInput
from . import owners
from .model import Job, Status, ToolkitError
from .transport import strip_credentials

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
  key TEXT PRIMARY KEY,
  provider TEXT NOT NULL, operation TEXT NOT NULL, input TEXT NOT NULL, batch_id TEXT NOT NULL,
  status TEXT NOT NULL, job_id TEXT, provider_status TEXT,
  error_code TEXT, error_message TEXT, http_status INTEGER,
  created_at REAL NOT NULL, submitted_at REAL, started_at REAL, finished_at REAL,
  result_digest TEXT, urls TEXT NOT NULL DEFAULT '{}', options TEXT NOT NULL DEFAULT '{}',
  meta TEXT NOT NULL DEFAULT '{}', gen INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_batch ON jobs(batch_id);
CREATE INDEX IF NOT EXISTS jobs_provider ON jobs(provider, status);
CREATE TABLE IF NOT EXISTS stamp (k TEXT PRIMARY KEY, v TEXT NOT NULL);
INSERT OR IGNORE INTO stamp VALUES ('generation', '0');
CREATE TRIGGER IF NOT EXISTS jobs_gen_insert AFTER INSERT ON jobs BEGIN
  UPDATE stamp SET v = CAST(v AS INTEGER) + 1 WHERE k = 'generation';
  UPDATE jobs SET gen = (SELECT CAST(v AS INTEGER) FROM stamp WHERE k = 'generation') WHERE rowid = NEW.rowid;
END;
CREATE TRIGGER IF NOT EXISTS jobs_gen_update AFTER UPDATE ON jobs WHEN NEW.gen IS OLD.gen BEGIN
  UPDATE stamp SET v = CAST(v AS INTEGER) + 1 WHERE k = 'generation';
  UPDATE jobs SET gen = (SELECT CAST(v AS INTEGER) FROM stamp WHERE k = 'generation') WHERE rowid = NEW.rowid;
END;
CREATE TRIGGER IF NOT EXISTS jobs_gen_delete AFTER DELETE ON jobs BEGIN
  UPDATE stamp SET v = CAST(v AS INTEGER) + 1 WHERE k = 'generation';
END;
CREATE TABLE IF NOT EXISTS batches (
  id TEXT PRIMARY KEY, provider TEXT NOT NULL, operation TEXT NOT NULL, created_at REAL NOT NULL,
  keys TEXT NOT NULL, spec TEXT NOT NULL DEFAULT '{}'
);
"""
_JSON = ("urls", "options", "meta")
_COLUMNS = [f.name for f in fields(Job)]
#: the states a row may move to each state from. A row never moves backwards: a process that lags behind
#: (another kernel already submitted, or finished, the same job) adopts the row instead of overwriting it.
#: Moving a finished job back to work is ``reopen``'s, never ``save``'s.
_LIVE = (Status.DRAFT, Status.QUEUED, Status.RUNNING)
_FROM: dict[Status, tuple[Status, ...]] = {
    Status.DRAFT: (Status.DRAFT,),
    Status.QUEUED: (Status.DRAFT, Status.QUEUED),
    Status.RUNNING: _LIVE,
    Status.SUCCEEDED: tuple(Status),  # the provider's word on success settles any earlier local verdict
    Status.FAILED: (*_LIVE, Status.FAILED),
    Status.CANCELLED: (*_LIVE, Status.CANCELLED),
    Status.EXPIRED: (*_LIVE, Status.SUCCEEDED, Status.FAILED, Status.EXPIRED),
}
#: fields that travel with a status: written only when the status write is allowed
_STATUS_FIELDS = ("status", "provider_status", "error_code", "error_message", "http_status", "finished_at")


class LedgerError(ToolkitError):
    """The ledger file is unreadable, or does not belong with the workspace's cache."""


class ReadOnlyWorkspace(LedgerError):
    """A write (a submit, a retry, a status) to a workspace that opened read-only."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"the workspace {path} is read-only ({reason}): its results can be loaded, but nothing can be "
            "submitted, retried or recorded there. Copy the folder to a writable place and open the copy, "
            "or use another workspace for new work."
        )


def _read_only(folder: Path, db_path: Path) -> str | None:
    """Why ``folder`` (or its ledger) cannot be written, or None. ``os.access`` answers for the real user and
    for a read-only file system (``EROFS``), where root is refused as well."""
    for p in (folder, db_path):
        if p.exists() and not os.access(p, os.W_OK):
            try:
                fs = os.statvfs(p)
            except OSError:
                return f"{p} is not writable"
            return "a read-only file system" if fs.f_flag & os.ST_RDONLY else f"{p} is not writable"
    return None


def _migrate_unversioned(db: sqlite3.Connection) -> None:
    """Version 0 -> 1: a ledger written before versions were stamped (toolkit up to issue 21). The oldest has
    no ``stamp`` table (the schema adds it), nor these later columns; a table missing a column without a
    default is not a ledger this toolkit can read."""
    added = {"jobs": ("urls", "options", "meta"), "batches": ("spec",)}
    for table, columns in added.items():
        have = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
        if not have:
            continue  # the schema creates it
        for column in columns:
            if column not in have:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} TEXT NOT NULL DEFAULT '{{}}'")


def _migrate_generation(db: sqlite3.Connection) -> None:
    """Version 1 -> 2: ``jobs.gen``, the ledger generation of a row's last change (the schema's triggers bump
    the ``generation`` stamp and set it in the same transaction as every row change; the columnar store
    re-checks only rows changed since it last looked). Rows already there start at generation 0."""
    have = {r[1] for r in db.execute("PRAGMA table_info(jobs)")}
    if have and "gen" not in have:  # no table: the schema creates it
        db.execute("ALTER TABLE jobs ADD COLUMN gen INTEGER NOT NULL DEFAULT 0")


#: ``PRAGMA user_version`` of the ledger this toolkit writes; ``MIGRATIONS[v]`` brings version v to v + 1
LEDGER_VERSION = 2
MIGRATIONS = [_migrate_unversioned, _migrate_generation]


def idempotency_key(provider: str, operation: str, options: dict[str, Any], content: bytes | str | FileInput) -> str:
    """Stable key of one submission: the same provider, operation, options and input bytes give the same key
    (a ``FileInput`` is streamed from its file: the same key as its bytes, without holding them)."""
    h = hashlib.sha256()
    h.update(f"{provider}\0{operation}\0{json.dumps(options, sort_keys=True, default=str)}\0".encode())
    if isinstance(content, FileInput):
        content.feed(h)
    else:
        h.update(content.encode() if isinstance(content, str) else content)
    return h.hexdigest()[:32]


class Ledger(ResultCache):
    """Thread-safe ledger in ``{path}/ledger.sqlite3`` with results under ``{path}/cache``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise LedgerError(
                f"cannot make the workspace folder {self.path} ({e.strerror or e}): a workspace needs a folder "
                "it can write to. Give Workspace() (or TOOLKIT_WORKSPACE) a writable folder."
            ) from None
        self.cache_dir = self.path / "cache"
        self._lock = threading.RLock()
        self.db_path = db_path = self.path / "ledger.sqlite3"
        #: why nothing can be written here (a read-only disk or folder), or None: the ledger then opens for reading
        self.read_only: str | None = _read_only(self.path, db_path)
        try:
            self._db = self._open()
        except SchemaTooNew as e:
            raise LedgerError(
                f"{db_path} was written by a newer toolkit (ledger version {e.found}); this toolkit reads ledger "
                f"versions up to {e.supported}. Upgrade the toolkit (pip install -U toolkit) to open it; it was "
                "left unchanged."
            ) from None
        except sqlite3.DatabaseError as e:
            if _disk_full(e):
                raise DiskFullError(self.path) from None
            raise LedgerError(
                f"{db_path} is not a readable ledger ({e}). Move it aside and restore it from a "
                "backup, or move it aside to start a new ledger: results already in the cache stay, "
                "and jobs recorded as sent are reconciled with the provider before anything is sent "
                "again."
            ) from None
        self._sent_keys: set[str] | None = None
        self._job_ids: dict[str, dict[str, Any]] | None = None  # key -> its provider job, from the cache's record
        self._unsynced: list[str] = []  # keys waiting for the next group fsync (mark_sent_async)
        self._syncing: asyncio.Future[None] | None = None
        self._verified: set[str] = set()  # result digests read back intact in this process
        self.recovered_from: str | None = None  # the id of a ledger this one replaced, if it was lost
        if self.read_only is None:
            self._check_identity()
            # a new epoch per open: a copy of this file restored later (the same id, its own history of
            # generations) is never mistaken for the history a columnar store checked
            try:  # (nothing else can change the rows either where this cannot be written)
                with self._lock:
                    self._write("INSERT OR REPLACE INTO stamp VALUES ('epoch', ?)", (uuid.uuid4().hex,))
            except (DiskFullError, sqlite3.OperationalError):
                pass
            self._clean_parts()
            atexit.register(_checkpoint_at_exit, weakref.ref(self))

    def _open(self) -> sqlite3.Connection:
        """The connection: migrated to ``LEDGER_VERSION`` when writable, read as it is when read-only."""
        if self.read_only is not None:
            if not self.db_path.is_file():
                raise LedgerError(
                    f"the workspace {self.path} is read-only ({self.read_only}) and holds no ledger: a new "
                    "workspace needs a folder it can write to. Give Workspace() (or TOOLKIT_WORKSPACE) a "
                    "writable folder."
                )
            db = open_db(self.db_path, SCHEMA, version=LEDGER_VERSION, read_only=True)
        else:
            try:
                db = open_db(self.db_path, SCHEMA, version=LEDGER_VERSION, migrations=MIGRATIONS)
            except sqlite3.OperationalError as e:
                readonly = "readonly" in str(e) or "unable to open" in str(e)
                if not readonly or not self.db_path.is_file():
                    raise
                self.read_only = str(e)  # e.g. the file alone is read-only: read it as it is
                db = open_db(self.db_path, SCHEMA, version=LEDGER_VERSION, read_only=True)
        db.execute("SELECT count(*) FROM jobs").fetchone()
        return db

    def close(self) -> None:
        """Fold the write-ahead log into ``ledger.sqlite3`` (the file alone then holds every row) and close."""
        with self._lock:
            try:
                self.checkpoint()
            finally:
                self._db.close()

    def generation(self) -> tuple[str, int] | None:
        """(ledger id and epoch, generation): the generation grows with every change of a job row, in the
        same transaction; the epoch is new at each writable open. None for a ledger too old to count."""
        with self._lock:
            try:
                rows = dict(
                    self._db.execute("SELECT k, v FROM stamp WHERE k IN ('id', 'epoch', 'generation')").fetchall()
                )
            except sqlite3.OperationalError:
                return None
        if "generation" not in rows or "id" not in rows:
            return None
        return f"{rows['id']}:{rows.get('epoch')}", int(rows["generation"])

    def checkpoint(self) -> None:
        """Fold the write-ahead log into ``ledger.sqlite3``: copying that file alone then loses nothing."""
        if self.read_only is not None:
            return
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.DatabaseError as e:  # another process reading: the next checkpoint catches up
                if _disk_full(e):
                    raise DiskFullError(self.path) from None

    async def mark_sent_async(self, key: str) -> None:
        """``mark_sent`` for the batch loop: the append and its fsync run in a thread, and keys marked while
        one fsync runs share the next (group commit), so the loop never blocks on the disk. Returns once
        ``key`` is durable, before its create may go out."""
        keys = self.sent_keys()
        if key in keys:
            return
        self._unsynced.append(key)
        while key not in keys:
            if self._syncing is None or self._syncing.done():
                self._syncing = asyncio.ensure_future(asyncio.to_thread(self._sync_sent))
            await asyncio.shield(self._syncing)

    def _sync_sent(self) -> None:
        with self._lock:
            todo, self._unsynced = self._unsynced, []
        todo = [k for k in dict.fromkeys(todo) if k not in self.sent_keys()]
        if not todo:
            return
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        try:
            with open(self.cache_dir / SENT_KEYS, "a") as f:  # O_APPEND: whole lines across processes
                f.write("".join(k + "\n" for k in todo))
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            if _disk_full(e):
                raise DiskFullError(self.path) from None
            raise
        self.sent_keys().update(todo)

    # -- identity: a ledger and its cache belong together ----------------------------------------------
    def _check_identity(self) -> None:
        """Stamp a new ledger, and notice when it replaced a lost one (the cache still names the old one).

        A lost ledger (deleted, or copied without its ``-wal`` file) would make every input look new. The
        cache keeps the list of keys whose create was ever sent (``sent-keys``); the batch treats those as
        possibly sent and reconciles them with the provider (idempotency key, job list) before creating."""
        stamp_file = self.cache_dir / "LEDGER"
        with self._lock:
            row = self._db.execute("SELECT v FROM stamp WHERE k='id'").fetchone()
            ledger_id = row[0] if row else None
            if ledger_id is None:
                ledger_id = uuid.uuid4().hex
                self._db.execute("INSERT OR IGNORE INTO stamp VALUES ('id', ?)", (ledger_id,))
                ledger_id = self._db.execute("SELECT v FROM stamp WHERE k='id'").fetchone()[0]
            recovered = self._db.execute("SELECT v FROM stamp WHERE k='recovered_from'").fetchone()
        cached_id = stamp_file.read_text().strip() if stamp_file.is_file() else None
        if cached_id and cached_id != ledger_id:
            with self._lock:
                self._db.execute("INSERT OR REPLACE INTO stamp VALUES ('recovered_from', ?)", (cached_id,))
            sent = len(self.sent_keys())
            warnings.warn(
                f"the ledger {self.path / 'ledger.sqlite3'} is not the one this workspace's cache was "
                f"written with (it was lost, or copied without its -wal file). {sent} input(s) recorded "
                "as sent are reconciled with the provider before anything is sent again; where a provider "
                "cannot tell, the job stops with SUBMISSION_UNCERTAIN (force=True sends anew).",
                stacklevel=3,
            )
            recovered = (cached_id,)
        self.recovered_from = recovered[0] if recovered else None
        if cached_id != ledger_id:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = stamp_file.with_name(f"LEDGER.{os.getpid()}.part")
            tmp.write_text(ledger_id)
            tmp.replace(stamp_file)

    def _write(self, sql: str, args: Any = ()) -> sqlite3.Cursor:
        if self.read_only is not None:
            raise ReadOnlyWorkspace(self.path, self.read_only)
        try:
            return self._db.execute(sql, args)
        except sqlite3.OperationalError as e:
            if _disk_full(e):
                raise DiskFullError(self.path) from None
            raise

    # -- jobs ---------------------------------------------------------------------------------------
    def get(self, key: str) -> Job | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE key=?", (key,)).fetchone()
        return self._job(row) if row else None

    def insert(self, job: Job) -> Job:
        """Record the intent to submit, before any create request is sent. Returns the ledger's row: ``job``,
        or the row another process inserted first for the same key (an insert race is not an error)."""
        with self._lock:
            cur = self._write(_INSERT, _row(job))
        if cur.rowcount == 0:
            return self.get(job.key) or job
        return job

    def get_many(self, keys: Iterable[str]) -> dict[str, Job]:
        """The rows the ledger holds for ``keys``, by key, in a few queries (a batch of 10,000 is one call)."""
        keys = list(keys)
        out: dict[str, Job] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                part = keys[i : i + 500]
                for row in self._db.execute(f"SELECT * FROM jobs WHERE key IN ({','.join('?' * len(part))})", part):
                    out[row["key"]] = self._job(row)
        return out

    def insert_many(self, jobs: list[Job]) -> dict[str, Job]:
        """``insert`` for a whole batch in one transaction (one commit, not one per job). Returns the ledger's row
        per key: the job given, or the row another process inserted first."""
        if not jobs:
            return {}
        for job in jobs:
            self._adopt(job)
        self._write_many(_INSERT, [_row(job) for job in jobs])
        return self.get_many(job.key for job in jobs)

    def _write_many(self, sql: str, rows: list[Any]) -> None:
        """``sql`` for every row in one transaction (one commit), rolled back whole if it fails."""
        with self._lock:
            try:
                self._write("BEGIN IMMEDIATE")
                self._db.executemany(sql, rows)
                self._write("COMMIT")
            except sqlite3.OperationalError as e:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                if _disk_full(e):
                    raise DiskFullError(self.path) from None
                raise

    def _adopt(self, job: Job) -> None:
        """A row re-made after its ledger was lost (meta ``recovered``) takes the provider job the cache recorded
        for its key: the re-run follows that job (polls, fetches) instead of creating it again."""
        rec = self.job_ids().get(job.key) if job.meta.get("recovered") and job.job_id is None else None
        if rec is None:
            return
        job.job_id, job.urls = str(rec["job_id"]), dict(rec.get("urls") or {})
        job.meta.update(rec.get("meta") or {})
        job.meta["adopted"] = True
        if job.meta.get("submitted"):
            job.status, job.submitted_at = Status.QUEUED, job.submitted_at or time.time()

    def save(self, job: Job, *names: str) -> bool:
        """Persist the named fields of ``job`` (all fields when none are named); a provider job id written is
        also recorded in the cache (``record_job_id``), which outlives a lost ledger. Returns whether the status
        (if named) was written (see ``_save``)."""
        written = self._save(job, *names)
        if job.job_id and (not names or {"job_id", "urls", "meta"} & set(names)):
            self.record_job_id(job)
        return written

    def _save(self, job: Job, *names: str) -> bool:
        """A status is compared and set: when the row has moved on (another process submitted or finished the
        job), the status fields are not written and ``job`` adopts the row's. Returns whether the status (if
        named) was written."""
        names = names or tuple(c for c in _COLUMNS if c != "key")
        with self._lock:
            if "status" in names:
                allowed = [s.value for s in _FROM[job.status]]
                cur = self._write(
                    f"UPDATE jobs SET {self._set(job, names)} WHERE key=? AND status IN "
                    f"({','.join('?' * len(allowed))})",
                    [*self._args(job, names), job.key, *allowed],
                )
                if cur.rowcount:
                    return True
                row = self._db.execute("SELECT * FROM jobs WHERE key=?", (job.key,)).fetchone()
                if row is None:
                    return False
                truth = self._job(row)
                for n in (*_STATUS_FIELDS, "result_digest", "job_id", "urls", "started_at", "submitted_at"):
                    if n in _STATUS_FIELDS or getattr(job, n) in (None, {}):
                        setattr(job, n, getattr(truth, n))
                job.meta = {**truth.meta, **job.meta}
                names = tuple(n for n in names if n not in _STATUS_FIELDS)
                if not names:
                    return False
                self._write(f"UPDATE jobs SET {self._set(job, names)} WHERE key=?", [*self._args(job, names), job.key])
                return False
            self._write(f"UPDATE jobs SET {self._set(job, names)} WHERE key=?", [*self._args(job, names), job.key])
            return True

    def reopen(self, job: Job, status: Status) -> bool:
        """Move a failed job back to work (a re-run resumes it), only if no other process has done so first."""
        was = job.status
        with self._lock:
            cur = self._write(
                "UPDATE jobs SET status=?, error_code=NULL, error_message=NULL, http_status=NULL, "
                "finished_at=NULL, meta=? WHERE key=? AND status=?",
                (status.value, json.dumps(job.meta, default=str), job.key, was.value),
            )
        if cur.rowcount:
            job.status, job.error_code, job.error_message, job.http_status, job.finished_at = (
                status,
                None,
                None,
                None,
                None,
            )
            return True
        fresh = self.get(job.key)
        if fresh is not None:
            job.__dict__.update(fresh.__dict__)
        return False

    def claim_create(self, job: Job, owner: str) -> str | None:
        """Take the right to send ``job``'s create (one process at a time per key). Returns None when taken,
        else the live owner that holds it. The claim of a process that is gone (on this host), or one older
        than ``CLAIM_LEASE`` (another host's, which cannot be checked), is taken over."""
        with self._lock:
            row = self._db.execute(
                "SELECT json_extract(meta, '$.create_owner'), json_extract(meta, '$.create_claimed')"
                " FROM jobs WHERE key=?",
                (job.key,),
            ).fetchone()
            holder, claimed = (row[0], row[1]) if row else (None, None)
            if holder not in (None, owner) and _owner_alive(holder, claimed):
                return holder
            self._write(
                "UPDATE jobs SET meta=json_set(meta, '$.create_owner', ?, '$.create_claimed', ?) WHERE key=? "
                "AND coalesce(json_extract(meta, '$.create_owner'), '') = ?",
                (owner, time.time(), job.key, holder or ""),
            )
            now = self._db.execute(
                "SELECT json_extract(meta, '$.create_owner') FROM jobs WHERE key=?", (job.key,)
            ).fetchone()
        if now and now[0] == owner:
            job.meta["create_owner"] = owner
            return None
        return now[0] if now else None

    def _job(self, row: sqlite3.Row) -> Job:
        try:
            return _job(row)
        except (KeyError, TypeError, ValueError) as e:  # JSONDecodeError is a ValueError
            key = row["key"] if "key" in row.keys() else "?"
            raise _malformed(self.db_path, f"job {key}", e) from None

    def _set(self, job: Job, names: tuple[str, ...]) -> str:
        return ", ".join(f"{n}=?" for n in names)

    def _args(self, job: Job, names: tuple[str, ...]) -> list[Any]:
        args = []
        for n in names:
            v = getattr(job, n)
            if n == "urls":
                v = _stored_urls(v)
            args.append(v.value if isinstance(v, Status) else json.dumps(v, default=str) if n in _JSON else v)
        return args

    def jobs(
        self,
        *,
        batch_id: str | None = None,
        provider: str | None = None,
        statuses: Iterable[Status] | None = None,
        keys: Iterable[str] | None = None,
    ) -> list[Job]:
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
            rows = self._db.execute(
                f"SELECT * FROM jobs WHERE {' AND '.join(where)} ORDER BY created_at", args
            ).fetchall()
        out = [self._job(r) for r in rows]
        if keys is not None:
            order = {k: i for i, k in enumerate(keys)}
            out = sorted((j for j in out if j.key in order), key=lambda j: order[j.key])
        return out

    def runtimes(
        self, provider: str, operation: str, *, exclude_batch: str | None = None, limit: int = 200
    ) -> list[float]:
        """Submit-to-finish seconds of the latest finished jobs of one provider and operation (the poller's prior)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT finished_at - submitted_at FROM jobs WHERE provider=? AND operation=? AND batch_id != ?"
                " AND status IN ('succeeded', 'failed') AND submitted_at IS NOT NULL AND finished_at IS NOT NULL"
                " ORDER BY finished_at DESC LIMIT ?",
                (provider, operation, exclude_batch or "", limit),
            ).fetchall()
        return [r[0] for r in rows]

    # -- batches ------------------------------------------------------------------------------------
    def save_batch(self, batch_id: str, provider: str, operation: str, keys: list[str], spec: dict[str, Any]) -> None:
        if self.read_only is not None and (self.batch(batch_id) or {}).get("keys") == keys:
            return  # a re-run of a recorded batch on a read-only workspace: nothing new to record
        with self._lock:
            self._write(
                "INSERT OR REPLACE INTO batches VALUES (?,?,?,?,?,?)",
                (batch_id, provider, operation, time.time(), json.dumps(keys), json.dumps(spec, default=str)),
            )

    def batch(self, batch_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM batches WHERE id=?", (batch_id,)).fetchone()
        if row is None:
            return None
        d = dict(row)
        try:
            d["keys"], d["spec"] = json.loads(d["keys"]), json.loads(d["spec"])
            if not isinstance(d["keys"], list) or not isinstance(d["spec"], dict):
                raise TypeError("keys is not a list, or spec not an object")
        except (KeyError, TypeError, ValueError) as e:
            raise _malformed(self.db_path, f"batch {batch_id}", e) from None
        return d

    def batches(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, provider, operation, created_at FROM batches ORDER BY created_at"
            ).fetchall()
        return [dict(r) for r in rows]

    # -- where inputs are now -----------------------------------------------------------------------
    def update_inputs(self, moved: dict[str, tuple[str, dict[str, Any]]]) -> None:
        """Record where recorded inputs are now, in one transaction: per key, the latest ``input`` and the meta
        fields that name it (a renamed or moved file keeps its bytes, hence its key and its job). Other meta
        fields are left as the row has them (``json_patch``), so a claim another process wrote is kept."""
        if not moved:
            return
        rows = [(inp, json.dumps(names, default=str), key) for key, (inp, names) in moved.items()]
        self._write_many("UPDATE jobs SET input=?, meta=json_patch(meta, ?) WHERE key=?", rows)


def _checkpoint_at_exit(ref: "weakref.ref[Ledger]") -> None:
    """At interpreter exit: leave ``ledger.sqlite3`` complete without its ``-wal`` file."""
    ledger = ref()
    if ledger is not None:
        try:
            ledger.checkpoint()
        except Exception:  # closed already, or the disk is full: the WAL still holds the rows
            pass


def process_owner() -> str:
    """This process, as a create claim names it: host, pid and start time (a reused pid is another owner)."""
    return f"{socket.gethostname()}:{os.getpid()}:{_STARTED}"


def driver_owner(token: str) -> str:
    """One driver of this process, as a create claim names it (``toolkit.client.owners``): two batches of one
    kernel holding the same key are two owners, and only one holds the claim."""
    return f"{process_owner()}#{token}"


_STARTED = f"{time.time():.3f}"
CLAIM_LEASE = 600.0  # seconds: how long another host's create claim is honoured (its process cannot be checked)


def _owner_alive(owner: str, claimed: float | None = None) -> bool:
    """Whether the process named by a create claim still runs: checked on this host; on another host, assumed
    while the claim is younger than ``CLAIM_LEASE``."""
    host, _, rest = owner.partition(":")
    pid = rest.split(":", 1)[0]
    if host != socket.gethostname() or not pid.isdigit():
        return claimed is None or time.time() - float(claimed) < CLAIM_LEASE
    if int(pid) == os.getpid():
        process, _, token = owner.partition("#")
        return process == process_owner() and (not token or owners.alive(token))
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_INSERT = f"INSERT OR IGNORE INTO jobs ({','.join(_COLUMNS)}) VALUES ({','.join('?' * len(_COLUMNS))})"


def _row(job: Job) -> list[Any]:
    """``job`` as the values of an INSERT, in ``_COLUMNS`` order (read field by field: ``asdict`` deep-copies,
    a third of the time a 10,000-input submit took)."""
    row: list[Any] = []
    for c in _COLUMNS:
        value = getattr(job, c)
        if c == "status":
            value = job.status.value
        elif c == "urls":
            value = json.dumps(_stored_urls(value), default=str)
        elif c in _JSON:
            value = json.dumps(value, default=str)
        row.append(value)
    return row


def _job(row: sqlite3.Row) -> Job:
    d = dict(row)
    d.pop("gen", None)
    d["status"] = Status(d["status"])
    for k in _JSON:
        d[k] = json.loads(d[k])
        if not isinstance(d[k], dict):
            raise TypeError(f"{k} is {type(d[k]).__name__}, not an object")
    return Job(**d)


def _stored_urls(urls: dict[str, Any]) -> dict[str, Any]:
    """A job's URLs as the ledger keeps them: without credentials (``Transport.url`` puts them back)."""
    return {k: strip_credentials(v) if isinstance(v, str) else v for k, v in urls.items()}


def _malformed(where: Path, what: str, e: Exception) -> LedgerError:
    return LedgerError(
        f"{where} holds a row this toolkit cannot read ({what}: {type(e).__name__}: {e}); it was perhaps "
        "written by another toolkit version, or edited. Open it with the toolkit that wrote it, or move it "
        "aside to start a new ledger: results already in the cache stay, and jobs recorded as sent are "
        "reconciled with the provider before anything is sent again."
    )
