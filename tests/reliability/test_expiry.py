"""Expiry: upload URLs that lapse before the upload, results that expire before the download (410/404), jobs
that vanish (404). Each must end in a clear state (expired, or re-created where that is safe) with a message.

Time is moved the way it passes: the sandbox's windows are scaled down, and "days later" is written into the
sandbox's job rows (``completed_at``) and the client's ledger (``submitted_at``) alike.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time

import pytest

from tests.reliability.chaos_run import Inputs, make_inputs, submit_all
from toolkit.client.model import Status
from toolkit.sandbox.config import WINDOWS
from toolkit.workspace import Workspace

PROVIDERS = ("animaldetect", "sateais", "authenta", "claid", "faces")
N = {p: 2 for p in PROVIDERS}
RETENTION = {
    "animaldetect": "animaldetect.retention",
    "sateais": "sateais.retention",
    "authenta": "authenta.retention",
    "claid": "claid.retention",
    "faces": "faces.retention",
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Inputs:
    return make_inputs(tmp_path_factory.mktemp("inputs"), N)


def submit(ws: Workspace, inp: Inputs, provider: str):
    """The provider's call from the chaos workload (faces: one roster, i.e. one job per roster)."""
    return submit_all(ws, inp, providers=(provider,))[provider]


def jobs_of(batches) -> list:
    return [j for b in batches for j in b.jobs]


def server(sb, provider: str, job_id: str):
    return sb.ctx.store.get_any(job_id) if job_id else None


def interrupt(ws: Workspace, provider: str, method: str, path_part: str, after: bool = False) -> None:
    """Make the client stop dead right before it sends ``method`` to a URL containing ``path_part``: every job
    halts there (see ``kill``), so whatever the ledger holds then is what a restarted client finds."""
    t = ws.client(provider).transport
    send = t.request

    async def request(m: str, url: str, **kw):
        hit = m.upper() == method and path_part in url
        if hit and after:  # sent, and the answer never recorded
            await send(m, url, **kw)
        if hit:
            await asyncio.Event().wait()  # never returns: cancelled by kill()
        return await send(m, url, **kw)

    t.request = request  # type: ignore[method-assign]


def kill(batches, ready, timeout: float = 20.0) -> None:
    """Once ``ready(job)`` holds for every job, cancel the batches' tasks as a kill -9 would end them."""
    deadline = time.monotonic() + timeout
    while not all(ready(j) for j in jobs_of(batches)):
        assert time.monotonic() < deadline, [(j.job_id, j.status) for j in jobs_of(batches)]
        time.sleep(0.02)
    for b in batches:
        b._future.cancel()
        try:
            b._future.result(timeout=5)
        except (concurrent.futures.CancelledError, asyncio.CancelledError):
            pass


# -- upload URLs that lapse before the upload -------------------------------------------------------------
def lapse_upload(make_sandbox, tmp_path, inputs, provider: str):
    """Create the jobs, stop before the upload, let the upload URL lapse, then re-run the same call."""
    sb = make_sandbox(time_scale=0.0003)  # upload URLs live ~1.1 s
    ws = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    interrupt(ws, provider, "PUT", "/storage/")
    first = submit(ws, inputs, provider)
    kill(first, lambda j: j.job_id is not None)
    drafts = jobs_of(first)
    assert all(j.job_id and j.status == Status.DRAFT for j in drafts), [(j.job_id, j.status) for j in drafts]
    time.sleep(WINDOWS[f"{provider}.upload_url"] * 0.0003 + 1.5)  # expiry is signed in whole seconds
    ws2 = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    again = submit(ws2, inputs, provider)
    for b in again:
        b.wait(timeout=60, progress=False)
    return sb, drafts, jobs_of(again)


def test_authenta_upload_url_lapsed_before_upload_is_recreated_once(make_sandbox, tmp_path, inputs):
    sb, drafts, jobs = lapse_upload(make_sandbox, tmp_path, inputs, "authenta")
    assert [j.status for j in jobs] == [Status.SUCCEEDED] * 2 and all(j.result_digest for j in jobs)
    for old, new in zip(drafts, jobs):
        assert new.job_id != old.job_id and new.meta["discarded"] == [old.job_id]
        assert server(sb, "authenta", old.job_id) is None  # the stale draft was deleted: never processed, never paid
    rows = sb.ctx.store.list("authenta", sb.tenant("authenta").id, limit=100)[0]
    assert sorted(r.id for r in rows) == sorted(j.job_id for j in jobs)


def test_animaldetect_upload_url_lapsed_before_upload_is_recreated_or_expired(make_sandbox, tmp_path, inputs):
    """BUG: the PUT to a lapsed upload URL answers 403 and the job ends FAILED "FORBIDDEN — the key lacks a
    permission or scope for this call": the wrong state and a misleading hint. Replaying the create (same
    Idempotency-Key) returns the same draft with the same lapsed URL, so re-running cannot help either.
    Expected: EXPIRED with a message saying the upload URL lapsed, or a fresh job (the draft was never
    uploaded, so it can never be processed: re-creating it under a derived key is safe)."""
    sb, drafts, jobs = lapse_upload(make_sandbox, tmp_path, inputs, "animaldetect")
    for old, new in zip(drafts, jobs):
        if new.status == Status.SUCCEEDED:  # re-created: a new server job, the old draft never uploaded
            assert new.job_id != old.job_id and server(sb, "animaldetect", old.job_id).input_digest is None
        else:
            assert new.status == Status.EXPIRED, (new.status, new.error_code, new.error_message)
            assert "upload" in new.error_message.lower() and "expire" in new.error_message.lower()
            assert "permission" not in new.error_message


