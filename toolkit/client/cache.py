"""The result cache beside the ledger: content-addressed result files, and the keys ever sent.

Results are stored under their sha256 (``.part`` then rename, verified when read), so several processes can
write the same result safely and a damaged file is noticed. A result that names a binary it brought into the
cache (Claid's output image: ``"toolkit": {"output_digest", "output_bytes"}``) is intact only while that binary
is: checked by size and digest too, so a truncated or replaced image makes the job's result be fetched again. ``sent-keys`` lists every key whose create was
about to be sent; it outlives a lost ledger, which is how a new ledger knows what to reconcile first.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from .model import Job, ToolkitError
from .transport import strip_credentials

log = logging.getLogger("toolkit.cache")
SENT_KEYS = "sent-keys"  # in the cache folder: every key whose create was ever about to be sent
JOB_IDS = "job-ids"  # in the cache folder: each key's provider job (id, URLs, create state), as soon as known
PART_MAX_AGE = 600.0  # seconds: an older .part file is a write that died (another process may be writing newer)


#: job meta that says who holds a create or how a row came back, not where the provider's job is
_VOLATILE = ("create_owner", "create_claimed", "recovered", "adopted")


class DiskFullError(ToolkitError):
    """The workspace's disk is full: nothing more can be recorded until space is freed."""

    def __init__(self, path: Path) -> None:
        try:
            free = f"{shutil.disk_usage(path).free / 1e6:.1f} MB free"
        except OSError:
            free = "free space unknown"
        super().__init__(
            f"the disk holding the workspace {path} is full ({free}): the batch stopped sending and "
            "recording. Free some space, then re-run the same call: the ledger resumes every job."
        )


def _disk_full(e: BaseException) -> bool:
    return (isinstance(e, sqlite3.OperationalError) and "full" in str(e)) or (
        isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)
    )


