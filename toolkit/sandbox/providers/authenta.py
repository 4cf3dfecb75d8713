"""Authenta Jobs API: create -> PUT each input slot to its signed URL -> finalize -> poll (docs/contracts.md §3).

PC choices where the docs are silent: finalize on an unknown job is 400 ``JOB_NOT_FOUND`` (the documented
"Job not found or already finalized" message); delete of a queued job is allowed (it is cancelled first);
``limit`` > 100 and an unknown ``status`` filter are 400 ``VALIDATION_ERROR``; in ``wrapped`` envelope mode a
draft job reads ``initiated`` (newer guide wording); a job whose runtime exceeds its task timeout fails.
"""

from __future__ import annotations

import math
import time
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from ..config import DAY, ConfigError, SandboxConfig
from ..core import ApiError, Context, ProviderSpec, digest, iso
from ..engines import authenticity as engine
from ..engines.media import sniff
from ..openapi import INT, NSTR, NTIME, OBJ, RAW_UPLOAD, STR, TIME, URL, Op, any_case, arr, enum, obj
from ..runner import JobFailure
from ..spec import BodyLimit, register
from ..store import TERMINAL, Job
from .authenta_request import MAX_BYTES, CreateJob, task_type_id
from .authenta_tasks import SLOT_FORMATS, TASKS, canonical, compute

NAME = "authenta"
UPLOAD_WINDOW, RETENTION, ARTIFACT_WINDOW = "authenta.upload_url", "authenta.retention", "authenta.artifact_url"

#: internal lifecycle -> Authenta status; status filter words -> internal states
STATUS = {
    "created": "waiting_for_finalize",
    "queued": "queued",
    "processing": "processing",
    "succeeded": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
}
FILTER = {
    "created": "created",
    "initiated": "created",
    "waiting_for_finalize": "created",
    "queued": "queued",
    "processing": "processing",
    "completed": "succeeded",
    "failed": "failed",
    "cancelled": "cancelled",
}
CANCELLABLE = ("created", "queued")


def error_body(err: ApiError) -> dict[str, Any]:
    return {"code": err.code, "statusCode": err.status, "message": err.message}


def _bad(code: str, message: str, status: int = 400) -> ApiError:
    return ApiError(NAME, status, code, message)


def _not_found(job_id: str) -> ApiError:
    return _bad("JOB_NOT_FOUND", f"Job with ID {job_id} does not exist", 404)


def envelope(mode: str, flat: dict[str, Any]) -> dict[str, Any]:
    """Apply the configured drift: flat fields, ``{"job":{id,status}}`` wrapping, or both."""
    if mode == "flat":
        return flat
    if mode == "both":
        return {**flat, "job": {"id": str(flat["jobId"]), "status": flat["status"]}}
    status = "initiated" if flat["status"] == "waiting_for_finalize" else flat["status"]
    job = {
        "id": str(flat["jobId"]),
        "status": status,
        **{k: v for k, v in flat.items() if k not in ("jobId", "status", "inputs")},
    }
    return {"job": job, **({"inputs": flat["inputs"]} if "inputs" in flat else {})}


