"""Claid.ai async image edit: POST /image/edit/async -> poll result_url -> GET output_object.tmp_url (docs/contracts.md §4).

Served on ``/claid/v1`` and ``/claid/v1-beta1`` (drift); ``result_url`` reuses the prefix of the create call.
The synchronous upload API (``POST {prefix}/image/edit/upload``) lives in ``claid_upload``.
PC (sandbox only): ``POST {prefix}/storage/upload`` stores a local file so it can be the ``input``; the
sandbox reads ``input`` only from its own storage and never makes an outgoing request.
"""

from __future__ import annotations

import functools
import hashlib
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from ..config import DAY, SandboxConfig, Tenant
from ..core import ApiError, Context, ProviderSpec, digest, loads
from ..engines import imaging
from ..engines.media import sniff
from ..limits import MULTIPART_SLACK, Decision
from ..openapi import BINARY, BYTES, INT, JSON, OBJ, STR, TIME, URL, Op, any_case_enums, arr, enum, obj
from ..runner import JobFailure
from ..signing import SignatureError
from ..spec import BodyLimit, Limits, register
from ..store import Job
from . import claid_upload
from .claid_models import MAX_UPLOAD, NAME, EditRequest, validation_details

PREFIXES = ["/claid/v1", "/claid/v1-beta1"]
STATUS = {
    "created": "ACCEPTED",
    "queued": "ACCEPTED",
    "processing": "PROCESSING",
    "succeeded": "DONE",
    "failed": "ERROR",
    "cancelled": "ERROR",
}
#: error_code -> error_type. Documented: 111, 2001, 9000; PC: the rest (docs are silent on their codes).
ERROR_TYPES = {
    "111": "auth",
    "112": "auth",
    "2001": "general",
    "3000": "billing",
    "9000": "validation",
    "4000": "input",
    "1003": "general",
    "1004": "general",
    "1005": "general",
    "5000": "general",
}
#: codes raised by shared code (signed URLs, routing, crashes) -> Claid-style codes.
ALIASES = {"FORBIDDEN": "1003", "METHOD_NOT_ALLOWED": "1005", "INTERNAL_ERROR": "5000", "ERROR": "5000"}
INPUT_CODE = "4000"  # 400: input refused or not found in the sandbox's storage (PC)
STORAGE = "sandbox"  # the only storage connector name: storage://sandbox/<path>


def error_body(err: ApiError) -> dict[str, Any]:
    code = ALIASES.get(err.code, err.code)
    body = {"error_code": code, "error_type": ERROR_TYPES.get(code, "general"), "error_message": err.message}
    if err.status == 429:
        return {"detail": body}
    return {**body, "error_details": err.details}


def _ts(ts: float) -> str:
    """Task timestamps as in the documented example: ISO 8601 with microseconds and +00:00."""
    return datetime.fromtimestamp(ts, timezone.utc).isoformat()


def _prefix(request: Request) -> str:
    path = request.url.path
    return next((p for p in PREFIXES if path.startswith(p + "/")), PREFIXES[0])


