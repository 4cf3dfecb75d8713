"""Face batch enrollment (FR-APIaaS): multipart batch -> poll the organisation's batch job (docs/contracts.md §5).

POST /collections/{collection_id}/faces/batch-async   X-API-Key (or Bearer)   202 {success, data: job counters}
GET  /organizations/{org_id}/batch/{job_id}            Bearer JWT (PC: or the API key)   200 job + results[]
GET  /organizations/{org_id}/batch?page&limit          same   200 {success, data: [job], pagination}

Keys are scoped to one organisation and collection (``Tenant.org``/``Tenant.collection``). PC: a batch for
another collection is accepted (202) and the job ends ``failed`` with ``COLLECTION_NOT_FOUND``; another
organisation's path answers 404. Bad items never fail the job: each result says its own outcome.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from ..config import DAY, SandboxConfig, Tenant
from ..core import ApiError, Context, ProviderSpec, iso
from ..engines import faces as engine
from ..limits import MULTIPART_SLACK
from ..openapi import BINARY, BOOL, INT, NSTR, STR, Op, arr, code_message, enum, obj
from ..runner import JobFailure
from ..spec import BodyLimit, register
from ..store import Job

NAME = "faces"
MAX_BATCH = 100
MAX_BYTES = engine.MAX_BYTES  # per image; a larger item fails alone (INVALID_IMAGE)
MAX_EXTERNAL_ID = 255
IMAGE_FIELDS = ("images", "images[]")  # Drift: batch-async documents `images`, sync batch `images[]`
ID_FIELDS = ("external_ids[]", "external_ids")
STATUS = {
    "created": "queued",
    "queued": "queued",
    "processing": "processing",
    "succeeded": "done",
    "failed": "failed",
    "cancelled": "failed",
}
RETENTION = "faces.retention"  # 7 days after completion, then 404


def median_runtime(total: int) -> float:
    """PC: about 1 s per batch plus 0.05 s per image (before time_scale)."""
    return 1.0 + 0.05 * total


def error_body(err: ApiError) -> dict[str, Any]:
    return {"success": False, "error": {"code": err.code, "message": err.message}}


def _counters(job: Job) -> dict[str, Any]:
    """Job counters; while processing, ``processed`` grows with the elapsed share of the job's runtime."""
    total = job.request["total"]
    results: list[dict[str, Any]] = (job.result or {}).get("results", []) if job.computed else []
    if job.state == "succeeded":
        shown = results
    elif job.state == "processing" and results and job.started_at and job.finish_at:
        span = max(job.finish_at - job.started_at, 1e-9)
        share = min(1.0, max(0.0, (time.time() - job.started_at) / span))
        shown = results[: min(total - 1, int(total * share))]
    else:
        shown = []
    ok = sum(1 for r in shown if r["success"])
    body: dict[str, Any] = {
        "job_id": job.id,
        "status": STATUS[job.state],
        "total": total,
        "processed": len(shown),
        "succeeded": ok,
        "failed": len(shown) - ok,
        "collection_id": job.request["collection_id"],
        "created_at": iso(job.created_at),
        "completed_at": iso(job.completed_at),
        "sandbox": True,
    }
    if job.state in ("failed", "cancelled"):
        body["error"] = {"code": job.error_code, "message": job.error_message}
    return {**body, "_results": shown}


