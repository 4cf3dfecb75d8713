"""Claid.ai async image edit: POST /image/edit/async -> poll result_url -> GET output_object.tmp_url (contracts.md §4).

Served on ``/claid/v1`` and ``/claid/v1-beta1`` (drift); ``result_url`` reuses the prefix of the create call.
PC (sandbox only): ``POST {prefix}/storage/upload`` stores a local file so it can be the ``input``; the
sandbox reads ``input`` only from its own storage and never makes an outgoing request.
"""

from __future__ import annotations

import functools
import hashlib
import time
import uuid
from datetime import datetime, timezone
from typing import Annotated, Any, Awaitable, Callable, Literal
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator
from starlette.datastructures import UploadFile

from ..config import Tenant
from ..core import ApiError, Context, ProviderSpec, digest, loads
from ..engines import imaging
from ..engines.media import sniff
from ..runner import JobFailure
from ..signing import SignatureError
from ..store import Job

NAME = "claid"
PREFIXES = ["/claid/v1", "/claid/v1-beta1"]
STATUS = {"created": "ACCEPTED", "queued": "ACCEPTED", "processing": "PROCESSING",
          "succeeded": "DONE", "failed": "ERROR", "cancelled": "ERROR"}
#: error_code -> error_type. Documented: 111, 2001, 9000; PC: the rest (docs are silent on their codes).
ERROR_TYPES = {"111": "auth", "112": "auth", "2001": "general", "3000": "billing", "9000": "validation",
               "4000": "input", "1003": "general", "1004": "general", "1005": "general", "5000": "general"}
#: codes raised by shared code (signed URLs, routing, crashes) -> Claid-style codes.
ALIASES = {"FORBIDDEN": "1003", "METHOD_NOT_ALLOWED": "1005", "INTERNAL_ERROR": "5000", "ERROR": "5000"}
INPUT_CODE = "4000"  # 400: input refused or not found in the sandbox's storage (PC)
STORAGE = "sandbox"  # the only storage connector name: storage://sandbox/<path>
MAX_UPLOAD = 25 * 1024 * 1024  # PC
MAX_SIDE = 10_000  # PC: width/height in px


def _lower(v: Any) -> Any:
    return v.lower() if isinstance(v, str) else v


def Enum(*values: str) -> Any:  # noqa: N802  (reads like a type)
    """A string enum compared case-insensitively (docs list "jpeg", examples say "JPEG")."""
    return Annotated[Literal[values], BeforeValidator(_lower)]


Level = Annotated[float, Field(ge=-100, le=100)]
Percent = Annotated[str, Field(pattern=r"^\d+(\.\d+)?%$")]
Dim = Annotated[int, Field(ge=1, le=MAX_SIDE)] | Percent