def limited(handler: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
    """Send the RateLimit-* headers (kept by ``auth``) on every answer of an authenticated route, errors too."""

    @functools.wraps(handler)
    async def wrapper(request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            response = await handler(request, *args, **kwargs)
        except ApiError as e:
            e.headers = {**request.scope.get("claid.ratelimit", {}), **e.headers}
            raise
        response.headers.update(request.scope.get("claid.ratelimit", {}))
        return response

    return wrapper


def _refuse(message: str) -> ApiError:
    return ApiError(NAME, 400, INPUT_CODE, message)


def _storage_path(value: str, what: str = "input") -> str:
    """``storage://sandbox/<path>`` -> ``<path>``; 400 for any other storage or a path leaving it."""
    storage, _, path = value[len("storage://") :].partition("/")
    if storage != STORAGE:
        raise _refuse(f"{what}: unknown storage {storage!r}; the sandbox has only storage://{STORAGE}/<path>.")
    if not path or any(p in ("", ".", "..") for p in path.split("/")):
        raise _refuse(f"{what}: {value!r} is not a valid object path.")
    return path


def _object(tenant_id: str, path: str) -> tuple[str, str]:
    """Where the storage connector keeps a tenant's object: (blob folder, blob name) for ``Store`` blobs."""
    return f"claid-storage-{tenant_id}", hashlib.sha256(path.encode()).hexdigest()


def build_router(ctx: Context) -> APIRouter:
    r = APIRouter(tags=["claid"])
    storage = ctx.specs[NAME].storage_prefix
    tenants = {t.key: t for t in ctx.config.tenants if t.provider == NAME}

    def auth(request: Request) -> Tenant:
        """Like ``ctx.authenticate`` but keeps the RateLimit-* headers for the answer (see ``limited``)."""
        header = request.headers.get("authorization", "")
        key = header[7:].strip() if header[:7].lower() == "bearer " else ""
        if not key:
            raise ApiError(NAME, 401, "111", "Missing API key: send Authorization: Bearer <key>.")
        tenant = tenants.get(key)
        if tenant is None:
            raise ApiError(NAME, 401, "111", "Invalid API key.")
        request.scope["sandbox.tenant"] = tenant.id
        request.scope["claid.ratelimit"] = ctx.rate_limit(NAME, tenant)
        return tenant

    def read_input(request: Request, tenant: Tenant, value: str) -> bytes:
        """The input bytes, from the sandbox's own storage only; anything else is a 400."""
        if value.startswith("storage://"):
            data = ctx.store.read_blob(*_object(tenant.id, _storage_path(value)))
            if data is None:
                raise _refuse(f"input: object {value!r} not found in the sandbox storage.")
            return data
        url, own = urlsplit(value), urlsplit(ctx.storage_base(request))  # signed URLs live on the storage origin
        if url.scheme not in ("http", "https"):
            raise _refuse(
                f"input: scheme {url.scheme or '(none)'!r} is not supported; use storage://{STORAGE}/<path> "
                "or a URL issued by this sandbox."
            )
        default = {"http": 80, "https": 443}
        try:
            port = url.port or default[url.scheme]
        except ValueError:
            raise _refuse("input: the URL has an invalid port.") from None
        if (url.hostname or "").lower() != (own.hostname or "").lower() or port != (own.port or default[own.scheme]):
            raise _refuse(
                f"input: the sandbox never fetches from other hosts; {url.hostname}:{port} is not "
                f"{own.hostname}:{own.port or default[own.scheme]}. Upload the file to "
                f"{_prefix(request)}/storage/upload first."
            )
        try:
            ctx.signer.verify("GET", url.path, dict(parse_qsl(url.query)), content_type=None, size=None)
        except SignatureError as e:
            raise _refuse(f"input: the URL was not issued by this sandbox or is no longer valid ({e}).") from None
        head, _, rest = url.path.partition(storage + "/")
        kind, _, rest = rest.partition("/")
        owner, _, path = rest.partition("/")
        data = None
        if head == "" and kind == "objects":
            data = ctx.store.read_blob(*_object(owner, path))
        elif head == "" and kind == "tmp":
            job = ctx.store.get_any(owner)
            if job and job.provider == NAME and job.state == "succeeded" and not ctx.expired(job, "claid.retention"):
                data = ctx.store.read_blob(job.id, "output")
        if data is None:
            raise _refuse("input: the object behind this URL no longer exists.")
        return data

    def tmp_url(request: Request, job: Job) -> str:
        # The signature outlives the 24 h retention, so a late download is a 404 (gone), not a 403.
        ttl = job.completed_at + 2 * ctx.config.window("claid.retention") - time.time()
        ext = job.result["output_object"]["ext"]
        return ctx.signed_url(request, "GET", f"{storage}/tmp/{job.id}/output.{ext}", max(1.0, ttl))

    def task_body(request: Request, job: Job) -> dict[str, Any]:
        errors: list[dict[str, Any]] = []
        result: dict[str, Any] | None = None
        if job.state == "succeeded":
            result = {
                "input_object": job.result["input_object"],
                "output_object": {**job.result["output_object"], "tmp_url": tmp_url(request, job)},
            }
        elif job.terminal:
            errors = [
                {
                    "error": job.error_message or "Processing failed.",
                    "created_at": int(job.completed_at or job.updated_at),
                    "input_object": job.data.get("input_object"),
                }
            ]
            result = {}
        return {
            "id": int(job.id),
            "status": STATUS[job.state],
            "created_at": _ts(job.created_at),
            "request": job.request,
            "errors": errors,
            "result": result,
        }

    def load(tenant: Tenant, task_id: str) -> Job:
        job = ctx.store.get(NAME, tenant.id, task_id)
        if job is None or ctx.expired(job, "claid.retention"):
            raise ApiError(NAME, 404, "1004", f"Task {task_id} not found.")
        return job

    @r.post(
        "/image/edit/async",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object", "required": ["input", "operations"]}}},
            }
        },
    )
    @limited
    async def create_task(request: Request) -> JSONResponse:
        """Queue an edit of ``input`` (sandbox storage only) with ``operations``; poll ``result_url``."""
        tenant = auth(request)
        try:
            payload = loads(await request.body())  # no NaN/Infinity: `request` is echoed
        except (ValueError, UnicodeDecodeError) as e:
            raise ApiError(NAME, 400, "9000", f"The request body is not valid JSON ({e}).") from None
        if not isinstance(payload, dict):
            raise ApiError(
                NAME,
                422,
                "9000",
                "The request body must be a JSON object.",
                details={"body": ["must be a JSON object"]},
            )
        try:
            body = EditRequest.model_validate(payload)
        except ValidationError as e:
            details = validation_details(e)
            raise ApiError(
                NAME,
                422,
                "9000",
                "Validation error: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in details.items()),
                details=details,
            ) from None
        data = read_input(request, tenant, body.input)
        if body.output.destination is not None:
            if not body.output.destination.startswith("storage://"):
                raise _refuse(f"output.destination: only storage://{STORAGE}/<path> is supported in the sandbox.")
            _storage_path(body.output.destination, "output.destination")
        prefix = _prefix(request)
        with ctx.credits.charge(NAME, tenant.id):
            job = ctx.store.create_job(
                NAME,
                tenant.id,
                "image_edit",
                numeric_id=True,
                request=payload,
                input_digest=digest(data),
                data={
                    "prefix": prefix,
                    "edit": body.model_dump(exclude_none=True),
                    "input_object": imaging.probe(data),
                },
            )
        ctx.store.write_blob(job.id, "input", data)
        ctx.enqueue(job)
        job = load(tenant, job.id)
        result_url = ctx.absolute(request, f"{prefix}/image/edit/async/{job.id}")
        return JSONResponse(
            {
                "data": {
                    "id": int(job.id),
                    "status": STATUS[job.state],
                    "result_url": result_url,
                    "created_at": _ts(job.created_at),
                    "request": job.request,
                }
            }
        )

    claid_upload.add_routes(r, ctx, auth=auth, tmp_url=tmp_url, limited=limited, storage_path=_storage_path)

    @r.get("/image/edit/async/{task_id}")
    @limited
    async def get_task(request: Request, task_id: str) -> JSONResponse:
        """ACCEPTED -> PROCESSING -> DONE (result with tmp_url) | ERROR (errors[]); 404 after 24 h."""
        tenant = auth(request)
        return JSONResponse({"data": task_body(request, load(tenant, task_id))})

    multipart = {"type": "object", "required": ["file"], "properties": {"file": {"type": "string", "format": "binary"}}}

    form_body = {"required": True, "content": {"multipart/form-data": {"schema": multipart}}}

    @r.post("/storage/upload", openapi_extra={"requestBody": form_body})
    @limited
    async def upload(request: Request) -> JSONResponse:
        """Sandbox only: store a file (multipart field ``file``) and get its ``storage://sandbox/...`` input."""
        tenant = auth(request)
        try:
            form = await request.form()
        except Exception as e:  # malformed multipart body
            raise ApiError(NAME, 400, "9000", f"The body is not a valid multipart form ({type(e).__name__}).") from None
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise ApiError(
                NAME, 422, "9000", "Validation error: file: Field required", details={"file": ["Field required"]}
            )
        data = await file.read()
        if len(data) > MAX_UPLOAD:
            raise ApiError(
                NAME,
                413,
                "9000",
                f"The file is {len(data)} bytes; the sandbox limit is {MAX_UPLOAD}.",
                details={"file": [f"larger than {MAX_UPLOAD} bytes"]},
            )
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in (file.filename or "")).lstrip(".") or "upload"
        path = f"uploads/{uuid.uuid4().hex}/{name[:200]}"
        ctx.store.write_blob(*_object(tenant.id, path), data)
        ttl = ctx.config.window("claid.upload_url")
        url = ctx.signed_url(request, "GET", f"{storage}/objects/{tenant.id}/{path}", ttl)
        return JSONResponse({"data": {"input": f"storage://{STORAGE}/{path}", "url": url}})

    return r