def build_router(ctx: Context) -> APIRouter:
    r = APIRouter(tags=["faces"])

    def auth(request: Request) -> Tenant:
        return ctx.authenticate(request, NAME, api_key_header=True)

    def visible(job: Job) -> bool:
        return not ctx.expired(job, RETENTION)

    async def read_batch(request: Request) -> tuple[list[tuple[UploadFile | str, str]], list[str]]:
        if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
            raise ApiError(NAME, 400, "VALIDATION_ERROR", "Send the batch as multipart/form-data.")
        try:
            form = await request.form(max_files=10 * MAX_BATCH, max_fields=10 * MAX_BATCH)
        except Exception as e:
            raise ApiError(NAME, 400, "VALIDATION_ERROR", f"Unreadable multipart body: {e}.") from None
        images = [(v, k) for k, v in form.multi_items() if k in IMAGE_FIELDS]
        ids = [v for k, v in form.multi_items() if k in ID_FIELDS]
        return images, [v if isinstance(v, str) else "" for v in ids]

    @r.post("/collections/{collection_id}/faces/batch-async", status_code=202)
    async def submit_batch(request: Request, collection_id: str) -> JSONResponse:
        """Enroll up to 100 images, paired in order with external ids; processed asynchronously."""
        tenant = auth(request)
        images, ids = await read_batch(request)
        if len(images) > MAX_BATCH:
            raise ApiError(NAME, 400, "BATCH_TOO_LARGE", f"{len(images)} images; a batch holds at most {MAX_BATCH}.")
        if not images:
            raise ApiError(NAME, 400, "VALIDATION_ERROR", "No images: send files in the `images` field.")
        if len(ids) != len(images):
            raise ApiError(
                NAME,
                400,
                "VALIDATION_ERROR",
                f"{len(images)} images but {len(ids)} external_ids[]; each image needs one external id.",
            )
        bad = [i for i, x in enumerate(ids) if not x.strip() or len(x) > MAX_EXTERNAL_ID]
        if bad:
            raise ApiError(
                NAME, 400, "VALIDATION_ERROR", f"external_ids[{bad[0]}] must be 1-{MAX_EXTERNAL_ID} characters."
            )
        if any(not isinstance(v, UploadFile) for v, _ in images):
            raise ApiError(NAME, 400, "VALIDATION_ERROR", "Each `images` part must be a file (with a filename).")
        items: list[dict[str, Any]] = []
        blobs: list[bytes | None] = []
        whole = hashlib.sha256()
        for (upload, _field), external_id in zip(images, ids):
            data = await upload.read(MAX_BYTES + 1)
            size = len(data) if len(data) <= MAX_BYTES else (upload.size or len(data))
            blobs.append(data if len(data) <= MAX_BYTES else None)
            whole.update(hashlib.sha256(data).digest())
            items.append({"external_id": external_id, "filename": upload.filename, "size": size})
        with ctx.credits.charge(NAME, tenant.id):  # PC: one credit per batch job, whatever its size
            job = ctx.store.create_job(
                NAME,
                tenant.id,
                "batch_enroll",
                request={"collection_id": collection_id, "org_id": tenant.org, "total": len(items)},
                data={"items": items, "collection_found": collection_id == tenant.collection},
                input_digest="sha256:" + whole.hexdigest(),
            )
        for i, data in enumerate(blobs):
            if data is not None:
                ctx.store.write_blob(job.id, f"image-{i}", data)
        ctx.enqueue(job, median_runtime(len(items)))
        body = _counters(job)  # the job as accepted: documented as queued with zero counters
        body.pop("_results")
        return JSONResponse({"success": True, "data": body}, status_code=202)

    @r.get("/organizations/{org_id}/batch/{job_id}")
    async def get_batch(request: Request, org_id: str, job_id: str) -> dict[str, Any]:
        tenant = auth(request)
        job = ctx.store.get(NAME, tenant.id, job_id) if org_id == tenant.org else None
        if job is None or not visible(job):
            raise ApiError(NAME, 404, "JOB_NOT_FOUND", f"Batch job {job_id} not found in organization {org_id}.")
        body = _counters(job)
        body["results"] = body.pop("_results")
        return {"success": True, "data": body}

    @r.get("/organizations/{org_id}/batch")
    async def list_batches(
        request: Request, org_id: str, page: int = Query(1, ge=1), limit: int = Query(20, ge=1, le=MAX_BATCH)
    ) -> dict[str, Any]:
        """PC: newest first, jobs past retention left out, no per-item results."""
        tenant = auth(request)
        if org_id != tenant.org:
            raise ApiError(NAME, 404, "NOT_FOUND", f"Organization {org_id} not found.")
        jobs, _ = ctx.store.list(NAME, tenant.id, limit=1_000_000)
        jobs = [j for j in jobs if visible(j)]
        rows = []
        for job in jobs[(page - 1) * limit : page * limit]:
            body = _counters(job)
            body.pop("_results")
            rows.append(body)
        return {"success": True, "data": rows, "pagination": {"page": page, "limit": limit, "total": len(jobs)}}

    return r