def build_router(ctx: Context) -> APIRouter:
    r = APIRouter(tags=["authenta"])
    storage = ctx.specs[NAME].storage_prefix

    def reply(flat: dict[str, Any]) -> JSONResponse:
        return JSONResponse(envelope(ctx.config.authenta_envelope, flat))

    def load(job_id: str, tenant_id: str) -> Job:
        job = ctx.store.get(NAME, tenant_id, job_id)
        if job is None:
            raise _not_found(job_id)
        if ctx.expired(job, RETENTION):
            ctx.store.delete(job.id)  # retention over: the job and its files are gone
            raise _not_found(job_id)
        return job

    def inputs(job: Job) -> list[dict[str, Any]]:
        return [{k: s[k] for k in ("slotName", "contentType", "fileName", "sizeBytes")} for s in job.request["inputs"]]

    def detail(request: Request, job: Job) -> dict[str, Any]:
        body: dict[str, Any] = {
            "jobId": int(job.id),
            "taskTypeId": job.request["taskTypeId"],
            "taskTypeSlug": job.kind,
            "status": STATUS[job.state],
            "createdAt": iso(job.created_at),
            "updatedAt": iso(job.updated_at),
            "inputs": inputs(job),
        }
        if job.state in ("succeeded", "failed"):
            body["completedAt"] = iso(job.completed_at)
        if job.state == "succeeded":
            ttl = ctx.config.window(ARTIFACT_WINDOW)
            url = ctx.signed_url(request, "GET", f"{storage}/jobs/{job.id}/artifacts/result", ttl)
            body["result"] = job.result
            body["artifacts"] = [
                {
                    "kind": "result",
                    "contentType": "application/json",
                    "downloadUrl": url,
                    "expiresAt": iso(time.time() + ttl),
                }
            ]
        if job.state == "failed":
            body["errorMessage"] = job.error_message
        return body

    @r.post("/jobs")
    async def create_job(request: Request, body: CreateJob, taskTypeId: str | None = Query(None)) -> JSONResponse:
        """Create a job; each input slot gets a single-use signed ``uploadUrl`` (PUT, no auth)."""
        tenant = ctx.authenticate(request, NAME)
        tid = task_type_id(taskTypeId, body.taskTypeId)
        task = TASKS[tid]
        names = [s.slotName for s in body.inputs]
        for name in names:
            if name not in task.slots:
                raise _bad(
                    "VALIDATION_ERROR",
                    f"slotName {name!r} is not an input of task type {tid} (allowed: {', '.join(task.slots)})",
                )
        if len(set(names)) != len(names) or task.slots[0] not in names:
            raise _bad("VALIDATION_ERROR", f"inputs must hold each slot once, including {task.slots[0]!r}")
        for s in body.inputs:
            formats = SLOT_FORMATS.get(s.slotName, task.formats) & task.formats
            if canonical(s.contentType) not in formats:
                raise _bad(
                    "UNSUPPORTED_MEDIA_TYPE",
                    f"contentType {s.contentType!r} is not accepted for slot "
                    f"{s.slotName!r} of {task.slug} (use {', '.join(sorted(formats))})",
                )
        params = body.parameters.model_dump(exclude_none=True) if body.parameters else {}
        if params.get("isSimilarityCheck") and "reference" not in names:
            raise _bad("VALIDATION_ERROR", "isSimilarityCheck needs a 'reference' input slot")
        request_doc = {"taskTypeId": tid, "inputs": [s.model_dump() for s in body.inputs], "parameters": params}
        with ctx.credits.charge(NAME, tenant.id):  # PC: charged at create, so a 402 comes before any upload
            job = ctx.store.create_job(
                NAME,
                tenant.id,
                task.slug,
                numeric_id=True,
                request=request_doc,
                data={"upload_expires_at": time.time() + ctx.config.window(UPLOAD_WINDOW)},
            )
        ttl = ctx.config.window(UPLOAD_WINDOW)
        slots = [
            {
                **s,
                "uploadUrl": ctx.signed_url(
                    request,
                    "PUT",
                    f"{storage}/jobs/{job.id}/{s['slotName']}",
                    ttl,
                    content_type=s["contentType"],
                    size=s["sizeBytes"],
                ),
            }
            for s in inputs(job)
        ]
        return reply(
            {
                "jobId": int(job.id),
                "taskTypeId": tid,
                "status": STATUS[job.state],
                "createdAt": iso(job.created_at),
                "updatedAt": iso(job.updated_at),
                "inputs": slots,
            }
        )

    @r.post("/jobs/{job_id}/finalize")
    async def finalize(request: Request, job_id: str) -> JSONResponse:
        """Check every slot was uploaded with the declared media type, then queue the job."""
        tenant = ctx.authenticate(request, NAME)
        message = "Job not found or already finalized"
        job = ctx.store.get(NAME, tenant.id, job_id)
        if job is None or ctx.expired(job, RETENTION):
            raise _bad("JOB_NOT_FOUND", message)
        if job.state != "created":
            raise _bad("INVALID_JOB_STATE", message)
        task = TASKS[job.request["taskTypeId"]]
        for slot in job.request["inputs"]:
            data = ctx.store.read_blob(job.id, slot["slotName"])
            if data is None:
                raise _bad("UPLOAD_INCOMPLETE", f"Input slot {slot['slotName']!r} has not been uploaded")
            found, declared = sniff(data), canonical(slot["contentType"])
            if found is None or canonical(found) != declared or declared not in task.formats:
                raise _bad(
                    "UNSUPPORTED_MEDIA_TYPE",
                    f"Slot {slot['slotName']!r} was declared {slot['contentType']} "
                    f"but its content is {found or 'not a recognised media type'}",
                )
        if not ctx.enqueue(job, task.median, from_states=("created",)):
            raise _bad("INVALID_JOB_STATE", message)  # finalized or cancelled concurrently
        job = ctx.store.get(NAME, tenant.id, job_id) or job
        return reply(
            {
                "jobId": int(job.id),
                "taskTypeId": task_type_of(job),
                "status": "queued",
                "queuedAt": iso(job.queued_at),
                "updatedAt": iso(job.updated_at),
                "message": "Job finalized and queued for processing",
            }
        )

    @r.get("/jobs/{job_id}")
    async def get_job(request: Request, job_id: str) -> JSONResponse:
        tenant = ctx.authenticate(request, NAME)
        return reply(detail(request, load(job_id, tenant.id)))

    @r.get("/jobs")
    async def list_jobs(
        request: Request,
        page: int = Query(1, ge=1),
        limit: int = Query(10, ge=1, le=100),
        status: str | None = Query(None),
    ) -> dict[str, Any]:
        """The tenant's jobs, newest first; ``status`` filters by one Authenta status word."""
        tenant = ctx.authenticate(request, NAME)
        states = None
        if status:
            if status.lower() not in FILTER:
                raise _bad(
                    "VALIDATION_ERROR", f"status {status!r} is not one of {', '.join(sorted(set(STATUS.values())))}"
                )
            states = [FILTER[status.lower()]]
        done, _ = ctx.store.list(NAME, tenant.id, states=sorted(TERMINAL), limit=1_000_000)
        for job in done:
            if ctx.expired(job, RETENTION):
                ctx.store.delete(job.id)
        jobs, total = ctx.store.list(NAME, tenant.id, states=states, offset=(page - 1) * limit, limit=limit)
        return {
            "data": [detail(request, j) for j in jobs],
            "pagination": {"page": page, "limit": limit, "total": total, "pages": math.ceil(total / limit)},
        }

    @r.post("/jobs/{job_id}/cancel")
    async def cancel(request: Request, job_id: str) -> JSONResponse:
        """Cancel before processing starts; 409 once processing/completed, 422 if cancelled/failed."""
        tenant = ctx.authenticate(request, NAME)
        job = load(job_id, tenant.id)
        if job.state in CANCELLABLE and ctx.store.update(
            job.id, expect_state=CANCELLABLE, state="cancelled", completed_at=time.time()
        ):
            job = load(job_id, tenant.id)
            return reply(
                {
                    "jobId": int(job.id),
                    "taskTypeId": task_type_of(job),
                    "status": "cancelled",
                    "updatedAt": iso(job.updated_at),
                    "message": "Job cancelled",
                }
            )
        job = load(job_id, tenant.id)  # the worker may have claimed it meanwhile
        status = STATUS[job.state]
        if job.state in ("processing", "succeeded"):
            raise _bad("INVALID_JOB_STATE", f"Job {job.id} is {status} and can no longer be cancelled", 409)
        raise _bad("INVALID_JOB_STATE", f"Job {job.id} is already {status}", 422)

    @r.delete("/jobs/{job_id}", status_code=204)
    async def delete(request: Request, job_id: str) -> Response:
        tenant = ctx.authenticate(request, NAME)
        job = load(job_id, tenant.id)
        if job.state == "queued" and not ctx.store.update(job.id, expect_state="queued", state="cancelled"):
            job = load(job_id, tenant.id)
        if job.state == "processing":
            raise _bad("INVALID_JOB_STATE", f"Job {job.id} is processing and cannot be deleted", 409)
        ctx.store.delete(job.id)
        return Response(status_code=204)

    return r


