"""The one "settled" rule: when nothing is left to do for a job.

A job is settled when it is terminal and, if it succeeded, its result is in the cache. The batch machinery
(``toolkit.client.driver``: which jobs to drive, ``Batch.done``) passes ``has_result`` (the ledger's cache check,
so a lost or damaged cache file is fetched again); the monitor (``toolkit.widgets``) tests the recorded digest
only, several times a second, without touching the disk. A leaf module: it imports only the job model.
"""

from __future__ import annotations

from typing import Callable

from .model import Job, Status

__all__ = ["settled"]


def settled(job: Job, has_result: Callable[[str], bool] | None = None) -> bool:
    """Nothing left to do for ``job``: terminal, and a succeeded job has a cached result (a digest recorded,
    and, when ``has_result`` is given, the cache holding it)."""
    if not job.status.terminal:
        return False
    if job.status != Status.SUCCEEDED:
        return True
    digest = job.result_digest
    return digest is not None and (has_result is None or has_result(digest))