def make_engine(ctx: Context):
    def run(job: Job) -> dict[str, Any]:
        if not job.data.get("collection_found"):
            raise JobFailure(
                "COLLECTION_NOT_FOUND", f"Collection {job.request['collection_id']} not found for this API key."
            )
        items = [
            (item["external_id"], ctx.store.read_blob(job.id, f"image-{i}")) for i, item in enumerate(job.data["items"])
        ]
        return engine.enroll_batch(job.request["collection_id"], items)

    return run


# -- OpenAPI facts ---------------------------------------------------------------------------------------
_JOB = obj(
    {
        "job_id": STR,
        "status": enum("queued", "processing", "done", "failed"),
        "total": INT,
        "processed": INT,
        "succeeded": INT,
        "failed": INT,
    },
    {"error": code_message()},
)
_RESULT = obj({"index": INT, "external_id": STR, "face_id": NSTR, "success": BOOL}, {"error": code_message()})
_BATCH_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": obj(
                {
                    "images": {**arr(BINARY), "minItems": 1, "maxItems": MAX_BATCH},
                    # 1-255 characters, not only whitespace (submit_batch)
                    "external_ids[]": {
                        **arr({"type": "string", "minLength": 1, "maxLength": MAX_EXTERNAL_ID, "pattern": r"\S"}),
                        "minItems": 1,
                    },
                }
            )
        }
    },
}


def operations(config: SandboxConfig) -> dict[tuple[str, str], Op]:
    """The routes' answers, by (METHOD, path under the prefix)."""
    ok = {"success": {"const": True}}
    with_results = {
        **_JOB,
        "required": [*_JOB["required"], "results"],
        "properties": {**_JOB["properties"], "results": arr(_RESULT)},
    }
    return {
        ("POST", "/collections/{collection_id}/faces/batch-async"): Op(
            {202: obj({**ok, "data": _JOB})}, (400, 402, 413), body=_BATCH_BODY
        ),
        ("GET", "/organizations/{org_id}/batch/{job_id}"): Op({200: obj({**ok, "data": with_results})}, (404,)),
        ("GET", "/organizations/{org_id}/batch"): Op(
            {200: obj({**ok, "data": arr(_JOB), "pagination": obj({"page": INT, "limit": INT, "total": INT})})},
            (400, 404),
        ),
    }


SPEC = register(
    ProviderSpec(
        name=NAME,
        title="face-enrollment",
        prefixes=["/faces/api/v1"],
        build_router=build_router,
        error_body=error_body,
        error_schema=obj({"success": {"const": False}, "error": code_message()}),
        engine=make_engine,
        demo_key="fr_live_sandbox_faces",
        scoped_keys=True,  # faces:KEY@ORG/COLLECTION
        api_key_header=True,
        runtime=5.0,  # per batch size: median_runtime()
        windows={"retention": 7 * DAY},
        rate_limits={"api": [(600, 60.0)]},
        # a batch of the largest images; an item over the per-image cap fails alone, not the batch
        body_limits=(BodyLimit(MAX_BATCH * (MAX_BYTES + MULTIPART_SLACK), suffix="/faces/batch-async"),),
        fail_code="INTERNAL_ERROR",
        unauthorized_code="UNAUTHORIZED",
        rate_limited_code="RATE_LIMITED",
        validation_code="VALIDATION_ERROR",
        validation_status=400,
        not_found_code="NOT_FOUND",
        payment_required=("INSUFFICIENT_CREDITS", "Insufficient credits: this API key has no credits left."),  # PC
        operations=operations,
    )
)
