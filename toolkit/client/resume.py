"""What a re-run resumes, and how a batch says why jobs stopped.

A job the provider failed (its own verdict) stays failed: ``retry_failed()`` sends it again as a new job. A
job that stopped for a reason outside it — the service unreachable, a key refused, credits exhausted, an
overload, a conflict with another process — is not finished: re-running the same call picks it up where it
stopped, on the same provider job when one exists. Every message that says "re-run" relies on this module.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from .model import Job, Status

#: HTTP answers that say nothing about the job itself: auth (401/403, fixed by the right key), credits (402,
#: fixed by a top-up), overload and gateway trouble
RESUMABLE_HTTP = frozenset({401, 402, 403, 408, 429, 500, 502, 503, 504})
#: the create was refused outright: nothing was processed, so it can be sent again as new
REFUSED_CREATE = frozenset({401, 402, 403, 429})
#: client-side codes of the same kind (the transport's, the batch's): no answer, answers a proxy garbled past the
#: retries, the input missing, or a job that ran longer than the client waited (the service may still finish it)
RESUMABLE_CODES = frozenset(
    {"UNREACHABLE", "CONNECTION_LOST", "UNREADABLE_RESPONSE", "INPUT_UNAVAILABLE", "CLIENT_TIMEOUT"}
)
#: failures on a provider job that already exists, resolved by following that job again
FOLLOW_HTTP = frozenset({409})


def resume_status(job: Job, *, have_input: bool, can_find: bool, idempotent: bool) -> Status | None:
    """The status a failed ``job`` goes back to on a re-run, or None when it stays as it is.

    ``can_find``: the provider's job list can settle a create whose answer was lost; ``idempotent``: a create
    can be replayed safely. Without either, such a create is not resumed (it might run twice)."""
    if job.status != Status.FAILED:
        return None
    if job.error_code == "SUBMISSION_UNCERTAIN":
        return Status.DRAFT if can_find and have_input and job.job_id is None else None
    stopped_outside = (
        job.error_code in RESUMABLE_CODES
        or job.http_status in RESUMABLE_HTTP
        or (job.http_status in FOLLOW_HTTP and job.job_id is not None)
    )
    if not stopped_outside:
        return None
    if job.meta.get("submitted") and job.job_id is not None:
        return Status.QUEUED  # the provider has the job: follow it again
    if not have_input:
        return None
    if job.job_id is None and job.meta.get("create_sent") and not create_never_processed(job):
        return Status.DRAFT if (can_find or idempotent) else None  # its create may have run: only if it can tell
    return Status.DRAFT  # the create (or upload/submit) continues from what is recorded


def create_never_processed(job: Job) -> bool:
    """Whether the failed create certainly did not reach or was refused by the provider (safe to send anew)."""
    return job.job_id is None and (job.error_code == "UNREACHABLE" or job.http_status in REFUSED_CREATE)


def stop_summary(provider: str, jobs: list[Job], resumable: Callable[[Job], bool]) -> list[str]:
    """One line per distinct reason why jobs stopped without a verdict, with how many and what to do."""
    reasons: Counter[tuple[str, str]] = Counter()
    for j in jobs:
        if j.status == Status.FAILED and resumable(j):
            label = " ".join(str(x) for x in (j.error_code, f"[{j.http_status}]" if j.http_status else None) if x)
            reasons[(label or "error", (j.error_message or "").split(" — ")[0].rstrip(". ")[:200])] += 1
    return [
        f"{provider}: {n} job(s) stopped with {label}: {message}. They are not finished: fix the cause, then "
        f"re-run the same call and they resume (nothing is sent twice)."
        for (label, message), n in reasons.items()
    ]