Color = Annotated[str, BeforeValidator(_lower), Field(pattern=r"^(#[0-9a-f]{3}|#[0-9a-f]{6}|transparent)$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Restorations(Strict):
    upscale: Enum("smart_enhance", "smart_resize", "faces", "digital_art", "photo") | None = None
    decompress: Enum("moderate", "strong", "auto") | None = None
    polish: bool = False


class CropFit(Strict):
    crop: Enum("center", "smart")


class Resizing(Strict):
    width: Dim | None = None
    height: Dim | None = None
    fit: Enum("crop", "bounds", "cover", "canvas", "outpaint") | CropFit = "crop"

    @field_validator("width", "height")
    @classmethod
    def _percent_range(cls, v: Any) -> Any:
        if isinstance(v, str) and not 0 < float(v[:-1]) <= 1000:
            raise ValueError("a percentage must be within (0%, 1000%]")
        return v


class Hdr(Strict):
    intensity: float = Field(100, ge=0, le=100)
    stitching: bool = False


class Adjustments(Strict):
    hdr: Annotated[float, Field(ge=0, le=100)] | Hdr | None = None
    exposure: Level = 0
    saturation: Level = 0
    contrast: Level = 0
    sharpness: Level = 0


class Remove(Strict):
    category: Enum("general", "products", "cars") = "general"
    clipping: bool = False


class Blur(Strict):
    category: Enum("general", "products", "cars") = "general"
    type: Enum("regular", "lens") = "regular"
    level: Enum("low", "medium", "high") = "medium"


class Background(Strict):
    remove: bool | Remove = False
    color: Color | None = None
    blur: Blur | None = None


class Privacy(Strict):
    blur_car_plate: bool = False  # accepted, no-op (no plate detector in the sandbox)


class Operations(Strict):
    restorations: Restorations | None = None
    resizing: Resizing | None = None
    adjustments: Adjustments | None = None
    background: Background | None = None
    padding: str | int | None = None
    privacy: Privacy | None = None
    generative: dict[str, Any] | None = None  # accepted and echoed, no-op

    @field_validator("padding")
    @classmethod
    def _padding(cls, v: Any) -> Any:
        if v is not None:
            imaging.parse_padding(v)
        return v


class Format(Strict):
    type: Enum("jpeg", "png", "webp", "avif")
    quality: int = Field(90, ge=1, le=100)
    progressive: bool = False
    compression: Enum("optimal", "fast") | None = None


class Output(Strict):
    format: Enum("jpeg", "png", "webp", "avif") | Format = "jpeg"
    destination: str | None = Field(None, max_length=4096)  # PC: only storage://sandbox/<path>


class EditRequest(Strict):
    input: str = Field(min_length=1, max_length=4096)
    operations: Operations
    output: Output = Field(default_factory=Output)


def _field_names(model: type[BaseModel], seen: set[str] | None = None) -> set[str]:
    seen = seen if seen is not None else set()
    for name, f in model.model_fields.items():
        seen.add(name)
        for t in getattr(f.annotation, "__args__", ()) or (f.annotation,):
            if isinstance(t, type) and issubclass(t, BaseModel):
                _field_names(t, seen)
    return seen


FIELDS = _field_names(EditRequest)


def validation_details(e: ValidationError) -> dict[str, list[str]]:
    """Pydantic errors -> ``{"operations.resizing.fit": ["msg", ...]}`` (union branch tags dropped)."""
    out: dict[str, list[str]] = {}
    for err in e.errors():
        *path, last = err["loc"] or ("body",)
        keep = [x for x in path if isinstance(x, int) or x in FIELDS]
        if isinstance(last, int) or last in FIELDS or err["type"] == "extra_forbidden":
            keep.append(last)  # an unknown key names itself
        loc = ".".join(str(x) for x in keep) or "body"
        msgs = out.setdefault(loc, [])
        if err["msg"] not in msgs:
            msgs.append(err["msg"])
    return out


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
    storage, _, path = value[len("storage://"):].partition("/")
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
        url, own = urlsplit(value), urlsplit(str(request.base_url))
        if url.scheme not in ("http", "https"):
            raise _refuse(f"input: scheme {url.scheme or '(none)'!r} is not supported; use storage://{STORAGE}/<path> "
                          "or a URL issued by this sandbox.")
        default = {"http": 80, "https": 443}
        try:
            port = url.port or default[url.scheme]
        except ValueError:
            raise _refuse("input: the URL has an invalid port.") from None
        if (url.hostname or "").lower() != (own.hostname or "").lower() or port != (own.port or default[own.scheme]):
            raise _refuse(f"input: the sandbox never fetches from other hosts; {url.hostname}:{port} is not "
                          f"{own.hostname}:{own.port or default[own.scheme]}. Upload the file to "
                          f"{_prefix(request)}/storage/upload first.")
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
            result = {"input_object": job.result["input_object"],
                      "output_object": {**job.result["output_object"], "tmp_url": tmp_url(request, job)}}
        elif job.terminal:
            errors = [{"error": job.error_message or "Processing failed.",
                       "created_at": int(job.completed_at or job.updated_at),
                       "input_object": job.data.get("input_object")}]
            result = {}
        return {"id": int(job.id), "status": STATUS[job.state], "created_at": _ts(job.created_at),
                "request": job.request, "errors": errors, "result": result}

    def load(tenant: Tenant, task_id: str) -> Job:
        job = ctx.store.get(NAME, tenant.id, task_id)
        if job is None or ctx.expired(job, "claid.retention"):
            raise ApiError(NAME, 404, "1004", f"Task {task_id} not found.")
        return job

    @r.post("/image/edit/async", openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"type": "object", "required": ["input", "operations"]}}}}})
    @limited
    async def create_task(request: Request) -> JSONResponse:
        """Queue an edit of ``input`` (sandbox storage only) with ``operations``; poll ``result_url``."""
        tenant = auth(request)
        try:
            payload = loads(await request.body())  # no NaN/Infinity: `request` is echoed
        except (ValueError, UnicodeDecodeError) as e:
            raise ApiError(NAME, 400, "9000", f"The request body is not valid JSON ({e}).") from None
        if not isinstance(payload, dict):
            raise ApiError(NAME, 422, "9000", "The request body must be a JSON object.",
                           details={"body": ["must be a JSON object"]})
        try:
            body = EditRequest.model_validate(payload)
        except ValidationError as e:
            details = validation_details(e)
            raise ApiError(NAME, 422, "9000", "Validation error: " + "; ".join(
                f"{k}: {', '.join(v)}" for k, v in details.items()), details=details) from None
        data = read_input(request, tenant, body.input)
        if body.output.destination is not None:
            if not body.output.destination.startswith("storage://"):
                raise _refuse(f"output.destination: only storage://{STORAGE}/<path> is supported in the sandbox.")
            _storage_path(body.output.destination, "output.destination")
        prefix = _prefix(request)
        with ctx.credits.charge(NAME, tenant.id):
            job = ctx.store.create_job(
                NAME, tenant.id, "image_edit", numeric_id=True, request=payload, input_digest=digest(data),
                data={"prefix": prefix, "edit": body.model_dump(exclude_none=True),
                      "input_object": imaging.probe(data)},
            )
        ctx.store.write_blob(job.id, "input", data)
        ctx.enqueue(job)
        job = load(tenant, job.id)
        result_url = ctx.absolute(request, f"{prefix}/image/edit/async/{job.id}")
        return JSONResponse({"data": {"id": int(job.id), "status": STATUS[job.state], "result_url": result_url,
                                      "created_at": _ts(job.created_at), "request": job.request}})

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
            raise ApiError(NAME, 422, "9000", "Validation error: file: Field required",
                           details={"file": ["Field required"]})
        data = await file.read()
        if len(data) > MAX_UPLOAD:
            raise ApiError(NAME, 413, "9000", f"The file is {len(data)} bytes; the sandbox limit is {MAX_UPLOAD}.",
                           details={"file": [f"larger than {MAX_UPLOAD} bytes"]})
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
        if (job is None or job.provider != NAME or job.state != "succeeded"
                or ctx.expired(job, "claid.retention")):
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
            out, input_object, output_object = imaging.edit(data, edit.get("operations") or {},
                                                            edit.get("output") or {})
        except imaging.EditError as e:
            raise JobFailure("4000", str(e)) from None
        ctx.store.write_blob(job.id, "output", out)
        destination = (edit.get("output") or {}).get("destination")
        if destination:
            ctx.store.write_blob(*_object(job.tenant, _storage_path(destination)), out)
            output_object["claid_storage_uri"] = destination
        return {"input_object": input_object, "output_object": output_object}

    return run


SPEC = ProviderSpec(
    name=NAME, prefixes=PREFIXES, build_router=build_router, error_body=error_body, engine=make_engine,
    fail_code="5000", unauthorized_code="111", rate_limited_code="2001", validation_code="9000",
    validation_status=422, not_found_code="1004", storage_router=build_storage_router,
)