# -- results that expire before the download ---------------------------------------------------------------
@pytest.mark.parametrize("provider", PROVIDERS)
def test_result_expired_before_download_ends_expired_with_message(make_sandbox, tmp_path, inputs, provider):
    sb = make_sandbox()
    ws = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    first = submit(ws, inputs, provider)
    for b in first:
        b.wait(timeout=60, progress=False)
    done = [j for j in jobs_of(first) if j.status == Status.SUCCEEDED]
    assert len(done) == len(jobs_of(first))
    lost = done[0]  # killed after the provider said done, before the result reached the cache...
    lost.result_digest = None
    # ...and the client came back after the retention window (plus a day)
    ago = sb.config.window(RETENTION[provider]) + 86400 * sb.config.time_scale
    lost.submitted_at = lost.finished_at = time.time() - ago - 1
    ws.ledger.save(lost, "result_digest", "submitted_at", "finished_at")
    sb.ctx.store.update(lost.job_id, completed_at=time.time() - ago)
    ws2 = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    again = submit(ws2, inputs, provider)
    for b in again:
        b.wait(timeout=30, progress=False)
    j = next(j for j in jobs_of(again) if j.key == lost.key)
    assert j.status == Status.EXPIRED, (j.status, j.error_code, j.error_message)
    assert j.http_status in (404, 410) and j.error_code and j.error_message
    assert j.input in str(j.error()) and j.job_id in str(j.error())
    others = [x for x in jobs_of(again) if x.key != lost.key]
    assert all(x.status == Status.SUCCEEDED and x.result_digest for x in others)
    assert ws2.client(provider).transport.requests <= 4  # only the expired job was asked about


# -- jobs that vanish ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("provider", PROVIDERS)
def test_vanished_job_ends_expired_and_retry_recreates_it_once(make_sandbox, tmp_path, inputs, provider):
    # jobs run ~2-4 s; Authenta's sandbox enforces its task timeout (300 s, scaled), so its clock runs slower
    scale, runtime = (0.01, 150.0) if provider == "authenta" else (0.001, 4000.0 if provider == "sateais" else 2000.0)
    sb = make_sandbox(time_scale=scale, runtimes={provider: runtime})
    ws = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    batches = submit(ws, inputs, provider)
    deadline = time.monotonic() + 20
    while not all(j.job_id and j.meta.get("submitted") for j in jobs_of(batches)):
        assert time.monotonic() < deadline, [(j.job_id, j.status) for j in jobs_of(batches)]
        time.sleep(0.02)
    gone = jobs_of(batches)[0]
    sb.ctx.store.delete(gone.job_id)  # deleted at the provider (by hand, by support, by a retention bug)
    for b in batches:
        b.wait(timeout=60, progress=False)
    j = next(x for x in jobs_of(batches) if x.key == gone.key)
    if provider == "faces":
        # a 404 long before the 7-day retention: the client suspects the organisation id, and says so
        assert j.status == Status.FAILED and j.error_code == "JOB_NOT_FOUND" and "organisation" in j.error_message
    else:
        assert j.status == Status.EXPIRED and j.http_status == 404, (j.status, j.error_code, j.error_message)
    assert j.error_message and j.input in str(j.error())
    assert all(x.status == Status.SUCCEEDED for x in jobs_of(batches) if x.key != gone.key), [
        (x.status, x.error_code, x.error_message) for x in jobs_of(batches)
    ]
    owner = next(b for b in batches if any(x.key == gone.key for x in b.jobs))
    retry = owner.retry_failed().wait(timeout=60, progress=False)
    assert retry is not owner and len(retry.jobs) == 1 and retry.jobs[0].status == Status.SUCCEEDED
    assert retry.jobs[0].job_id != gone.job_id
    again = owner.retry_failed().wait(timeout=30, progress=False)  # a re-run of the retry re-attaches
    assert [x.job_id for x in again.jobs] == [x.job_id for x in retry.jobs]


def test_animaldetect_job_failed_while_client_was_dead_keeps_its_error(make_sandbox, tmp_path, inputs):
    """BUG (found by the crash test): killed after the submit POST went out but before it was recorded, the
    client re-runs the (idempotent) create on resume; the replay answers the job as it is now, ``failed``,
    and ``AnimalDetectAdapter.create`` takes that terminal status as final, so the poll that would read the
    error never runs: FAILED with no code and no message. Fix: a replay that is already terminal must not end
    the job in ``create`` (leave it QUEUED so the poll reads the error, or the result of a succeeded job)."""
    sb = make_sandbox(faults={"animaldetect": {"fail": 1.0}})
    ws = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    interrupt(ws, "animaldetect", "POST", "/submit", after=True)
    first = submit(ws, inputs, "animaldetect")
    kill(first, lambda j: j.job_id is not None and server(sb, "animaldetect", j.job_id).state == "failed")
    again = submit(Workspace(tmp_path / "ws", sandbox=sb, quiet=True), inputs, "animaldetect")
    for b in again:
        b.wait(timeout=30, progress=False)
    for j in jobs_of(again):
        assert j.status == Status.FAILED
        assert (j.error_code, j.error_message) == (
            "PROCESSING_FAILED",
            "The job failed while processing (injected fault).",
        )