def task_type_of(job: Job) -> int:
    return int(job.request["taskTypeId"])


def build_storage_router(ctx: Context) -> APIRouter:
    """Signed URLs: single-use uploads per input slot and the result artifact download."""
    r = APIRouter()

    @r.put("/jobs/{job_id}/{slot}", status_code=200)
    async def upload(request: Request, job_id: str, slot: str) -> Response:
        data = await request.body()
        sig = ctx.verify_signed(request, NAME, size=len(data))
        job = ctx.store.get_any(job_id)
        if job is None or job.provider != NAME:
            raise _not_found(job_id)
        if job.state != "created":
            raise _bad("FORBIDDEN", "The job was finalized or cancelled; its upload URLs are closed.", 403)
        if not ctx.store.use_signature(sig):
            raise _bad("FORBIDDEN", "This upload URL was already used; it is intended for a single upload.", 403)
        try:
            ctx.store.write_blob(job.id, slot, data)
        except Exception:
            ctx.store.release_signature(sig)
            raise
        if slot == "original":
            ctx.store.update(job.id, expect_state="created", input_digest=digest(data))
        return Response(status_code=200)

    @r.get("/jobs/{job_id}/artifacts/result")
    async def artifact(request: Request, job_id: str) -> JSONResponse:
        ctx.verify_signed(request, NAME)
        job = ctx.store.get_any(job_id)
        if job is None or job.provider != NAME or job.state != "succeeded" or ctx.expired(job, RETENTION):
            raise _not_found(job_id)
        return JSONResponse(job.result)

    return r


