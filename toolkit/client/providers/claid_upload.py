"""Claid's upload API for local files against the real service (docs/contracts.md §4, project choice).

One synchronous ``POST {base}/image/edit/upload`` per image: multipart ``file`` + ``data`` (the JSON of the
edit without ``input``, as https://docs.claid.ai/image-editing-api/upload-api-reference documents it). The
answer is the sync edit's ``{"data": {"input": {...}, "output": {..., "tmp_url"}}}``; it is recorded in the
ledger (``job.meta["upload_result"]``, ``job.urls["tmp_url"]``) before anything else happens, so a crash after
it loses nothing, and the driver's first poll (no HTTP) settles the job like any other. The call is not
idempotent: a request whose answer was lost is never sent again (SUBMISSION_UNCERTAIN). It therefore waits
the transport's ``unsafe_timeout`` (300 s) for the answer, not the 60 s of a poll: the edit runs as long as it
takes (the sandbox answers within 120 s, the ``claidai`` SDK waits 120 s; docs/contracts.md §4), and an
answer given up on is an edit paid for and never kept.
"""

from __future__ import annotations

import hashlib
import json

import httpx
from typing import Any, Callable, Protocol

from ..filedata import FileInput
from ..model import Job, JobError, Status
from ..transport import Transport, expect_json
from .base import Item, PollPolicy, PollResult


class ClaidAdapter(Protocol):
    """What the upload path uses of ``claid.ClaidAdapter`` (named here: importing it would close a cycle)."""

    name: str
    t: Transport

    def error(self, resp: httpx.Response, job: Job | None = None, input: str | None = None) -> JobError: ...

    def _json(self, r: httpx.Response, job: Job) -> dict[str, Any]: ...


PATH = "/image/edit/upload"
API = "upload"  # job.meta["api"] of a job that goes through the upload API
#: the answer is already in the ledger when the driver polls: poll at once
IMMEDIATE = PollPolicy(first=0.0, interval=0.0, factor=1.0, max_interval=0.0)


def uses_upload(job: Job, item: Item | None, sandbox: bool) -> bool:
    """Whether ``job`` goes (or went) through the upload API: a local file against the real service."""
    if job.meta.get("api") == API:
        return True
    if item is not None and item.meta.get("url"):
        return False
    return not sandbox


def edit_data(options: dict[str, Any]) -> str:
    """The ``data`` part: the edit request without ``input``."""
    data: dict[str, Any] = {"operations": options.get("operations") or {}}
    if options.get("output") is not None:
        data["output"] = options["output"]
    return json.dumps(data)


async def create(adapter: "ClaidAdapter", job: Job, item: Item, record: Callable[[Job], None]) -> None:
    """Send the file and the edit; record the answer (the output's ``tmp_url``) the moment it arrives."""
    if job.meta.get("upload_result"):  # answered before an interruption: nothing left to send
        return
    job.meta["api"] = API
    job.meta["create_posted"] = True  # from here on a lost answer may mean the edit ran (and was paid for)
    record(job)
    content = item.content.read() if isinstance(item.content, FileInput) else item.content
    files = {
        "file": (item.meta["filename"], content or b"", item.meta["content_type"]),
        "data": (None, edit_data(item.options), "application/json"),
    }
    r = await adapter.t.request("POST", PATH, files=files, safe_to_retry=False, expect=expect_json)
    if r.status_code >= 300:
        raise adapter.error(r, job)
    data = adapter._json(r, job).get("data")
    output = data.get("output") if isinstance(data, dict) else None
    if not isinstance(output, dict) or not output.get("tmp_url"):
        raise JobError(
            adapter.name,
            "BAD_RESPONSE",
            f"the upload answer has no output.tmp_url: {r.text[:200]}",
            http_status=r.status_code,
            input=job.input,
        )
    # the sync answer names no task: the id is the request id when the service sends one, else the output's
    job.job_id = (
        r.headers.get("x-request-id") or "upload-" + hashlib.sha256(output["tmp_url"].encode()).hexdigest()[:16]
    )
    job.urls = {"tmp_url": output["tmp_url"]}
    job.meta["upload_result"] = data
    job.provider_status = "DONE"
    job.status = Status.RUNNING  # the first poll (immediate, from the ledger) makes it SUCCEEDED
    record(job)


def poll(job: Job) -> PollResult:
    """The recorded answer: a sync edit that answered 200 is DONE."""
    if not job.meta.get("upload_result"):
        raise JobError("claid", "NO_RESULT", "the upload edit has no recorded answer", input=job.input)
    return PollResult(Status.SUCCEEDED, "DONE")


def result_body(job: Job) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the body to cache, the output object with ``tmp_url``) of a DONE upload edit."""
    data = job.meta.get("upload_result") or {}
    return {"data": data}, data.get("output") or {}
