"""The worker pool: picks up queued jobs, computes their results, finishes them when their runtime is over.

A job's simulated runtime starts when a worker claims it; its result is computed by the provider's engine on
a thread pool; it becomes terminal when both the computation and the runtime are done (reads finalize due
jobs too, so status is exact without a busy loop). After a restart, lost computations run again.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from .store import Job, Store

log = logging.getLogger("toolkit.sandbox")


class JobFailure(Exception):
    """Raised by an engine: the job ends ``failed`` with this provider error code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


Engine = Callable[[Job], Any]


class Runner:
    def __init__(self, store: Store, engines: dict[str, Engine], fail_codes: dict[str, str], workers: int = 4) -> None:
        self.store = store
        self.engines = engines
        self.fail_codes = fail_codes
        self.workers = max(1, workers)
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="sandbox-engine")
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._in_flight = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="sandbox-runner", daemon=True)

    def start(self) -> None:
        for job in self.store.uncomputed_processing():
            self._dispatch(job)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def wake(self) -> None:
        """Called after a job is queued, so it is picked up at once."""
        self._wake.set()

    def _dispatch(self, job: Job) -> None:
        with self._lock:
            self._in_flight += 1
        self._pool.submit(self._compute, job)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                with self._lock:
                    free = self.workers * 4 - self._in_flight
                if free > 0:
                    for job in self.store.claim_queued(free):
                        self._dispatch(job)
                self.store.finalize_due()
                nxt = self.store.next_finish_at()
                timeout = 0.5 if nxt is None else max(0.0, min(0.5, nxt - time.time()))
            except Exception:  # the loop must survive anything (e.g. a closed DB during shutdown)
                if self._stop.is_set():
                    return
                log.exception("sandbox runner loop")
                timeout = 0.5
            if timeout > 0:
                self._wake.wait(timeout)
            self._wake.clear()

    def _compute(self, job: Job) -> None:
        _warm_imports()
        try:
            fields: dict[str, Any] = {"computed": 1}
            if job.will_fail:
                fields.update(
                    error_code=self.fail_codes.get(job.provider, "INTERNAL_ERROR"),
                    error_message="The job failed while processing (injected fault).",
                )
            else:
                try:
                    fields["result"] = self.engines[job.provider](job)
                except JobFailure as f:
                    fields.update(error_code=f.code, error_message=f.message)
                except Exception as exc:  # an engine bug becomes a failed job, never a stuck one
                    log.error("engine %s failed on job %s: %s", job.provider, job.id, traceback.format_exc())
                    fields.update(
                        error_code=self.fail_codes.get(job.provider, "INTERNAL_ERROR"),
                        error_message=f"Processing failed: {type(exc).__name__}",
                    )
            self.store.update(job.id, expect_state="processing", **fields)
        except Exception:
            if not self._stop.is_set():
                log.exception("sandbox compute %s", job.id)
        finally:
            with self._lock:
                self._in_flight -= 1
            self._wake.set()


_warm_lock = threading.Lock()
_warmed = False


def _warm_imports() -> None:
    """Import the engines' scientific stack once, in one thread: scikit-image's lazy loader is not safe when
    several worker threads trigger the same first import at once (seen as ImportError in a fresh process)."""
    global _warmed
    if _warmed:
        return
    with _warm_lock:
        if not _warmed:
            import scipy.ndimage  # noqa: F401
            import scipy.stats  # noqa: F401
            import skimage.data  # noqa: F401
            import skimage.draw  # noqa: F401
            import skimage.feature  # noqa: F401
            import skimage.filters  # noqa: F401
            import skimage.measure  # noqa: F401
            import skimage.morphology  # noqa: F401

            _warmed = True