def make_engine(ctx: Context):
    def run(job: Job) -> dict[str, Any]:
        task = TASKS[task_type_of(job)]
        if job.runtime > task.timeout * ctx.config.time_scale:
            raise JobFailure("PROCESSING_FAILED", f"Processing exceeded the {task.timeout:g} s timeout of {task.slug}")
        mimes = {s["slotName"]: canonical(s["contentType"]) for s in job.request["inputs"]}
        original = ctx.store.read_blob(job.id, "original")
        if original is None:
            raise JobFailure("PROCESSING_FAILED", "The uploaded input is missing.")
        reference = ctx.store.read_blob(job.id, "reference") if "reference" in mimes else None
        mime, params = mimes["original"], job.request.get("parameters") or {}
        try:
            return compute(task.slug, original, mime, reference, params)
        except engine.UndecodableMedia as e:
            raise JobFailure("PROCESSING_FAILED", f"The input could not be analysed: {e}") from None

    return run


# -- OpenAPI facts ---------------------------------------------------------------------------------------
_STATUSES = tuple(FILTER)  # every status word a client may see or filter by
_SLOT = obj({"slotName": STR, "contentType": STR, "fileName": STR, "sizeBytes": INT})
_DETAIL = obj(
    {
        "jobId": INT,
        "taskTypeId": INT,
        "taskTypeSlug": STR,
        "status": enum(*_STATUSES),
        "createdAt": TIME,
        "updatedAt": TIME,
        "inputs": arr(_SLOT),
    },
    {
        "completedAt": NTIME,
        "result": OBJ,
        "errorMessage": NSTR,
        "artifacts": arr(obj({"kind": STR, "downloadUrl": URL})),
    },
)
ENVELOPES = ("both", "flat", "wrapped")