def build_storage_router(ctx: Context) -> APIRouter:
    """Signed, auth-free downloads: uploaded objects and task outputs (``tmp_url``)."""
    r = APIRouter()

    @r.get("/objects/{tenant_id}/{path:path}")
    async def get_object(request: Request, tenant_id: str, path: str) -> Response:
        ctx.verify_signed(request, NAME)
        data = ctx.store.read_blob(*_object(tenant_id, path))
        if data is None:
            raise ApiError(NAME, 404, "1004", "Object not found.")
        return Response(data, media_type=sniff(data) or "application/octet-stream")

    @r.get("/tmp/{job_id}/{name}")
    async def get_output(request: Request, job_id: str, name: str) -> Response:
        ctx.verify_signed(request, NAME)
        job = ctx.store.get_any(job_id)
        if job is None or job.provider != NAME or job.state != "succeeded" or ctx.expired(job, "claid.retention"):
            raise ApiError(NAME, 404, "1004", "Object not found (tmp_url objects live 24 hours).")
        data = ctx.store.read_blob(job.id, "output")
        if data is None:
            raise ApiError(NAME, 404, "1004", "Object not found.")
        return Response(data, media_type=job.result["output_object"]["mime"])

    return r


def make_engine(ctx: Context) -> Callable[[Job], dict[str, Any]]:
    def run(job: Job) -> dict[str, Any]:
        data = ctx.store.read_blob(job.id, "input")
        if data is None:
            raise JobFailure("4000", "The input image is missing.")
        edit = job.data.get("edit") or {}
        try:
            out, input_object, output_object = imaging.edit(
                data, edit.get("operations") or {}, edit.get("output") or {}
            )
        except imaging.EditError as e:
            raise JobFailure("4000", str(e)) from None
        ctx.store.write_blob(job.id, "output", out)
        destination = (edit.get("output") or {}).get("destination")
        if destination:
            ctx.store.write_blob(*_object(job.tenant, _storage_path(destination)), out)
            output_object["claid_storage_uri"] = destination
        return {"input_object": input_object, "output_object": output_object}

    return run


