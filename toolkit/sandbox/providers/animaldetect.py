"""Animal Detect async jobs: create -> PUT to signed URL -> submit -> poll -> result (docs/contracts.md §1)."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any, Literal

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ..config import DAY, SandboxConfig
from ..core import ApiError, Context, ProviderSpec, digest, iso
from ..engines.media import sniff
from ..openapi import INT, NSTR, NTIME, NUM, OBJ, RAW_UPLOAD, STR, TIME, URL, Op, any_case, arr, code_message, enum, obj
from ..runner import JobFailure
from ..spec import BodyLimit, register
from ..store import Job

NAME = "animaldetect"
MAX_BYTES = 10 * 1024 * 1024
IMAGE_TYPES = {"image/jpeg", "image/png", "image/webp"}
STATUS = {
    "created": "created",
    "queued": "queued",
    "processing": "processing",
    "succeeded": "succeeded",
    "failed": "failed",
    "cancelled": "failed",
}


class DetectOptions(BaseModel):
    # strict: typed as the OpenAPI document says, no "yes"/0/"0.5" coerced to bool or float (issue #23)
    model_config = ConfigDict(extra="forbid", strict=True)
    country: str | None = Field(None, min_length=2, max_length=64)
    threshold: float = Field(0.2, ge=0.01, le=0.99)
    classify: bool = True
    smooth_herd: bool | None = None
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    metadata: bool = False
    top_candidate: bool = False


class CreateJob(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    operation: Literal["detect"]
    filename: str = Field(min_length=1, max_length=255)
    content_type: str
    client_reference_id: str | None = Field(None, max_length=255)
    options: DetectOptions = Field(default_factory=DetectOptions)


def error_body(err: ApiError) -> dict[str, Any]:
    return {"error": {"code": err.code, "message": err.message}}


def build_router(ctx: Context) -> APIRouter:
    r = APIRouter(tags=["animaldetect"])
    storage = ctx.specs[NAME].storage_prefix

    def links(request: Request, job: Job) -> dict[str, str]:
        base = str(request.base_url).rstrip("/") + request.scope.get("root_path", "") + _prefix(request)
        return {
            "submit_url": f"{base}/jobs/{job.id}/submit",
            "status_url": f"{base}/jobs/{job.id}",
            "result_url": f"{base}/jobs/{job.id}/result",
        }

    def status_body(request: Request, job: Job) -> dict[str, Any]:
        body: dict[str, Any] = {
            "job_id": job.id,
            "status": STATUS[job.state],
            "operation": job.kind,
            "client_reference_id": job.request.get("client_reference_id"),
            "created_at": iso(job.created_at),
            "updated_at": iso(job.updated_at),
            "completed_at": iso(job.completed_at),
            "expires_at": iso(job.completed_at + ctx.config.window("animaldetect.retention"))
            if job.completed_at
            else None,
            "result_url": links(request, job)["result_url"],
        }
        if job.state == "failed":
            body["error"] = {"code": job.error_code, "message": job.error_message}
        return body

    def load(request: Request, job_id: str, tenant_id: str) -> Job:
        job = ctx.store.get(NAME, tenant_id, job_id)
        if job is None or ctx.expired(job, "animaldetect.retention"):
            raise ApiError(NAME, 404, "JOB_NOT_FOUND", f"Job {job_id} not found.")
        return job

    def create_response(request: Request, job: Job) -> dict[str, Any]:
        ct = job.request["content_type"]
        ttl = max(0.0, job.data["upload_expires_at"] - time.time())
        return {
            "job_id": job.id,
            "status": STATUS[job.state],
            "operation": job.kind,
            "client_reference_id": job.request.get("client_reference_id"),
            "created_at": iso(job.created_at),
            "upload": {
                "url": ctx.signed_url(request, "PUT", f"{storage}/{job.id}/image", ttl, content_type=ct),
                "method": "PUT",
                "headers": {"Content-Type": ct},
                "expires_at": iso(job.data["upload_expires_at"]),
            },
            **links(request, job),
        }

    @r.post("/jobs", status_code=201)
    async def create_job(
        request: Request, body: CreateJob, idempotency_key: str | None = Header(None, max_length=255)
    ) -> JSONResponse:
        """Create one job per image (one credit; 402 when none is left); the image goes to the signed upload URL."""
        tenant = ctx.authenticate(request, NAME, bucket="inference")
        if body.content_type.lower() not in IMAGE_TYPES:
            raise ApiError(
                NAME,
                400,
                "VALIDATION_ERROR",
                f"content_type {body.content_type!r} is not supported; use one of {sorted(IMAGE_TYPES)}.",
            )
        canonical = body.model_dump(exclude_none=True)
        body_hash = hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()
        if idempotency_key:
            since = time.time() - ctx.config.window("animaldetect.idempotency")
            prior = ctx.store.find_idempotent(NAME, tenant.id, idempotency_key, since)
            if prior is not None:
                if prior.idem_hash != body_hash:
                    raise ApiError(
                        NAME,
                        409,
                        "IDEMPOTENCY_CONFLICT",
                        "This Idempotency-Key was used with a different request body.",
                    )
                return JSONResponse(create_response(request, prior), status_code=200)
        # after the replay check (a replay is free); a 402 stores nothing, so the key is not used up
        with ctx.credits.charge(NAME, tenant.id):
            job = ctx.store.create_job(
                NAME,
                tenant.id,
                body.operation,
                request=canonical,
                idem_key=idempotency_key,
                idem_hash=body_hash,
                data={"upload_expires_at": time.time() + ctx.config.window("animaldetect.upload_url")},
            )
        return JSONResponse(create_response(request, job), status_code=201)

    @r.post("/jobs/{job_id}/submit", status_code=202)
    async def submit_job(request: Request, job_id: str) -> JSONResponse:
        """Queue an uploaded job; submitting again is harmless and returns the current status."""
        tenant = ctx.authenticate(request, NAME, bucket="reference")
        job = load(request, job_id, tenant.id)
        if job.state == "created":
            if not job.data.get("uploaded"):
                raise ApiError(NAME, 409, "UPLOAD_MISSING", "Upload the image to upload.url before submitting.")
            ctx.enqueue(job)
            job = load(request, job_id, tenant.id)
        return JSONResponse(status_body(request, job), status_code=202)

    @r.get("/jobs/{job_id}")
    async def get_job(request: Request, job_id: str) -> JSONResponse:
        tenant = ctx.authenticate(request, NAME, bucket="reference")
        return JSONResponse(status_body(request, load(request, job_id, tenant.id)))

    @r.get("/jobs/{job_id}/result")
    async def get_result(request: Request, job_id: str) -> JSONResponse:
        """202 + status until terminal; 200 + result; 200 + status with ``error`` when failed."""
        tenant = ctx.authenticate(request, NAME, bucket="reference")
        job = load(request, job_id, tenant.id)
        if job.state != "succeeded":
            return JSONResponse(status_body(request, job), status_code=200 if job.terminal else 202)
        expires = job.completed_at + ctx.config.window("animaldetect.retention")
        return JSONResponse({"id": job.id, "job_id": job.id, "expires_at": iso(expires), **job.result})

    return r


def _prefix(request: Request) -> str:
    """The API prefix the request came in on (new ``/v1`` host layout or legacy ``/api/v1``)."""
    path = request.url.path
    for p in SPEC.prefixes:
        if path.startswith(p + "/"):
            return p
    return SPEC.prefixes[0]


def build_storage_router(ctx: Context) -> APIRouter:
    r = APIRouter()

    @r.put("/{job_id}/image", status_code=200)
    async def upload(request: Request, job_id: str) -> Response:
        data = await request.body()
        ctx.verify_signed(request, NAME)
        if len(data) > MAX_BYTES:
            raise ApiError(NAME, 413, "PAYLOAD_TOO_LARGE", f"The image is {len(data)} bytes; the limit is {MAX_BYTES}.")
        job = ctx.store.get_any(job_id)
        if job is None or job.provider != NAME:
            raise ApiError(NAME, 404, "JOB_NOT_FOUND", f"Job {job_id} not found.")
        if job.state != "created":
            raise ApiError(NAME, 409, "VALIDATION_ERROR", "The job was already submitted; its image cannot change.")
        ctx.store.write_blob(job.id, "image", data)
        ctx.store.update(
            job.id,
            expect_state="created",
            input_digest=digest(data),
            data={**job.data, "uploaded": True, "size": len(data)},
        )
        return Response(status_code=200)

    return r


def make_engine(ctx: Context):
    def run(job: Job) -> dict[str, Any]:
        from ..engines import detect as engine  # numpy/scipy/scikit-image: loaded on the first job, not at start

        data = ctx.store.read_blob(job.id, "image")
        if data is None:
            raise JobFailure("UPLOAD_MISSING", "The uploaded image is missing.")
        if sniff(data) not in IMAGE_TYPES:
            raise JobFailure("INVALID_IMAGE", "The uploaded file is not a JPEG, PNG or WebP image.")
        t0 = time.perf_counter()
        try:
            result = engine.detect_result(data, job.request.get("options") or {})
        except engine.UndecodableImage as e:
            raise JobFailure("INVALID_IMAGE", str(e)) from None
        result["info"]["processing_time_ms"] = int((time.perf_counter() - t0) * 1000)
        return result

    return run


# -- OpenAPI facts ---------------------------------------------------------------------------------------
_STATUS = obj(
    {
        "job_id": STR,
        "status": enum("created", "queued", "processing", "succeeded", "failed"),
        "operation": STR,
        "client_reference_id": NSTR,
        "created_at": TIME,
        "result_url": URL,
    },
    {"updated_at": TIME, "completed_at": NTIME, "expires_at": NTIME, "error": code_message()},
)
_CREATE = obj(
    {
        "job_id": STR,
        "status": STR,
        "operation": STR,
        "client_reference_id": NSTR,
        "created_at": TIME,
        "upload": obj(
            {"url": URL, "method": {"const": "PUT"}, "headers": obj({"Content-Type": STR}), "expires_at": TIME}
        ),
        "submit_url": URL,
        "status_url": URL,
        "result_url": URL,
    }
)
_RESULT = obj(
    {
        "id": STR,
        "job_id": STR,
        "expires_at": TIME,
        "annotations": arr(
            obj(
                {
                    "id": INT,
                    "bbox": {**arr(NUM), "minItems": 4, "maxItems": 4},
                    "score": NUM,
                    "label": STR,
                    "taxonomy": OBJ,
                }
            )
        ),
        "info": OBJ,
    }
)


def operations(config: SandboxConfig) -> dict[tuple[str, str], Op]:
    """The routes' answers, by (METHOD, path under the first prefix; signed: under the storage prefix)."""
    create_body = {"properties": {"content_type": any_case("image/jpeg", "image/png", "image/webp")}}
    return {
        ("POST", "/jobs"): Op({201: _CREATE, 200: _CREATE}, (400, 402, 409, 413), body=create_body),
        ("POST", "/jobs/{job_id}/submit"): Op({202: _STATUS}, (404, 409)),
        ("GET", "/jobs/{job_id}"): Op({200: _STATUS}, (404,)),
        ("GET", "/jobs/{job_id}/result"): Op({200: {"anyOf": [_RESULT, _STATUS]}, 202: _STATUS}, (404,)),
        ("PUT", "/{job_id}/image"): Op({200: None}, (403, 404, 409, 413), signed=True, body=RAW_UPLOAD),
    }


SPEC = register(
    ProviderSpec(
        name=NAME,
        title="Animal Detect",
        prefixes=["/animaldetect/v1", "/animaldetect/api/v1"],
        build_router=build_router,
        error_body=error_body,
        error_schema=obj({"error": code_message()}),
        engine=make_engine,
        storage_router=build_storage_router,
        demo_key="sk_sandbox_animaldetect",
        runtime=4.0,
        windows={"upload_url": 3600.0, "retention": 30 * DAY, "idempotency": DAY},
        # the Growth plan figures; override with --rate-limit
        rate_limits={"inference": [(1000, 60.0)], "reference": [(1000, 60.0)]},
        body_limits=(BodyLimit(MAX_BYTES, storage=True),),
        fail_code="PROCESSING_FAILED",
        unauthorized_code="UNAUTHORIZED",
        rate_limited_code="RATE_LIMITED",
        not_found_code="JOB_NOT_FOUND",
        fault_status=503,
        fault_code="UPSTREAM_UNAVAILABLE",
        # documented: only "Credit limit exceeded" (the code is PC)
        payment_required=("CREDIT_LIMIT_EXCEEDED", "Credit limit exceeded: this API key has no credits left."),
        operations=operations,
    )
)