def envelope_schema(mode: str, flat: dict[str, Any]) -> dict[str, Any]:
    """Flat fields, ``{"job": {id, status}}`` or both, as ``SandboxConfig.authenta_envelope`` says."""
    job = obj({"id": STR, "status": enum(*_STATUSES)})
    props = {**flat["properties"], "job": job}
    required = {"flat": flat["required"], "wrapped": ["job"], "both": [*flat["required"], "job"]}[mode]
    return {"type": "object", "required": required, "properties": props}


def operations(config: SandboxConfig) -> dict[tuple[str, str], Op]:
    """The routes' answers, by (METHOD, path under the prefix; signed: under the storage prefix)."""

    def au(flat: dict[str, Any]) -> dict[str, Any]:
        return envelope_schema(config.authenta_envelope, flat)

    job = {"jobId": INT, "taskTypeId": INT, "status": STR, "updatedAt": TIME, "message": STR}
    created = obj(
        {
            "jobId": INT,
            "taskTypeId": INT,
            "status": STR,
            "createdAt": TIME,
            "updatedAt": TIME,
            "inputs": arr(obj({**_SLOT["properties"], "uploadUrl": URL})),
        }
    )
    page = obj({"page": INT, "limit": INT, "total": INT, "pages": INT})
    task_id = {"type": "integer", "enum": sorted(TASKS)}
    task_id_text = {"type": "string", "pattern": f"^0*(?:{'|'.join(str(t) for t in sorted(TASKS))})$"}
    return {
        ("POST", "/jobs"): Op(
            {200: au(created)},
            (400, 402, 413),
            body={"properties": {"taskTypeId": {"anyOf": [task_id, task_id_text]}}},
            params={"taskTypeId": task_id},
        ),  # in the query, the body or both (equal): what JSON Schema cannot say is listed in the fuzz test
        ("GET", "/jobs"): Op(
            {200: obj({"data": arr(_DETAIL), "pagination": page})},
            (400,),
            params={"status": any_case(*_STATUSES, empty=True)},
        ),  # "" or absent: every status
        ("POST", "/jobs/{job_id}/finalize"): Op({200: au(obj({**job, "queuedAt": TIME}))}, (400,)),
        ("GET", "/jobs/{job_id}"): Op({200: au(_DETAIL)}, (404,)),
        ("DELETE", "/jobs/{job_id}"): Op({204: None}, (404, 409)),
        ("POST", "/jobs/{job_id}/cancel"): Op({200: au(obj(job))}, (404, 409, 422)),
        ("PUT", "/jobs/{job_id}/{slot}"): Op({200: None}, (403, 404, 413), signed=True, body=RAW_UPLOAD),
        ("GET", "/jobs/{job_id}/artifacts/result"): Op({200: OBJ}, (403, 404), signed=True),
    }


def check_config(config: SandboxConfig) -> None:
    if config.authenta_envelope not in ENVELOPES:
        raise ConfigError("authenta_envelope must be both, flat or wrapped")


SPEC = register(
    ProviderSpec(
        name=NAME,
        title="Authenta",
        prefixes=["/authenta/api/v1"],
        build_router=build_router,
        error_body=error_body,
        error_schema=obj({"code": STR, "statusCode": INT, "message": STR}),
        engine=make_engine,
        storage_router=build_storage_router,
        demo_key="api_apikey_sandbox_authenta",
        runtime=30.0,  # per task type: TASKS
        windows={"upload_url": 3600.0, "retention": 30 * DAY, "artifact_url": 3600.0},
        rate_limits={},  # "No API call quotas"
        body_limits=(BodyLimit(MAX_BYTES, storage=True),),
        fail_code="PROCESSING_FAILED",
        unauthorized_code="INVALID_API_KEY",
        rate_limited_code="RATE_LIMITED",
        validation_code="VALIDATION_ERROR",
        not_found_code="JOB_NOT_FOUND",
        payment_required=(
            "INSUFFICIENT_BALANCE",
            "Insufficient balance: this API key has no credits left.",
        ),  # documented
        operations=operations,
        check_config=check_config,
    )
)