# -- rate-limit headers ---------------------------------------------------------------------------------
def limit_headers(limits: Limits, d: Decision) -> dict[str, str]:
    """RateLimit-* (IETF draft) on every answer of an authenticated route: the tightest limit and the policy."""
    policy = ", ".join(f"{n};w={int(w) if w == int(w) else w}" for n, w in limits)
    return {
        "RateLimit-Limit": f"{d.limit}, {policy}",
        "RateLimit-Remaining": str(d.remaining),
        "RateLimit-Reset": str(max(1, round(d.reset))),
    }


def retry_headers(retry_after: int) -> dict[str, str]:
    return {"RateLimit-Reset": str(retry_after)}


# -- OpenAPI facts ---------------------------------------------------------------------------------------
_STATES = enum("ACCEPTED", "PROCESSING", "DONE", "ERROR")
_TASK = obj(
    {
        "id": INT,
        "status": _STATES,
        "created_at": TIME,
        "request": OBJ,
        "errors": arr(obj({"error": STR, "created_at": INT})),
        "result": {"type": ["object", "null"]},
    }
)
_CREATED = obj({"data": obj({"id": INT, "status": _STATES, "result_url": URL, "created_at": TIME, "request": OBJ})})
_ERROR = obj({"error_code": STR, "error_type": STR, "error_message": STR})


def edit_body() -> tuple[dict[str, Any], dict[str, Any]]:
    """The edit request as the sandbox validates it (its pydantic models), and their component schemas."""
    schema = any_case_enums(EditRequest.model_json_schema(ref_template="#/components/schemas/Claid{model}"))
    defs = {f"Claid{name}": d for name, d in schema.pop("$defs", {}).items()}
    return {"required": True, "content": {JSON: {"schema": schema}}}, defs


def operations(config: SandboxConfig) -> dict[tuple[str, str], Op]:
    """The routes' answers, by (METHOD, path under the first prefix; signed: under the storage prefix)."""
    body, defs = edit_body()
    return {
        ("POST", "/image/edit/async"): Op({200: _CREATED}, (400, 402, 413, 422), body=body, schemas=defs),
        ("GET", "/image/edit/async/{task_id}"): Op({200: obj({"data": _TASK})}, (404,)),
        **claid_upload.OPERATIONS,
        ("POST", "/storage/upload"): Op({200: obj({"data": obj({"input": STR, "url": URL})})}, (400, 413, 422)),
        ("GET", "/objects/{tenant_id}/{path}"): Op({200: BINARY}, (403, 404), signed=True, content=BYTES),
        ("GET", "/tmp/{job_id}/{name}"): Op({200: BINARY}, (403, 404), signed=True, content=BYTES),
    }


SPEC = register(
    ProviderSpec(
        name=NAME,
        title="Claid",
        prefixes=PREFIXES,
        build_router=build_router,
        error_body=error_body,
        error_schema=obj({**_ERROR["properties"], "error_details": OBJ}),
        rate_limited_schema=obj({"detail": _ERROR}),  # Claid nests its 429 body
        engine=make_engine,
        storage_router=build_storage_router,
        demo_key="claid_sandbox_key",
        runtime=3.0,
        windows={"retention": DAY, "upload_url": 3600.0},
        rate_limits={"api": [(120, 60.0), (4, 1.0)]},
        body_limits=(
            BodyLimit(MAX_UPLOAD + MULTIPART_SLACK, suffix="/storage/upload"),
            BodyLimit(MAX_UPLOAD + MULTIPART_SLACK, suffix=claid_upload.PATH),
        ),
        fail_code="5000",
        unauthorized_code="111",
        rate_limited_code="2001",
        validation_code="9000",
        validation_status=422,
        not_found_code="1004",
        too_large_code="9000",
        # documented: "No API calls left"; the code 3000/billing is PC
        payment_required=("3000", "No API calls left."),
        limit_headers=limit_headers,
        retry_headers=retry_headers,
        operations=operations,
    )
)