class ResultCache:
    """``{path}/cache``: result files by digest, and the sent-keys list."""

    path: Path
    cache_dir: Path
    _sent_keys: set[str] | None
    _job_ids: dict[str, dict[str, Any]] | None
    _verified: set[str]
    _lock: threading.RLock

    def sent_keys(self) -> set[str]:
        """Keys whose create was ever about to be sent from this workspace (survives a lost ledger)."""
        if self._sent_keys is None:
            path = self.cache_dir / SENT_KEYS
            self._sent_keys = set(path.read_text().split()) if path.is_file() else set()
        return self._sent_keys

    def mark_sent(self, key: str) -> None:
        """Append ``key`` to the cache's sent-keys list, durably, before its create request goes out."""
        keys = self.sent_keys()
        if key in keys:
            return
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        try:
            with open(self.cache_dir / SENT_KEYS, "a") as f:  # O_APPEND: lines from several processes interleave whole
                f.write(key + "\n")
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            if _disk_full(e):
                raise DiskFullError(self.path) from None
            raise
        keys.add(key)

    def job_ids(self) -> dict[str, dict[str, Any]]:
        """Each key's provider job as last recorded (``{"job_id", "urls", "meta"}``): outlives a lost ledger,
        so a re-run follows the job instead of creating it again, even where the provider has no job list."""
        if self._job_ids is None:
            records: dict[str, dict[str, Any]] = {}
            path = self.cache_dir / JOB_IDS
            if path.is_file():
                for line in path.read_text(errors="replace").splitlines():
                    try:  # a line cut by a crash, or from another version, is skipped
                        rec = json.loads(line)
                        if isinstance(rec, dict) and isinstance(rec.get("key"), str) and rec.get("job_id"):
                            records[rec.pop("key")] = rec
                    except ValueError:
                        continue
            self._job_ids = records
        return self._job_ids

    def record_job_id(self, job: Job) -> None:
        """Append ``job``'s provider id, URLs and create state to ``job-ids`` when they changed (the moment the
        id is known, and again once the create is complete). Written with ``O_APPEND`` (whole lines across
        processes); the fsync runs in a thread, off the batch's loop, a moment later."""
        if not job.job_id:
            return
        meta = {k: v for k, v in job.meta.items() if k not in _VOLATILE}
        urls = {k: strip_credentials(v) if isinstance(v, str) else v for k, v in job.urls.items()}
        rec = {"job_id": job.job_id, "urls": urls, "meta": meta}
        known = self.job_ids().get(job.key)
        if known is not None and (known["job_id"], known.get("urls"), bool(known.get("meta", {}).get("submitted"))) == (
            job.job_id,
            urls,
            bool(meta.get("submitted")),
        ):
            return
        line = json.dumps({"key": job.key, **rec}, default=str) + "\n"
        with self._lock:
            try:
                self.cache_dir.mkdir(parents=True, exist_ok=True)
                with open(self.cache_dir / JOB_IDS, "a") as f:
                    f.write(line)
            except OSError as e:
                if _disk_full(e):
                    raise DiskFullError(self.path) from None
                raise
            self.job_ids()[job.key] = rec
            if not getattr(self, "_fsync_pending", False):
                self._fsync_pending = True
                threading.Thread(target=self._fsync_job_ids, name="toolkit-job-ids-fsync", daemon=True).start()

    def _fsync_job_ids(self) -> None:
        with self._lock:
            self._fsync_pending = False  # a record appended from here on starts another fsync
        try:
            fd = os.open(self.cache_dir / JOB_IDS, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:  # the next record's fsync covers it
            pass

    def _clean_parts(self) -> None:
        """Remove result files whose write died (``.part`` left by a crash or a full disk)."""
        if not self.cache_dir.is_dir():
            return
        now = time.time()
        for part in self.cache_dir.glob("*/*.part"):
            try:
                if now - part.stat().st_mtime > PART_MAX_AGE:
                    part.unlink()
            except OSError:
                pass

    def put_result(self, content: bytes) -> str:
        """Store bytes content-addressed (write ``.part``, then rename); return their digest."""
        digest = hashlib.sha256(content).hexdigest()
        path = self.result_path(digest)
        if not path.exists():
            tmp = path.with_name(path.name + f".{os.getpid()}.{threading.get_ident()}.part")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp.write_bytes(content)
                tmp.replace(path)
                self._verified.add(digest)
                stamp = _stamp(path)
                if stamp is not None:
                    self._stamps[digest] = stamp
                named = _named_output(content)
                if named is not None:
                    self._refs[digest] = named
            except OSError as e:
                tmp.unlink(missing_ok=True)
                if _disk_full(e):
                    raise DiskFullError(self.path) from None
                raise
        return digest

    def has_result(self, digest: str) -> bool:
        """Whether the cache holds ``digest`` intact, and the binary it names (an output image) too: each file is
        verified once per process, then checked by its size and modification stamp (a damaged file is removed,
        so the job's result is fetched again)."""
        if not self._intact(digest):
            return False
        ref = self._refs.get(digest)
        if ref is None:
            return True
        return self._intact(*ref)

    @property
    def _refs(self) -> dict[str, tuple[str, int | None]]:
        """Result digest -> (digest, size) of the binary it names; filled when a result is verified."""
        refs = self.__dict__.get("_named")
        if refs is None:
            refs = self.__dict__["_named"] = {}
        return refs

    @property
    def _stamps(self) -> dict[str, tuple[int, int, int]]:
        """Digest -> (size, mtime_ns, inode) of the file as it was when verified in this process."""
        stamps = self.__dict__.get("_stamped")
        if stamps is None:
            stamps = self.__dict__["_stamped"] = {}
        return stamps

    def _intact(self, digest: str, size: int | None = None) -> bool:
        path = self.result_path(digest)
        if digest in self._verified:
            stamp = _stamp(path)
            if stamp is not None and stamp == self._stamps.get(digest):
                return True
            self._verified.discard(digest)  # changed since (or never stamped): verify it again
        if size is not None:
            stamp = _stamp(path)
            if stamp is not None and stamp[0] != size:  # truncated or replaced: no need to hash it
                _discard(path, f"{stamp[0]} bytes where {size} were stored")
                return False
        return self.get_result(digest) is not None

    def result_path(self, digest: str) -> Path:
        return self.cache_dir / digest[:2] / digest

    def get_result(self, digest: str) -> bytes | None:
        """Cached bytes, verified against their digest (a corrupt file is treated as missing)."""
        path = self.result_path(digest)
        if not path.is_file():
            return None
        try:
            content = path.read_bytes()
        except OSError:
            return None
        if hashlib.sha256(content).hexdigest() != digest:
            _discard(path, "its content no longer matches its digest")
            return None
        self._verified.add(digest)
        stamp = _stamp(path)
        if stamp is not None and stamp[0] == len(content):
            self._stamps[digest] = stamp
        named = _named_output(content)
        if named is not None:
            self._refs[digest] = named
        return content


def _discard(path: Path, why: str) -> None:
    """Remove a damaged cache file, saying so (the job it belongs to is fetched again where it is needed)."""
    log.warning("the cached file %s was damaged (%s): removed, to be fetched again from the service", path, why)
    path.unlink(missing_ok=True)


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino


def _named_output(content: bytes) -> tuple[str, int | None] | None:
    """(digest, size) of the binary a cached JSON result names (``toolkit.output_digest``), or None."""
    if b'"output_digest"' not in content:
        return None
    try:
        local = json.loads(content).get("toolkit")
    except (ValueError, AttributeError):
        return None
    if not isinstance(local, dict) or not isinstance(local.get("output_digest"), str):
        return None
    size = local.get("output_bytes")
    return local["output_digest"], size if isinstance(size, int) else None
